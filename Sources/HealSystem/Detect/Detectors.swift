import HealCore

/// Every detector, in boot-chain order (docs/failure-catalogue.md): the engine runs them in this order.
public enum Detectors {
    public static var all: [any Detector] {
        [
            KernelPanicDetector(),
            BootFailuresDetector(),
            BootFilesystemsDetector(),
            BootloaderEnvDetector(),
            BootloaderDefaultDetector(),
            RootDeviceDetector(),
            KernelModulesDetector(),
            InitramfsDetector(),
            FstabDetector(),
            FilesystemErrorsDetector(),
            InitDetector(),
            UnitFailuresDetector(),
            ResourceUsageDetector(),
            SystemFilesDetector(),
            AccountsDetector(),
        ]
    }
}
