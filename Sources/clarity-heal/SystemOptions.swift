import ArgumentParser
import HealCore
import HealSystem

/// What else belongs to the examined system besides its root folder: shared by detect,
/// diagnose and repair.
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
    }

    /// The thresholds of the root's config file; a bad file is a usage error naming the
    /// file and line.
    static func thresholds(_ root: SystemRoot) throws -> Thresholds {
        do {
            return try Config.load(root: root).thresholds
        } catch {
            printError("clarity-heal: \(error)")
            throw ExitStatus.usage
        }
    }
}
