import Testing
@testable import HealCore

@Suite("Config")
struct ConfigTests {
    @Test func defaultsAreTheSeeds() {
        let config = Config()
        #expect(config.thresholds == Thresholds())
        #expect(config.thresholds.failedUnits == 3)
        #expect(config.thresholds.resourceExhaustionPercent == 95)
    }

    @Test func setsEveryThreshold() throws {
        var config = Config()
        try config.set(section: "Thresholds", key: "KernelPanics", value: "2")
        try config.set(section: "Thresholds", key: "FailedUnits", value: "4")
        try config.set(section: "Thresholds", key: "BootFailures", value: "3")
        try config.set(section: "Thresholds", key: "ResourceExhaustion", value: "97.5%")
        #expect(config.thresholds.kernelPanics == 2)
        #expect(config.thresholds.failedUnits == 4)
        #expect(config.thresholds.bootFailures == 3)
        #expect(config.thresholds.resourceExhaustionPercent == 97.5)
        try config.set(section: "Thresholds", key: "ResourceExhaustion", value: "90")
        #expect(config.thresholds.resourceExhaustionPercent == 90)
    }

    @Test(arguments: [
        ("FailedUnits", "0"), ("FailedUnits", "three"), ("FailedUnits", "-1"), ("KernelPanics", "1.5"),
        ("ResourceExhaustion", "101%"), ("ResourceExhaustion", "0"), ("ResourceExhaustion", "95 %"),
        ("ResourceExhaustion", "%"), ("ResourceExhaustion", "nan"),
    ])
    func refusesBadValues(key: String, value: String) {
        var config = Config()
        #expect(throws: Config.SettingError.self) {
            try config.set(section: "Thresholds", key: key, value: value)
        }
        #expect(config == Config())
    }

    @Test func unknownKeysAndSections() throws {
        var config = Config()
        #expect(throws: Config.SettingError.unknownKey(section: "Thresholds", key: "FailedUnit")) {
            try config.set(section: "Thresholds", key: "FailedUnit", value: "3")
        }
        // A section a later version adds is refused (the loader warns) and changes nothing.
        #expect(throws: Config.SettingError.unknownSection("Cluster")) {
            try config.set(section: "Cluster", key: "Policy", value: "never")
        }
        #expect(config == Config())
    }

    @Test(arguments: ["1\u{0}", "\u{1b}[31m1", "1\u{7f}", "1\u{85}"])
    func refusesControlCharacters(value: String) {
        var config = Config()
        #expect(throws: Config.SettingError.controlCharacter(key: "FailedUnits")) {
            try config.set(section: "Thresholds", key: "FailedUnits", value: value)
        }
        #expect(config == Config())
    }

    @Test func resetGivesBackTheDefaultAsTheFileWritesIt() throws {
        var config = Config()
        try config.set(section: "Thresholds", key: "ResourceExhaustion", value: "90")
        try config.set(section: "Reboot", key: "Window", value: "Sat 01:00-02:00")
        #expect(config.resetToDefault(section: "Thresholds", key: "ResourceExhaustion") == "95%")
        #expect(config.resetToDefault(section: "Reboot", key: "Window") == "Sun 02:00-04:00")
        #expect(config.resetToDefault(section: "Reboot", key: "Urgency") == "critical:1 high:3 moderate:7")
        #expect(config.resetToDefault(section: "Reboot", key: "Nope") == nil)
        #expect(config == Config())
    }
}
