import Glibc
import HealCore
import Logging

/// One boot of the examined disk in a guest, the way the machine would boot it: the
/// kernel, initramfs and command line of the default entry, read from the disk as the
/// boot changes it, `root=` resolving to the guest's disk, the console on serial.
///
/// ```
///  disk (image or device) ◀── read-only backing ── boot-N.qcow2 ◀── the guest's disk
///                                                  (throwaway)
///  1. BlockSnapshot: boot-N.qcow2 over the disk, exported over FUSE, mounted by loop
///  2. into it: the repair's changeset, the probe (GuestProbe); out of it: the default
///     entry's kernel and initrd, the drivers its initramfs has (DiskController)
///  3. unmount, stop the export, keep boot-N.qcow2
///  4. QEMU: -kernel -initrd -append "ENTRY console=ttyS0 panic=-1 systemd.wants=probe",
///     the layer on the controller chosen, no network; watch the console (GuestProcess)
///  5. remove the layer and the kernel copies; the console is the result
/// ```
///
/// The disk itself is only ever a read-only backing file: every write — the repair's,
/// the probe's, the guest's own (journal, fsck) — lands in the throwaway layer.
public struct GuestBoot {
    public struct Request {
        /// The examined disk: a filesystem image or an unmounted block device; or a qcow2
        /// layer over it that a template guest repaired (`diskFormat`).
        public var disk: String
        public var diskFormat: BlockSnapshot.BaseFormat = .raw
        /// The disk's size, needed for a qcow2 layer (its file's length says nothing).
        public var diskSize: Int64?
        /// Written into the boot's layer first; empty: the disk as it is.
        public var changes: Changeset
        public var probe: GuestProbe
        public var hypervisor: Hypervisor
        /// A folder of this process (the environment's); the layer, the kernel copies and
        /// the console go there.
        public var folder: String
        public var memoryMiB: Int
        public var cpus: Int
        /// The boot's deadline under TCG, scaled for the accelerator.
        public var deadlineSeconds: Int
        public var runner: any CommandRunner
        public var logger: Logger

        public init(disk: String, changes: Changeset = Changeset(), probe: GuestProbe, hypervisor: Hypervisor,
                    folder: String, memoryMiB: Int = 1024, cpus: Int = 1, deadlineSeconds: Int = 300,
                    runner: any CommandRunner = SpawnCommandRunner(), logger: Logger) {
            self.disk = disk
            self.changes = changes
            self.probe = probe
            self.hypervisor = hypervisor
            self.folder = folder
            self.memoryMiB = memoryMiB
            self.cpus = cpus
            self.deadlineSeconds = deadlineSeconds
            self.runner = runner
            self.logger = logger
        }
    }

    public struct Outcome: Sendable {
        /// The entry booted.
        public var entry: BootEntry
        public var controller: DiskController
        public var commandLine: String
        public var run: GuestProcess.Run
        public var console: GuestConsole
        /// Where the console log was kept (in the request's folder).
        public var consolePath: String
        /// Seconds from QEMU's start to the probe's `target` line (the default target
        /// reached: the moment a plain boot prints "Reached target"), as the console was
        /// watched (twice a second).
        public var targetSeconds: Double? = nil
        /// Seconds to the probe's `reached` line: the boot's jobs done as well (a mount
        /// left `nofail` waits its device timeout out here).
        public var settledSeconds: Double? = nil

        /// The console lines that say most: around a panic or the emergency shell's
        /// banner, else the last 40.
        public var excerpt: [String] {
            let text = run.console
            if console.panic != nil { return GuestConsole.excerpt(text, around: "Kernel panic - not syncing") }
            if console.emergency { return GuestConsole.excerpt(text, around: "emergency mode") }
            return GuestConsole.excerpt(text, lines: 40)
        }
    }

    /// The host path of the kernel of `root`'s default entry (to probe KVM with), or why
    /// the root cannot be booted.
    public static func defaultKernel(of root: SystemRoot) -> Swift.Result<String, MicroVMError> {
        do {
            let configuration = try BootConfiguration.load(root)
            guard let entry = configuration.defaultEntry, let path = entry.kernel else {
                return .failure(.unbootable("its boot configuration has no default entry with a kernel"))
            }
            let canonical = root.canonical(path)
            guard root.files.kind(canonical, followLast: true) == .regular else {
                return .failure(.unbootable("the default entry's kernel \(path) is not on the disk"))
            }
            return .success(root.files.hostPath(canonical))
        } catch {
            return .failure(.unbootable("cannot read its boot configuration: \(error)"))
        }
    }

