import ArgumentParser
import HealCore
import HealSystem

extension ClarityHeal {
    struct ConfigCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config",
            abstract: "Print settings in effect, as <root>/etc/clarity-heal/clarity-heal.conf and the defaults make them.",
            discussion: """
                Each SETTING is Section.Key (Thresholds.BootFailures, Reboot.Policy, …); its
                value is printed alone on a line, as the file writes it, so scripts need no
                parser of their own: GRUB's script reads Thresholds.BootFailures this way when
                grub-mkconfig runs. A bad setting in the file is a warning on stderr and its
                default is printed. Only reads. Exits 0, or 2 for a setting this version does
                not know.
                """
        )

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Settings to print, as Section.Key.", valueName: "setting"))
        var settings: [String]

        func validate() throws {
            _ = try global.systemRoot()
            for setting in settings where Self.value(setting, in: Config()) == nil {
                throw ValidationError("unknown setting \(setting): expected Section.Key, like Thresholds.BootFailures")
            }
        }

        static func value(_ setting: String, in config: Config) -> String? {
            let parts = setting.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            return Config.text(section: parts[0], key: parts[1], of: config)
        }

        func run() throws {
            global.bootstrapLogging()
            let loaded = SystemOptions.config(try global.systemRoot())
            var values: [String: String] = [:]
            for setting in settings { values[setting] = Self.value(setting, in: loaded.config) ?? "" }
            if global.json {
                try printJSON(values, notes: DocumentNotes(warnings: loaded.warnings))
            } else {
                for setting in settings { print(values[setting] ?? "") }
            }
        }
    }
}
