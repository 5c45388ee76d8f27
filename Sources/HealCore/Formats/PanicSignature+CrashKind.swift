extension PanicSignature {
    /// What kind of crash a record shows. The raw values are the slugs of `detect --json`
    /// and of the crash corpus' labels (Tests/HealSystemTests/Resources/crash-corpus), with
    /// one addition: `hardware-error` (a firmware-first fatal error, the corpus' other-panic).
    ///
    /// A panic line that names a specific cause wins (`VFS: Unable to mount root fs`,
    /// `Attempted to kill init!`, `Fatal machine check`, …); otherwise the report that led
    /// to the panic says it (an Oops, a `kernel BUG at`, a general protection fault).
    public enum CrashKind: String, Sendable, Hashable, Codable, CaseIterable {
        /// `Fatal machine check`, `Machine check: …` (arch/x86/kernel/cpu/mce/core.c `mce_panic`).
        case machineCheck = "machine-check"
        /// `Fatal hardware error!` (drivers/acpi/apei/ghes.c `__ghes_panic`): firmware-first
        /// reporting of the same kind of fault.
        case hardwareError = "hardware-error"
        /// `VFS: Unable to mount root fs on …` (init/do_mounts.c `mount_root_generic`).
        case rootMount = "vfs-no-root"
        /// `No working init found.`, `Requested init … failed` (init/main.c `kernel_init`).
        case noWorkingInit = "no-working-init"
        /// `Attempted to kill init!` (kernel/exit.c): PID 1 exited or died of a signal.
        case initKilled = "init-killed"
        /// `softlockup: hung tasks` (kernel/watchdog.c, softlockup_panic).
        case softLockup = "soft-lockup"
        /// `hung_task: blocked tasks` (kernel/hung_task.c, hung_task_panic).
        case hungTask = "hung-task"
        /// `System is deadlocked on memory`, `Out of memory and no killable processes…`.
        case outOfMemory = "oom-panic"
        /// `Fatal exception in interrupt`: an Oops in interrupt context.
        case fatalInInterrupt = "fatal-exception-in-interrupt"
        /// `panic_on_warn set ...` (`kernel: panic_on_warn set ...` since 6.x).
        case warning = "warning-panic"
        /// An Oops: a bad memory access (`BUG: unable to handle …`, `Unable to handle kernel …`).
        case oops
        /// `kernel BUG at …`, `invalid opcode`: a BUG_ON() or assertion.
        case bug
        /// `general protection fault`.
        case generalProtection = "gpf"
        /// Any other panic (`kernel stack overflow`, a driver's own `panic()`, sysrq).
        case otherPanic = "other-panic"
        /// No panic line and no report: a torn record.
        case unknown

        /// - Parameters:
        ///   - panicReason: the text after `Kernel panic - not syncing: `.
        ///   - cause: the first line of the report that led to the panic (`oopsCause`).
        public init(panicReason: String?, cause: String?) {
            if let reason = panicReason, let kind = Self.fromPanicReason(reason) {
                self = kind
            } else if let cause {
                self = Self.fromCause(cause)
            } else {
                self = panicReason == nil ? .unknown : .otherPanic
            }
        }

        private static func fromPanicReason(_ reason: String) -> CrashKind? {
            let lower = reason.lowercased()
            if lower.contains("machine check") { return .machineCheck }
            if reason.hasPrefix("Fatal hardware error") { return .hardwareError }
            if reason.hasPrefix("VFS: Unable to mount root fs") { return .rootMount }
            if reason.hasPrefix("No working init found") || reason.hasPrefix("Requested init ") { return .noWorkingInit }
            if reason.hasPrefix("Attempted to kill init") { return .initKilled }
            if reason.hasPrefix("softlockup: hung tasks") { return .softLockup }
            if reason.hasPrefix("hung_task: blocked tasks") { return .hungTask }
            if reason.hasPrefix("System is deadlocked on memory") || reason.hasPrefix("Out of memory") { return .outOfMemory }
            if reason.hasSuffix("Fatal exception in interrupt") { return .fatalInInterrupt }
            if reason.contains("panic_on_warn set") { return .warning }
            // `Fatal exception` (`Oops: Fatal exception` on arm64): the Oops says what it was.
            if reason.hasSuffix("Fatal exception") { return nil }
            return .otherPanic
        }

        private static func fromCause(_ cause: String) -> CrashKind {
            if cause.contains("kernel BUG at") || cause.contains("invalid opcode") || cause.contains("Oops - BUG") { return .bug }
            if cause.contains("general protection fault") { return .generalProtection }
            if cause.contains("BUG: soft lockup") { return .softLockup }
            if cause.hasPrefix("INFO: task ") { return .hungTask }
            if cause.hasPrefix("WARNING: ") { return .warning }
            return .oops
        }
    }
}