    /// A kernel of `root` to probe the hypervisor with: the default entry's, else the
    /// newest intact one of its recovery set (`RecoveryKernel`: a disk whose default entry
    /// is what is broken boots once repaired); the reason when there is none.
    public static func probeKernel(of root: SystemRoot) -> Swift.Result<String, MicroVMError> {
        let entry = defaultKernel(of: root)
        guard case .failure(.unbootable(let why)) = entry else { return entry }
        guard !KernelInventory.scan(root).isEmpty else {
            return .failure(.unbootable(why + "; and no kernel is installed in its /boot"))
        }
        switch RecoveryKernel.newest(in: root, source: "the disk") {
        case .success(let kernel): return .success(kernel.hostPath)
        case .failure(let unavailable): return .failure(.unbootable(why + "; " + unavailable.reasons.joined(separator: "; ")))
        }
    }

    /// What one boot prepared in its layer.
    private struct Prepared {
        var entry: BootEntry
        var kernel: String
        var initrd: String?
        var controller: DiskController
    }

    nonisolated(unsafe) private static var boots = 0

    /// Boots the disk with the request's changes.
    /// - Throws: `MicroVMError.unbootable` when the disk cannot be mounted, has no default
    ///   entry or kernel, or its initramfs drives no controller QEMU offers;
    ///   `.launch` when QEMU or the layer cannot be started. The disk is unchanged.
    public static func boot(_ request: Request) throws(MicroVMError) -> Outcome {
        boots += 1
        let number = boots
        let layer = request.folder + "/boot-\(number).qcow2"
        let prepared = try prepare(request, number: number, layer: layer)
        defer {
            unlink(layer)
            unlink(prepared.kernel)
            if let initrd = prepared.initrd { unlink(initrd) }
        }
        // panic=-1: a kernel panic, and initramfs-tools' panic() (a root device that never
        // appeared), reset the guest at once instead of waiting for a person; -no-reboot
        // turns the reset into QEMU's exit. No rootdelay=: initramfs-tools sleeps that long
        // before every mount, whatever the device, and waits 30 s for a missing root
        // without it.
        var options = prepared.entry.options.filter { !$0.hasPrefix("panic=") }
        options += ["console=ttyS0", "panic=-1"] + GuestProbe.commandLine
        let commandLine = options.joined(separator: " ")
        var arguments = request.hypervisor.machine + Hypervisor.confinement + [
            "-m", "\(request.memoryMiB)", "-smp", "\(request.cpus)", "-no-reboot", "-serial", "stdio",
            "-kernel", prepared.kernel,
        ]
        if let initrd = prepared.initrd { arguments += ["-initrd", initrd] }
        arguments += ["-append", commandLine,
                      "-drive", "id=disk,file=\(BlockSnapshot.escaped(layer)),format=qcow2,if=none,cache=unsafe"]
        arguments += prepared.controller.devices(drive: "disk")

        let consolePath = request.folder + "/console-\(number).log"
        let deadline = request.hypervisor.deadline(request.deadlineSeconds)
        let title = prepared.entry.title
        let accelerator = request.hypervisor.accelerator.rawValue.uppercased()
        request.logger.notice("booting the clone", metadata: [
            "entry": "\(title)", "accelerator": "\(accelerator)", "controller": "\(prepared.controller.rawValue)",
            "deadline_seconds": "\(deadline)",
        ])
        let stable = GuestConsole.marker + " " + request.probe.nonce + " stable"
        let target = GuestConsole.marker + " " + request.probe.nonce + " target"
        let reached = GuestConsole.marker + " " + request.probe.nonce + " reached"
        let started = ContinuousClock.now
        var targetSeconds: Double?
        var settledSeconds: Double?
        func elapsed() -> Double {
            let (seconds, attoseconds) = started.duration(to: .now).components
            return Double(seconds) + Double(attoseconds) / 1e18
        }
        let run = try GuestProcess.run(
            qemu: request.hypervisor.qemu, arguments: arguments, consolePath: consolePath, deadline: deadline,
            // The probe's last line is the verdict; the shutdown after it proves nothing. An
            // emergency shell waits for a person forever: its banner is the verdict.
            watch: { console in
                if targetSeconds == nil, console.contains(target) { targetSeconds = elapsed() }
                if settledSeconds == nil, console.contains(reached) { settledSeconds = elapsed() }
                return GuestConsole.endMarkers.contains { console.contains($0) } || console.contains(stable)
            },
            progress: { seconds in
                request.logger.notice("booting the clone", metadata: [
                    "entry": "\(title)", "accelerator": "\(accelerator)", "elapsed_seconds": "\(seconds)",
                ])
            })
        let console = GuestConsole(text: run.console, nonce: request.probe.nonce)
        return Outcome(entry: prepared.entry, controller: prepared.controller, commandLine: commandLine, run: run,
                       console: console, consolePath: consolePath, targetSeconds: targetSeconds,
                       settledSeconds: settledSeconds)
    }

