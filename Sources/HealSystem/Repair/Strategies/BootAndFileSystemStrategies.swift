import HealCore

extension StrategyCatalogue {
    /// fstab, root=, grubenv, the default entry, account databases.
    static var bootAndFileSystem: [any RepairStrategy] {
        []
    }
}
