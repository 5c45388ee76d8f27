/// The product's release, as `clarity-heal --version` prints it and the Debian package is
/// versioned (`scripts/package`).
public enum Product {
    public static let version = "0.11.0"
}