    /// Makes the boot's layer: the changes and the probe written in, the kernel and
    /// initrd copied out.
    private static func prepare(_ request: Request, number: Int, layer: String) throws(MicroVMError) -> Prepared {
        let snapshot: BlockSnapshot
        do {
            snapshot = try BlockSnapshot(base: request.disk, directory: request.folder + "/layer-\(number)",
                                         format: request.diskFormat, size: request.diskSize, runner: request.runner)
        } catch {
            throw .launch("\(error)")
        }
        defer { snapshot.close() }
        let mountPoint = request.folder + "/mnt-\(number)"
        guard mkdir(mountPoint, 0o700) == 0 else {
            throw .launch("cannot make \(mountPoint): \(String(cString: strerror(errno)))")
        }
        defer { rmdir(mountPoint) }
        let mounted: CommandResult
        do {
            mounted = try SignalTeardown.gate { () throws(CommandError) in
                try request.runner.run("mount", ["-o", "loop", snapshot.path, mountPoint])
            }
        } catch {
            throw .launch("\(error)")
        }
        guard mounted.succeeded else {
            let message = (mounted.errorOutput + mounted.output).split(separator: "\n").last.map(String.init) ?? "mount exited \(mounted.status)"
            throw .unbootable("cannot mount \(request.disk) as a filesystem: \(message)")
        }
        var unmounted = false
        defer { if !unmounted { _ = try? request.runner.run("umount", [mountPoint]) } }

        let prepared: Prepared
        do {
            let root = try SystemRoot(mountPoint)
            try request.changes.write(into: root)
            try root.files.makeDirectories(PackagePath.parent(GuestProbe.scriptPath))
            try root.files.replaceFile(GuestProbe.scriptPath, bytes: Array(request.probe.script.utf8), mode: 0o755, durable: false)
            try root.files.makeDirectories(PackagePath.parent(GuestProbe.unitPath), links: .followInside)
            try root.files.replaceFile(root.canonical(GuestProbe.unitPath), bytes: Array(request.probe.unit.utf8),
                                       links: .followInside, mode: 0o644, durable: false)
            prepared = try extractBoot(root, folder: request.folder, number: number)
        } catch let error as MicroVMError {
            throw error
        } catch {
            throw .launch("cannot prepare the boot layer: \(error)")
        }
        let result = try? request.runner.run("umount", [mountPoint])
        unmounted = true
        guard result?.succeeded == true else {
            throw .launch("cannot unmount the boot layer: \(result.map { $0.errorOutput } ?? "umount did not run")")
        }
        do {
            try snapshot.keepOverlay(as: layer)
        } catch {
            throw .launch("\(error)")
        }
        return prepared
    }

    /// The default entry of the root in the layer, its kernel and initrd copied to the
    /// folder, and the controller its initramfs can drive.
    private static func extractBoot(_ root: SystemRoot, folder: String, number: Int) throws -> Prepared {
        let configuration: BootConfiguration
        do {
            configuration = try BootConfiguration.load(root)
        } catch {
            throw MicroVMError.unbootable("cannot read its boot configuration: \(error)")
        }
        guard let entry = configuration.defaultEntry else {
            throw MicroVMError.unbootable("its boot configuration has no default entry to boot")
        }
        guard let kernelPath = entry.kernel else {
            throw MicroVMError.unbootable("the default entry '\(entry.title)' names no kernel")
        }
        let kernel = folder + "/kernel-\(number)"
        do {
            try copyOut(root, kernelPath, to: kernel)
        } catch {
            throw MicroVMError.unbootable("the default entry's kernel \(kernelPath) cannot be read: \(error)")
        }
        var initrd: String?
        var listing: [String] = []
        var unpacks = true
        if let initrdPath = entry.initrd {
            let copy = folder + "/initrd-\(number)"
            do {
                try copyOut(root, initrdPath, to: copy)
            } catch {
                throw MicroVMError.unbootable("the default entry's initrd \(initrdPath) cannot be read: \(error)")
            }
            // One that does not unpack is booted all the same, as the machine would boot
            // it: the kernel's own words on the console are the finding.
            do { listing = try Initramfs(path: copy).entries().map(\.path) } catch { unpacks = false }
            initrd = copy
        }
        let builtin = entry.version.flatMap { version in
            try? root.files.text(root.canonical("/lib/modules/\(version)/modules.builtin"), limit: 4 << 20)
        } ?? ""
        guard let controller = DiskController.choose(initramfs: listing, builtin: builtin) ?? (unpacks ? nil : .virtio) else {
            throw MicroVMError.unbootable("neither its initramfs nor its kernel has a driver for a disk controller QEMU offers "
                + "(virtio-blk, AHCI, NVMe)")
        }
        return Prepared(entry: entry, kernel: kernel, initrd: initrd, controller: controller)
    }

    /// Copies a file of the root (confined, regular files only, bounded) to a host file.
    private static func copyOut(_ root: SystemRoot, _ path: String, to destination: String) throws {
        let bytes = try root.files.read(root.canonical(path), limit: 1 << 30)
        let fd = retryingEINTR { open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        guard fd >= 0 else { throw MicroVMError.launch("cannot create \(destination): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            guard n > 0 else { throw MicroVMError.launch("cannot write \(destination): \(String(cString: strerror(errno)))") }
            written += n
        }
    }
}
