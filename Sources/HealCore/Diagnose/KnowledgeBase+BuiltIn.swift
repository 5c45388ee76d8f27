extension KnowledgeBase {
    /// The built-in signatures. Review them here; extend or re-weigh them per site with
    /// `/etc/clarity-heal/knowledge.d/*.json`.
    public static var builtIn: KnowledgeBase {
        // The table is validated by tests (KnowledgeBaseTests.builtInTableIsValid); an
        // invalid entry here must not stop a machine from diagnosing, so it is dropped.
        KnowledgeBase(validOnly: builtInSignatures)
    }

    /// Failed boot attempts go with whatever caused them: every cause signature explains
    /// them when present.
    private static let failedBoots = Condition(.bootFailures, match: .optional)

    private static let vfsPanic = Condition(.kernelPanic, attributes: ["reason": "VFS: Unable to mount root fs*"])
    private static let noInitPanic = Condition(.kernelPanic, attributes: ["hint": FailureClass.initMissing.rawValue])
    /// init ran and died, and the crash was routed to repairs (PanicRoute).
    private static let initKilledPanic = Condition(.kernelPanic, attributes: [
        "crashKind": PanicSignature.CrashKind.initKilled.rawValue, "routing": PanicRoute.Decision.repair.rawValue,
    ])

    public static let builtInSignatures: [Signature] = [
        // The kernel says why it died and a check on disk confirms it.
        Signature(
            id: "vfs-panic-root-device-mismatch",
            description: "the kernel could not mount the root fs, and root= of the default entry names no device",
            when: [Condition(.kernelPanic, attributes: ["hint": FailureClass.rootDeviceMismatch.rawValue]),
                   Condition(.rootDeviceMismatch), failedBoots],
            then: Conclusion(rootCause: .rootDeviceMismatch, confidence: 0.95,
                             explanation: "{summary}; the kernel then panicked: {reason}",
                             specifics: ["summary", "line", "reason", "kernel"])),
        Signature(
            id: "vfs-panic-initramfs-missing-driver",
            description: "the kernel could not mount the root fs, and the initramfs lacks a driver the root needs",
            when: [vfsPanic, Condition(.initramfsMissingDriver), failedBoots],
            then: Conclusion(rootCause: .initramfsMissingDriver, confidence: 0.9,
                             explanation: "{initrd} lacks {modules}, so the kernel could not mount the root fs: {reason}",
                             specifics: ["initrd", "modules", "reason", "kernel"])),
        Signature(
            id: "vfs-panic-initramfs-missing",
            description: "the kernel could not mount the root fs, and the default entry's initramfs is missing",
            when: [vfsPanic, Condition(.initramfsMissing), failedBoots],
            then: Conclusion(rootCause: .initramfsMissing, confidence: 0.9,
                             explanation: "{summary}; without it the kernel could not mount the root fs: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),
        Signature(
            id: "vfs-panic-initramfs-corrupt",
            description: "the kernel could not mount the root fs, and the initramfs cannot be unpacked",
            when: [vfsPanic, Condition(.initramfsCorrupt), failedBoots],
            then: Conclusion(rootCause: .initramfsCorrupt, confidence: 0.85,
                             explanation: "{summary}; the kernel could not mount the root fs: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),
        Signature(
            id: "vfs-panic-filesystem-errors",
            description: "the kernel could not mount the root fs, and a file system has errors",
            when: [vfsPanic, Condition(.filesystemErrors), failedBoots],
            then: Conclusion(rootCause: .filesystemErrors, confidence: 0.75,
                             explanation: "{summary}; the kernel could not mount the root fs: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),
        Signature(
            id: "no-init-panic-init-missing",
            description: "the kernel found no working init, and /sbin/init (or init=) is broken on disk",
            when: [noInitPanic, Condition(.initMissing), failedBoots],
            then: Conclusion(rootCause: .initMissing, confidence: 0.95,
                             explanation: "{summary}; the kernel then panicked: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),
        Signature(
            id: "no-init-panic-initramfs-corrupt",
            description: "the kernel found no working init, and the initramfs is unreadable or has no /init",
            when: [noInitPanic, Condition(.initramfsCorrupt), failedBoots],
            then: Conclusion(rootCause: .initramfsCorrupt, confidence: 0.9,
                             explanation: "{summary}; the kernel then panicked: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),

        // init ran and died: a broken library or account database kills it as surely as
        // a missing binary (PanicRoute for init-killed).
        Signature(
            id: "init-killed-system-file-corrupt",
            description: "init died, and a boot-critical packaged file (libc, the loader, init) differs from its package",
            when: [initKilledPanic, Condition(.systemFileCorrupt), failedBoots],
            then: Conclusion(rootCause: .systemFileCorrupt, confidence: 0.85,
                             explanation: "{summary}; init then died and the kernel panicked: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),
        Signature(
            id: "init-killed-account-database",
            description: "init died, and the account database is broken",
            when: [initKilledPanic, Condition(.accountDatabaseBroken), failedBoots],
            then: Conclusion(rootCause: .accountDatabaseBroken, confidence: 0.75,
                             explanation: "{summary}; init then died and the kernel panicked: {reason}",
                             specifics: ["summary", "source", "reason", "kernel"])),

        // The crash itself says nothing on disk is to be repaired.
        Signature(
            id: "panic-needs-person",
            description: "a machine check or fatal hardware error: hardware, not a file, failed",
            when: [Condition(.kernelPanic, attributes: ["routing": PanicRoute.Decision.needsPerson.rawValue, "reason": "*"]),
                   failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.9,
                             explanation: "kernel {kernel} stopped on a hardware fault ({reason}); a person must look: {routeReason}",
                             specifics: ["reason", "kernel", "crashKind", "routing", "routeReason", "record"])),
        Signature(
            id: "panic-foreign-kernel",
            description: "a crash record of a kernel this root does not have",
            // More specific than panic-in-module: a foreign record naming a module still
            // blames nothing here.
            when: [Condition(.kernelPanic, attributes: ["routing": PanicRoute.Decision.foreignKernel.rawValue, "kernel": "*"]),
                   failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.3,
                             explanation: "{routeReason} ({reason})",
                             specifics: ["reason", "kernel", "routing", "routeReason", "record"])),

        // The kernel says why, nothing on disk confirms it.
        Signature(
            id: "panic-in-module",
            description: "a crash record names the module the kernel died in",
            when: [Condition(.kernelPanic, attributes: ["module": "*"]), failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.85,
                             explanation: "module {module} crashed kernel {kernel}: {reason}",
                             specifics: ["module", "kernel", "reason", "symbol", "taint", "record",
                                         "moduleFile", "moduleDependencies", "moduleInInitramfs", "modulePackage"])),
        Signature(
            id: "vfs-panic-unconfirmed",
            description: "the kernel could not mount the root fs, but no check of the root device or initramfs says why",
            when: [Condition(.kernelPanic, attributes: ["hint": FailureClass.rootDeviceMismatch.rawValue]),
                   Condition(.rootDeviceMismatch, match: .absent), Condition(.initramfsMissingDriver, match: .absent),
                   Condition(.initramfsMissing, match: .absent), Condition(.initramfsCorrupt, match: .absent),
                   failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.45,
                             explanation: "kernel {kernel} could not mount the root fs ({reason}); root=, the initramfs "
                                 + "and its drivers look right now, so the panic may come from an older state",
                             specifics: ["reason", "kernel", "hint", "record"])),
        Signature(
            id: "no-init-panic-unconfirmed",
            description: "the kernel found no working init, but init and the initramfs look right",
            when: [noInitPanic, Condition(.initMissing, match: .absent), Condition(.initramfsCorrupt, match: .absent),
                   failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.45,
                             explanation: "kernel {kernel} found no working init ({reason}); init and the initramfs "
                                 + "look right now, so the panic may come from an older state",
                             specifics: ["reason", "kernel", "hint", "record"])),
        Signature(
            id: "panic",
            description: "a crash record without a module or a reason that points elsewhere",
            when: [Condition(.kernelPanic), failedBoots],
            then: Conclusion(rootCause: .kernelPanic, confidence: 0.6,
                             explanation: "kernel {kernel} crashed: {reason}",
                             specifics: ["reason", "kernel", "record"])),

        // One finding, nothing more specific known.
        generic(.bootloaderEnvCorrupt, 0.8, specifics: ["source"]),
        generic(.bootloaderDefaultInvalid, 0.85, specifics: ["source", "line"]),
        generic(.kernelModulesMissing, 0.85, specifics: ["source", "defaultKernel"]),
        generic(.initramfsMissing, 0.9, specifics: ["source", "defaultKernel"]),
        generic(.initramfsCorrupt, 0.85, specifics: ["source", "defaultKernel"]),
        generic(.initramfsMissingDriver, 0.8, specifics: ["initrd", "modules", "defaultKernel"]),
        generic(.rootDeviceMismatch, 0.85, specifics: ["line"]),
        generic(.fstabUnresolvableSource, 0.85, specifics: ["fstabLine"]),
        generic(.fstabInvalidEntry, 0.8, specifics: ["fstabLine"]),
        generic(.filesystemErrors, 0.8, specifics: ["source"]),
        generic(.initMissing, 0.9, specifics: ["source"]),
        generic(.unitFailures, 0.6, specifics: ["source"]),
        generic(.diskSpaceExhausted, 0.8, specifics: ["source"]),
        generic(.inodeExhausted, 0.8, specifics: ["source"]),
        generic(.systemFileCorrupt, 0.7, specifics: ["source"]),
        generic(.accountDatabaseBroken, 0.85, specifics: ["source"]),

        // A symptom: the root cause only when nothing else was found.
        Signature(
            id: "boot-failures-unexplained",
            description: "boot attempts failed and no check found why",
            when: [Condition(.bootFailures)],
            then: Conclusion(rootCause: .bootFailures, confidence: 0.3,
                             explanation: "{summary}; no check found why, so the last entry that booted is the way back",
                             specifics: ["summary", "source"], symptom: true)),
    ]

    /// `CLASS`: a finding of the class is its own root cause.
    private static func generic(_ failureClass: FailureClass, _ confidence: Double, specifics: [String]) -> Signature {
        Signature(
            id: failureClass.rawValue,
            description: "a \(failureClass.rawValue) finding, with nothing that explains it further",
            when: [Condition(failureClass), failedBoots],
            then: Conclusion(rootCause: failureClass, confidence: confidence, explanation: "{summary}",
                             specifics: ["summary"] + specifics))
    }
}
