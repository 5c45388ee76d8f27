@testable import HealSystem
import Testing

/// A fix may write crash records and the list of those a repair handled, never the apply
/// journal, backups, staged fixes or the ledger.
@Test(arguments: [
    ("/var/lib/clarity-heal/pstore/handled", false, false),
    ("/var/lib/clarity-heal/pstore/20261129/dmesg-ramoops-0", false, false),
    ("/var/lib/clarity-heal", true, false),
    ("/var/lib/clarity-heal/pstore", true, false),
    ("/var/lib/clarity-heal", false, true),
    ("/var/lib/clarity-heal/journal", false, true),
    ("/var/lib/clarity-heal/ledger.jsonl", false, true),
    ("/var/lib/clarity-heal/applied/fix-1/backup.tar", false, true),
    ("/var/lib/clarity-heal/staged", true, true),
    ("/var/lib/clarity-healthy", false, false),
    ("/etc/fstab", false, false),
])
func ownStateIsRefusedButCrashRecordsAreNot(path: String, makesFolder: Bool, refused: Bool) {
    #expect(Applier.isOwnState(path, makesFolder: makesFolder) == refused)
}
