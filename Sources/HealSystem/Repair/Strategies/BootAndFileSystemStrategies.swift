import HealCore

extension StrategyCatalogue {
    /// fstab, root=, grubenv, the default entry, account databases, filesystem errors. Within a class the
    /// priors give the default order of docs/failure-catalogue.md (re-point, nofail, comment out; set the
    /// type, restore a backup, comment out).
    static var bootAndFileSystem: [any RepairStrategy] {
        [
            FstabRepointSourceStrategy(),
            FstabAddNofailStrategy(),
            FstabSetDetectedTypeStrategy(),
            FstabRestoreBackupStrategy(),
            FstabCommentOutStrategy(),
            RootDeviceCommandLineStrategy(),
            GrubEnvRewriteStrategy(),
            BootDefaultRepointStrategy(),
            AccountsRestoreBackupStrategy(),
            FilesystemCheckStrategy(),
        ]
    }
}
