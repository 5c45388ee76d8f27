/// What a person should do when no strategy could be validated: one short, concrete
/// instruction per class, shown with exit status 4 (needs a person).
public enum ManualSteps {
    public static func advice(for failureClass: FailureClass) -> String {
        switch failureClass {
        case .kernelPanic:
            "boot the previous kernel from the GRUB menu (Advanced options) and read the panic with `journalctl -k -b -1` or in /var/lib/systemd/pstore"
        case .bootFailures:
            "choose an older entry in the GRUB menu; once booted, run `clarity-heal detect` to see why the default fails"
        case .fstabUnresolvableSource, .fstabInvalidEntry:
            "from the emergency shell, `mount -o remount,rw /`, fix or comment the line named above in /etc/fstab, check with `findmnt --verify`"
        case .rootDeviceMismatch:
            "at the GRUB menu press e and correct root= to the UUID that `blkid` shows for the root filesystem, then run update-grub once booted"
        case .initramfsMissing, .initramfsCorrupt, .initramfsMissingDriver:
            "boot another kernel or a rescue system, chroot into the root and run `update-initramfs -u -k <version>` (dracut: `dracut -f`)"
        case .kernelModulesMissing:
            "boot another kernel or a rescue system, chroot and run `depmod <version>`, or reinstall the kernel package"
        case .initMissing:
            "from a rescue system, reinstall systemd-sysv (or the package owning init) with `apt-get install --reinstall` in a chroot"
        case .diskSpaceExhausted, .inodeExhausted:
            "free space on the filesystem named above: `apt-get clean`, `journalctl --vacuum-size=100M`, remove old kernels with apt"
        case .filesystemErrors:
            "from a rescue system, with the filesystem unmounted, run `e2fsck -f` on the device named above"
        case .unitFailures:
            "run `systemctl --failed` and `journalctl -b -1 -u <unit>` for the units named above"
        case .bootloaderEnvCorrupt:
            "recreate it: `grub-editenv /boot/grub/grubenv create`, then `grub-set-default` as needed"
        case .bootloaderDefaultInvalid:
            "set a valid default with `grub-set-default` (see `grep menuentry /boot/grub/grub.cfg`) and run update-grub"
        case .systemFileCorrupt:
            "reinstall the package named above with `apt-get install --reinstall <package>` and check the disk"
        case .accountDatabaseBroken:
            "from a rescue system, compare /etc/passwd, shadow and group with their `-` backups and restore a root entry"
        }
    }
}
