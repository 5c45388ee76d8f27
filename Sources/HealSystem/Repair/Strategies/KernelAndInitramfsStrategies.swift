import HealCore

extension StrategyCatalogue {
    /// initramfs, module index, init, packaged files, panicking modules, failed units.
    static var kernelAndInitramfs: [any RepairStrategy] {
        [
            InitramfsRegenerateStrategy(),
            InitramfsAddDriverStrategy(),
            ModuleIndexRebuildStrategy(),
            LastGoodKernelStrategy(),
            InitRestoreStrategy(),
            PackagedFileRestoreStrategy(),
            ModuleBlacklistModprobeStrategy(),
            ModuleBlacklistStrategy(),
            UnitRevertStrategy(),
            UnitMaskStrategy(),
        ]
    }
}
