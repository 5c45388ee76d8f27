import Foundation
import Testing
@testable import HealCore

/// Observations as the diagnoser builds them, written out by hand.
enum Seen {
    static let kernel = "6.1.0-50-cloud-amd64"

    static func finding(_ failureClass: FailureClass, _ summary: String? = nil, source: String = "/x") -> Finding {
        Finding(failureClass, summary: summary ?? "\(failureClass.rawValue) seen",
                evidence: [Evidence(source: source, detail: "detail of \(failureClass.rawValue)")])
    }

    static func observation(_ failureClass: FailureClass, _ attributes: [String: String] = [:],
                            summary: String? = nil) -> Observation {
        var derived = Observation(finding: finding(failureClass, summary), defaultKernel: kernel)
        derived.attributes.merge(attributes) { _, new in new }
        return derived
    }

    static let moduleOops = observation(.kernelPanic, [
        "module": "clarity_oops", "kernel": kernel, "kind": "oops",
        "reason": "BUG: kernel NULL pointer dereference, address: 0000000000000000",
    ])
    static let vfsPanic = observation(.kernelPanic, [
        "reason": "VFS: Unable to mount root fs on unknown-block(0,0)", "hint": "root-device-mismatch", "kind": "panic",
    ])
    static let noInitPanic = observation(.kernelPanic, [
        "reason": "No working init found.  Try passing init= option to kernel.", "hint": "init-missing", "kind": "panic",
    ])
    static let sysrqPanic = observation(.kernelPanic, ["reason": "sysrq triggered crash", "kind": "panic"])
    static let rootDevice = observation(.rootDeviceMismatch,
        summary: "root=UUID=0b2c6a6e-0000-4000-8000-00000000beef names no block device")
    static let missingDriver = observation(.initramfsMissingDriver, summary: "initramfs /boot/initrd.img-\(kernel) lacks libcrc32c, xfs")
}

struct KnowledgeCase: Sendable, CustomTestStringConvertible {
    var name: String
    var observations: [Observation]
    var rootCause: FailureClass?
    var signature: String?
    /// Classes of the findings left secondary.
    var secondary: [FailureClass] = []
    var specifics: [String: String] = [:]
    var minimumConfidence = 0.0
    var testDescription: String { name }
}

@Suite struct KnowledgeBaseTests {
    static let cases: [KnowledgeCase] = [
        .init(name: "healthy", observations: [], rootCause: nil),
        .init(name: "VFS panic + root= names no device", observations: [Seen.vfsPanic, Seen.rootDevice],
              rootCause: .rootDeviceMismatch, signature: "vfs-panic-root-device-mismatch", minimumConfidence: 0.9),
        .init(name: "module Oops alone", observations: [Seen.moduleOops], rootCause: .kernelPanic,
              signature: "panic-in-module", specifics: ["module": "clarity_oops", "kernel": Seen.kernel]),
        .init(name: "VFS panic + initramfs lacks the driver", observations: [Seen.missingDriver, Seen.vfsPanic],
              rootCause: .initramfsMissingDriver, signature: "vfs-panic-initramfs-missing-driver",
              specifics: ["modules": "libcrc32c, xfs", "initrd": "/boot/initrd.img-\(Seen.kernel)"], minimumConfidence: 0.85),
        .init(name: "no working init + init deleted", observations: [Seen.noInitPanic, Seen.observation(.initMissing)],
              rootCause: .initMissing, signature: "no-init-panic-init-missing", minimumConfidence: 0.9),
        .init(name: "no working init + initramfs without /init",
              observations: [Seen.noInitPanic, Seen.observation(.initramfsCorrupt)],
              rootCause: .initramfsCorrupt, signature: "no-init-panic-initramfs-corrupt"),
        .init(name: "independent faults: the earliest stage wins",
              observations: [Seen.observation(.accountDatabaseBroken), Seen.observation(.unitFailures),
                             Seen.observation(.fstabInvalidEntry)],
              rootCause: .fstabInvalidEntry, signature: "fstab-invalid-entry",
              secondary: [.unitFailures, .accountDatabaseBroken]),
        .init(name: "default entry invalid before an unrelated module Oops",
              observations: [Seen.moduleOops, Seen.observation(.bootloaderDefaultInvalid)],
              rootCause: .bootloaderDefaultInvalid, signature: "bootloader-default-invalid", secondary: [.kernelPanic]),
        .init(name: "failed boots go with their cause",
              observations: [Seen.observation(.bootFailures), Seen.observation(.fstabUnresolvableSource)],
              rootCause: .fstabUnresolvableSource, signature: "fstab-unresolvable-source"),
        .init(name: "failed boots alone are a symptom", observations: [Seen.observation(.bootFailures)],
              rootCause: .bootFailures, signature: "boot-failures-unexplained"),
        .init(name: "VFS panic nothing confirms", observations: [Seen.vfsPanic], rootCause: .kernelPanic,
              signature: "vfs-panic-unconfirmed", specifics: ["hint": "root-device-mismatch"]),
        .init(name: "a panic without module or hint", observations: [Seen.sysrqPanic], rootCause: .kernelPanic,
              signature: "panic", specifics: ["reason": "sysrq triggered crash"]),
    ]

