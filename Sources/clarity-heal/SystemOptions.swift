import ArgumentParser
import Glibc
import HealCore
import HealSystem

/// What else belongs to the examined system besides its root folder: shared by detect,
/// diagnose, repair and verify.
struct SystemOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "An image file or device node of the examined system, besides the block devices present (repeatable).",
        valueName: "file"))
    var device: [String] = []

    @Option(name: .long, help: ArgumentHelp(
        "Read live pstore records from this folder instead of <root>/sys/fs/pstore.", valueName: "dir"))
    var pstore: String?

    func validate() throws {
        for file in device where FileReading.status(atPath: file, followLinks: true) == nil {
            throw ValidationError("cannot use --device \(file): it does not exist")
        }
        if let pstore, let problem = Self.folderProblem(pstore) {
            throw ValidationError("cannot use --pstore \(pstore): \(problem)")
        }
    }

    /// Why `path` cannot be read as a folder; nil when it can.
    static func folderProblem(_ path: String) -> String? {
        guard let st = FileReading.status(atPath: path, followLinks: true) else { return "it does not exist" }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "it is not a folder" }
        return nil
    }

    /// The root's config file. What in it cannot be used is said on stderr, one warning a
    /// line naming the file and line, and left to its default: the command runs anyway.
    static func config(_ root: SystemRoot) -> Config.Loaded {
        let loaded = Config.load(root: root)
        for warning in loaded.warnings { printError("clarity-heal: warning: \(warning)") }
        return loaded
    }
}
