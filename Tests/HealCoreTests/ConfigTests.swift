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

    @Test func unknownKeysOfKnownSectionsOnly() throws {
        var config = Config()
        #expect(throws: Config.SettingError.unknownKey(section: "Thresholds", key: "FailedUnit")) {
            try config.set(section: "Thresholds", key: "FailedUnit", value: "3")
        }
        // A section a later version adds is left alone.
        try config.set(section: "Fleet", key: "Policy", value: "never")
        #expect(config == Config())
    }
}
