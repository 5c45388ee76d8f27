import HealCore

/// Runs a program chrooted into a clone inside fresh mount, PID, network and UTS namespaces
/// (util-linux `unshare`). Inside, before the chroot, it mounts a new /proc, a read-only
/// /sys and a tmpfs /dev holding only null, zero, full, random, urandom and tty: a distro
/// tool run there (update-initramfs, depmod, grub-editenv) can never reach a real disk.
/// The mounts live in the child's mount namespace and vanish with it. The script needs only
/// what klibc offers besides `unshare` (which the initramfs hooks add), so it runs in a
/// recovery boot's initramfs too.
struct Sandbox {
    var runner: any CommandRunner

    // The mount set-up as one fixed script: argv carries the root and the command, never
    // interpolated into the text.
    private static let setup = """
        set -e
        r=$1; shift
        mount -t proc proc "$r/proc"
        mount -t sysfs -o ro sysfs "$r/sys"
        mount -t tmpfs -o mode=755,size=1m tmpfs "$r/dev"
        mknod -m 666 "$r/dev/null" c 1 3
        mknod -m 666 "$r/dev/zero" c 1 5
        mknod -m 666 "$r/dev/full" c 1 7
        mknod -m 666 "$r/dev/random" c 1 8
        mknod -m 666 "$r/dev/urandom" c 1 9
        mknod -m 666 "$r/dev/tty" c 5 0
        mkdir -p "$r/dev/pts" "$r/dev/shm"
        # The initramfs of a recovery boot has no hostname tool: the new UTS namespace then
        # keeps the machine's name, which no tool run here depends on.
        if command -v hostname >/dev/null 2>&1; then hostname clarity-heal-sandbox; fi
        exec chroot "$r" "$@"
        """

    func run(root: String, _ arguments: [String]) throws(EnvironmentError) -> CommandResult {
        for dir in ["proc", "sys", "dev"] where FileReading.status(atPath: root + "/" + dir, followLinks: true) == nil {
            throw .command("\(root)/\(dir) does not exist")
        }
        do {
            return try runner.run("unshare", [
                "--mount", "--pid", "--net", "--uts", "--fork", "--kill-child", "--propagation", "private",
                "/bin/sh", "-c", Self.setup, "sandbox", root,
            ] + arguments)
        } catch {
            throw .command("\(error)")
        }
    }
}
