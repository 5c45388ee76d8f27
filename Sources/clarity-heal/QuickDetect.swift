import ArgumentParser
import Glibc
import HealSystem

/// The boot path's `detect --quick`, read without ArgumentParser.
///
/// It runs on every boot, so it must cost little more than starting a program. Measured with
/// callgrind, ArgumentParser's first parse alone is about 24 M instructions, most of them
/// run-time conformance lookups that scan every conformance record in the binary; the quick
/// checks themselves are a fraction of that. So the exact forms the boot path uses are read
/// here, and anything else (a flag this reader does not know, `--help`, a bad root) goes to
/// ArgumentParser, which owns the messages and the usage errors.
struct QuickDetect {
    var request: ClarityHeal.Detect.Request

    /// `detect --quick [--root DIR] [--json] [--current-boot] [--pstore DIR]`, options in any
    /// order, `--opt value` or `--opt=value`; nil for every other command line.
    init?(arguments: some Collection<String>) {
        guard arguments.first == "detect" else { return nil }
        var root = "/"
        var quick = false, json = false, currentBoot = false
        var pstore: String?
        var rest = arguments.dropFirst()[...]
        while let argument = rest.popFirst() {
            let (name, inlineValue) = Self.split(argument)
            func value() -> String? { inlineValue ?? rest.popFirst() }
            switch name {
            case "--quick" where inlineValue == nil: quick = true
            case "--json" where inlineValue == nil: json = true
            case "--current-boot" where inlineValue == nil: currentBoot = true
            case "--root":
                guard let path = value(), !path.isEmpty else { return nil }
                root = path
            case "--pstore":
                // A missing folder, or a file, is ArgumentParser's usage error.
                guard let path = value(), !path.isEmpty, SystemOptions.folderProblem(path) == nil else { return nil }
                pstore = path
            default:
                return nil
            }
        }
        guard quick, let systemRoot = try? SystemRoot(root) else { return nil }
        request = .init(root: systemRoot, json: json, quick: true, pstore: pstore, currentBoot: currentBoot)
    }

    private static func split(_ argument: String) -> (name: String, value: String?) {
        guard argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") else { return (argument, nil) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    /// Does what `clarity-heal detect --quick …` does through ArgumentParser: detect, print,
    /// and exit with the contract's status. Like every command that only reads, it never
    /// finishes an interrupted apply (it reports one): it runs on every boot, and neither a
    /// leftover journal nor the state a root carries may stop it or make it write.
    func run() -> Never {
        do {
            GlobalOptions.bootstrapLogging(level: .warning)
            try ClarityHeal.Detect.run(request)
            Glibc.exit(ExitStatus.healthy.rawValue)
        } catch {
            CommandFailure.exit(error, json: request.json, writes: false)
        }
    }
}