    @Test(arguments: cases)
    func rootCause(_ example: KnowledgeCase) throws {
        let diagnosis = Diagnosis.conclude(root: "/r", steps: [], observations: example.observations,
                                           knowledgeBase: .builtIn, errors: []) {
            RepairEstimate.estimate(for: $0, candidates: [])
        }
        #expect(diagnosis.rootCause?.failureClass == example.rootCause)
        #expect(diagnosis.rootCause?.signature == example.signature)
        #expect(diagnosis.otherFindings.map(\.failureClass) == example.secondary)
        for (name, value) in example.specifics {
            #expect(diagnosis.rootCause?.specifics[name] == value, "\(name)")
        }
        if let cause = diagnosis.rootCause {
            #expect(cause.confidence >= example.minimumConfidence)
            #expect((0...1).contains(cause.confidence))
            #expect(diagnosis.confidence == cause.confidence)
            // Every finding is either explained by the root cause or secondary.
            #expect(cause.findings.count + diagnosis.otherFindings.count == example.observations.count)
            #expect(cause.findings.first?.failureClass == cause.failureClass)
            #expect(diagnosis.affectedComponents.first == cause.failureClass.component)
            #expect(diagnosis.estimatedRepair?.seconds == RepairEstimate.defaultSeconds(for: cause.failureClass))
        } else {
            #expect(diagnosis.isHealthy)
            #expect(diagnosis.confidence == nil)
            #expect(diagnosis.estimatedRepair == nil)
        }
    }

