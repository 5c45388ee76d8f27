import CLinux
import Glibc

/// Text for stdout, written through C's stdio so it stays in order with `print`.
public enum StandardOutput {
    /// Writes `text` as it is. `print` would look up the conformances of its `Any` argument
    /// at run time, a scan of every conformance record in the binary, which the boot path's
    /// `detect --quick` cannot afford.
    public static func write(_ text: String) {
        fputs(text, heal_stdout())
    }
}
