/// The shape of a machine that decides whether another machine's outcome applies to it:
/// distribution and release, kernel series, bootloader, initramfs tool. Nothing in it names
/// the machine.
public struct SystemProfile: Sendable, Hashable, Codable {
    /// `ID` and `VERSION_ID` of os-release: `debian-12`.
    public var release: String
    /// The default kernel's series: `6.1` of `6.1.0-28-cloud-amd64`.
    public var kernelSeries: String
    /// `grub`, `systemd-boot` or `unknown`.
    public var bootloader: String
    /// `initramfs-tools`, `dracut` or `unknown`.
    public var initramfsTool: String

    public init(release: String, kernelSeries: String, bootloader: String, initramfsTool: String) {
        self.release = release
        self.kernelSeries = kernelSeries
        self.bootloader = bootloader
        self.initramfsTool = initramfsTool
    }

    /// One string for storage and matching: `debian-12 6.1 grub initramfs-tools`.
    public var key: String { [release, kernelSeries, bootloader, initramfsTool].joined(separator: " ") }

    /// The series of a kernel release: its first two numbers (`6.1.0-28-cloud-amd64` → `6.1`);
    /// `unknown` when it does not start with them. The rest (ABI, flavour, build) can tell
    /// machines apart and is never sent.
    public static func series(ofKernel release: String) -> String {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(2)
        guard numbers.count == 2, release.first?.isNumber == true else { return "unknown" }
        return numbers.joined(separator: ".")
    }

    /// A field as sent: lower-case letters, digits, `.`, `-` and `_`, at most 40 characters;
    /// anything else is `unknown`. Nothing free-form leaves the machine.
    public static func token(_ text: String) -> String {
        let lowered = text.lowercased()
        guard !lowered.isEmpty, lowered.count <= 40,
              lowered.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) })
        else { return "unknown" }
        return lowered
    }
}