    @Test func thePanicIsSupportingEvidenceOfTheRootDevice() throws {
        let best = try #require(KnowledgeBase.builtIn.hypotheses(for: [Seen.vfsPanic, Seen.rootDevice]).first)
        #expect(best.explained.map(\.failureClass) == [.rootDeviceMismatch, .kernelPanic])
        #expect(best.explanation == "root=UUID=0b2c6a6e-0000-4000-8000-00000000beef names no block device; "
            + "the kernel then panicked: VFS: Unable to mount root fs on unknown-block(0,0)")
    }

    @Test func moduleExplanationNamesModuleAndKernel() throws {
        let best = try #require(KnowledgeBase.builtIn.hypotheses(for: [Seen.moduleOops]).first)
        #expect(best.explanation == "module clarity_oops crashed kernel 6.1.0-50-cloud-amd64: "
            + "BUG: kernel NULL pointer dereference, address: 0000000000000000")
    }

    @Test func builtInTableIsValid() throws {
        let table = KnowledgeBase.builtInSignatures
        let checked = try KnowledgeBase(signatures: table)
        #expect(checked.signatures.count == table.count)
        #expect(KnowledgeBase.builtIn.signatures == table)
        // Every class can be concluded, from its own finding alone.
        for failureClass in FailureClass.allCases {
            let best = KnowledgeBase.builtIn.hypotheses(for: [Seen.observation(failureClass)]).first
            #expect(best?.rootCause == failureClass, "\(failureClass)")
        }
    }

    @Test func learningOverridesAConfidenceById() throws {
        var knowledge = KnowledgeBase.builtIn
        try knowledge.overrideConfidence(0.5, for: "panic-in-module")
        #expect(knowledge.hypotheses(for: [Seen.moduleOops]).first?.confidence == 0.5)
        #expect(KnowledgeBase.builtIn.hypotheses(for: [Seen.moduleOops]).first?.confidence == 0.85)
        #expect(throws: KnowledgeBase.Error.unknownSignature("no-such")) { try knowledge.overrideConfidence(0.5, for: "no-such") }
        #expect(throws: KnowledgeBase.Error.confidenceOutOfRange(id: "panic", value: 1.5)) {
            try knowledge.overrideConfidence(1.5, for: "panic")
        }
    }

    /// A site file as an administrator writes it, decoded as the CLI decodes it.
    static let siteFile = """
        {
          "signatures": [
            {
              "id": "site-accounts-break-fstab-helper",
              "description": "our provisioning tool rewrites fstab and passwd together",
              "when": [
                { "class": "account-database-broken" },
                { "class": "fstab-invalid-entry", "text": "*provision*" }
              ],
              "then": {
                "rootCause": "account-database-broken",
                "confidence": 0.7,
                "explanation": "the provisioning tool broke {source}",
                "specifics": ["source"]
              }
            },
            {
              "id": "panic",
              "when": [ { "class": "kernel-panic" } ],
              "then": { "rootCause": "kernel-panic", "confidence": 0.2, "explanation": "a crash" }
            }
          ],
          "confidence": { "panic-in-module": 0.66 }
        }
        """

    @Test func siteFileExtendsAndReweighs() throws {
        let file = try JSONDecoder().decode(KnowledgeFile.self, from: Data(Self.siteFile.utf8))
        var knowledge = KnowledgeBase.builtIn
        try knowledge.add(file)
        #expect(knowledge.signatures.count == KnowledgeBase.builtIn.signatures.count + 1)
        let fstab = Seen.observation(.fstabInvalidEntry, summary: "/etc/fstab line 4: written by provision-host")
        let accounts = Seen.observation(.accountDatabaseBroken, ["source": "/etc/passwd"])
        let best = try #require(knowledge.hypotheses(for: [fstab, accounts]).first)
        #expect(best.signature.id == "site-accounts-break-fstab-helper")
        #expect(best.explanation == "the provisioning tool broke /etc/passwd")
        // Without the text the site signature names, the boot chain decides as usual.
        let plain = Seen.observation(.fstabInvalidEntry)
        #expect(knowledge.hypotheses(for: [plain, accounts]).first?.rootCause == .fstabInvalidEntry)
        // The replaced built-in and the override.
        #expect(knowledge.hypotheses(for: [Seen.sysrqPanic]).first?.confidence == 0.2)
        #expect(knowledge.hypotheses(for: [Seen.moduleOops]).first?.confidence == 0.66)
    }

    static let invalid: [(String, Signature, KnowledgeBase.Error)] = [
        ("confidence above 1",
         Signature(id: "a", when: [Condition(.initMissing)], then: Conclusion(rootCause: .initMissing, confidence: 1.2, explanation: "x")),
         .invalidSignature(id: "a", reason: "confidence 1.2 is not between 0 and 1")),
        ("only optional conditions",
         Signature(id: "b", when: [Condition(.initMissing, match: .optional)],
                   then: Conclusion(rootCause: .initMissing, confidence: 0.5, explanation: "x")),
         .invalidSignature(id: "b", reason: "\"when\" needs at least one required condition")),
        ("placeholder not carried",
         Signature(id: "c", when: [Condition(.initMissing)],
                   then: Conclusion(rootCause: .initMissing, confidence: 0.5, explanation: "in {module}")),
         .invalidSignature(id: "c", reason: "the explanation uses {module}, which is not in \"specifics\"")),
        ("id with a space",
         Signature(id: "d e", when: [Condition(.initMissing)],
                   then: Conclusion(rootCause: .initMissing, confidence: 0.5, explanation: "x")),
         .invalidSignature(id: "d e", reason: "the id must be a non-empty slug without spaces")),
    ]

    @Test(arguments: invalid)
    func invalidSignatureIsRefused(_ name: String, _ signature: Signature, _ error: KnowledgeBase.Error) {
        #expect(throws: error) { try KnowledgeBase(signatures: [signature]) }
        var knowledge = KnowledgeBase.builtIn
        #expect(throws: error) { try knowledge.add(KnowledgeFile(signatures: [signature])) }
    }

    @Test func duplicateIdIsRefused() {
        let one = Signature(id: "same", when: [Condition(.initMissing)],
                            then: Conclusion(rootCause: .initMissing, confidence: 0.5, explanation: "x"))
        #expect(throws: KnowledgeBase.Error.duplicateID("same")) { try KnowledgeBase(signatures: [one, one]) }
    }

    @Test(arguments: [
        ("VFS: Unable to mount root fs*", "VFS: Unable to mount root fs on unknown-block(0,0)", true),
        ("VFS: Unable to mount root fs*", "Kernel panic: VFS: Unable to mount root fs", false),
        ("*", "", true),
        ("*", "anything", true),
        ("clarity_?ops", "clarity_oops", true),
        ("*provision*", "written by provision-host", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
        ("exact", "exact", true),
        ("exact", "exactly", false),
    ])
    func glob(_ pattern: String, _ text: String, _ matches: Bool) {
        #expect(Glob.matches(pattern, text) == matches)
    }

    @Test func observationOfTheRealOopsRecord() throws {
        let panic = try PanicSignature(record: PstoreFixture.text("oops-module"))
        let finding = Finding(.kernelPanic, summary: panic.summary,
                              evidence: [Evidence(source: "/var/lib/systemd/pstore/dmesg-ramoops-0", detail: "record")])
        let observation = Observation(finding: finding, panic: panic, defaultKernel: "6.1.0-50-cloud-amd64")
        #expect(observation.attributes["module"] == "clarity_oops")
        #expect(observation.attributes["kernel"] == "6.1.0-50-cloud-amd64")
        #expect(observation.attributes["kind"] == "oops")
        #expect(observation.attributes["symbol"] == "clarity_oops_init+0x11/0x1000")
        #expect(observation.attributes["record"] == "/var/lib/systemd/pstore/dmesg-ramoops-0")
        #expect(observation.attributes["hint"] == nil)
    }

    @Test func fstabLineIsCarried() throws {
        let finding = Finding(.fstabInvalidEntry, summary: "/etc/fstab line 4: unknown type",
                              evidence: [Evidence(source: "/etc/fstab:4", detail: "UUID=x /data ext4 defaults zero 2")])
        let best = try #require(KnowledgeBase.builtIn.hypotheses(for: [Observation(finding: finding)]).first)
        #expect(best.specifics["fstabLine"] == "/etc/fstab:4: UUID=x /data ext4 defaults zero 2")
    }

    @Test func estimateFromRankedCandidates() {
        let candidates = [
            StrategyDescriptor(id: "first", title: "", classes: [.initMissing], risk: 1, sideEffects: "",
                               priorEffectiveness: 0.9, estimatedSeconds: 40),
            StrategyDescriptor(id: "second", title: "", classes: [.initMissing], risk: 2, sideEffects: "",
                               priorEffectiveness: 0.5, estimatedSeconds: 70),
        ]
        let estimate = RepairEstimate.estimate(for: .initMissing, candidates: candidates)
        #expect(estimate.seconds == 40)
        #expect(estimate.worstCaseSeconds == 110)
        #expect(estimate.strategies == ["first", "second"])
        let fallback = RepairEstimate.estimate(for: .kernelPanic, candidates: [])
        #expect(fallback.seconds == 240 && fallback.strategies.isEmpty)
        #expect(fallback.basis.contains("default for kernel-panic"))
    }
}
