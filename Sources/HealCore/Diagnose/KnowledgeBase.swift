/// The signatures that map what diagnosis saw to a root cause. Data, not code: the
/// built-in table (`KnowledgeBase.builtIn`), extended by site files (`KnowledgeFile`),
/// with confidences that learning can override by signature id.
///
/// Choosing the root cause: every signature whose conditions hold is a hypothesis; they
/// are ranked by
/// 1. causes before symptoms (`then.symptom`),
/// 2. how many findings they explain (more first),
/// 3. the boot-chain stage of the root cause (earlier first: a machine stopped at an
///    earlier stage never reaches the later one),
/// 4. specificity (more conditions and filters first),
/// 5. confidence, then id.
/// The first one is the root cause; findings it does not explain are secondary.
public struct KnowledgeBase: Sendable, Hashable {
    public private(set) var signatures: [Signature]
    /// Signature id → confidence that replaces the signature's own (learning, sites).
    public private(set) var confidenceOverrides: [String: Double]

    /// - Throws: `KnowledgeBase.Error` for an invalid signature or a duplicate id.
    public init(signatures: [Signature], confidenceOverrides: [String: Double] = [:]) throws(KnowledgeBase.Error) {
        self.signatures = []
        self.confidenceOverrides = [:]
        for signature in signatures {
            try Self.validate(signature)
            guard !self.signatures.contains(where: { $0.id == signature.id }) else { throw .duplicateID(signature.id) }
            self.signatures.append(signature)
        }
        for (id, value) in confidenceOverrides.sorted(by: { $0.key < $1.key }) {
            try overrideConfidence(value, for: id)
        }
    }

    /// The valid signatures of `candidates`, the first of each id (`builtIn`).
    init(validOnly candidates: [Signature]) {
        var kept: [Signature] = []
        for signature in candidates where (try? Self.validate(signature)) != nil && !kept.contains(where: { $0.id == signature.id }) {
            kept.append(signature)
        }
        signatures = kept
        confidenceOverrides = [:]
    }

    /// Adds a site file's signatures (one with the id of an existing signature replaces
    /// it, in place) and then its confidence overrides.
    /// - Throws: `KnowledgeBase.Error` for an invalid signature, an id twice in the file,
    ///   or an override of an unknown id.
    public mutating func add(_ file: KnowledgeFile) throws(KnowledgeBase.Error) {
        var seen: Set<String> = []
        for signature in file.signatures ?? [] {
            try Self.validate(signature)
            guard seen.insert(signature.id).inserted else { throw .duplicateID(signature.id) }
            if let index = signatures.firstIndex(where: { $0.id == signature.id }) {
                signatures[index] = signature
                confidenceOverrides[signature.id] = nil
            } else {
                signatures.append(signature)
            }
        }
        for (id, value) in (file.confidence ?? [:]).sorted(by: { $0.key < $1.key }) {
            try overrideConfidence(value, for: id)
        }
    }

    /// Replaces the confidence of signature `id` (what learning adjusts).
    /// - Throws: `.unknownSignature` or `.confidenceOutOfRange`.
    public mutating func overrideConfidence(_ value: Double, for id: String) throws(KnowledgeBase.Error) {
        guard signatures.contains(where: { $0.id == id }) else { throw .unknownSignature(id) }
        guard (0...1).contains(value) else { throw .confidenceOutOfRange(id: id, value: value) }
        confidenceOverrides[id] = value
    }

    /// The confidence in force for `signature`.
    public func confidence(of signature: Signature) -> Double {
        confidenceOverrides[signature.id] ?? signature.then.confidence
    }

    /// A signature that holds for a set of observations.
    public struct Hypothesis: Sendable, Hashable {
        public var signature: Signature
        public var confidence: Double
        /// The observations it explains, those of the root cause's class first.
        public var explained: [Observation]
        public var specifics: [String: String]

        public var rootCause: FailureClass { signature.then.rootCause }
        public var explanation: String { signature.then.explain(specifics) }
    }

    /// Every signature that holds for `observations`, best first (see the type's
    /// documentation for the order). Empty when nothing was observed.
    public func hypotheses(for observations: [Observation]) -> [Hypothesis] {
        var found: [(hypothesis: Hypothesis, index: Int)] = []
        for (index, signature) in signatures.enumerated() {
            guard let explained = Self.explained(by: signature, in: observations) else { continue }
            let rootClass = signature.then.rootCause
            let ordered = explained.filter { $0.failureClass == rootClass } + explained.filter { $0.failureClass != rootClass }
            var specifics: [String: String] = [:]
            for name in signature.then.specifics ?? [] {
                if let value = ordered.lazy.compactMap({ $0.attributes[name] }).first { specifics[name] = value }
            }
            found.append((Hypothesis(signature: signature, confidence: confidence(of: signature),
                                     explained: ordered, specifics: specifics), index))
        }
        return found.sorted { a, b in
            let x = a.hypothesis, y = b.hypothesis
            if x.signature.then.isSymptom != y.signature.then.isSymptom { return !x.signature.then.isSymptom }
            if x.explained.count != y.explained.count { return x.explained.count > y.explained.count }
            if x.rootCause.stage != y.rootCause.stage { return x.rootCause.stage < y.rootCause.stage }
            if x.rootCause != y.rootCause { return x.rootCause < y.rootCause }
            if x.signature.specificity != y.signature.specificity { return x.signature.specificity > y.signature.specificity }
            if x.confidence != y.confidence { return x.confidence > y.confidence }
            return a.index < b.index
        }.map(\.hypothesis)
    }

    /// The observations `signature` explains, or nil when it does not hold.
    static func explained(by signature: Signature, in observations: [Observation]) -> [Observation]? {
        var explained: [Observation] = []
        for condition in signature.when {
            let passing = observations.filter(condition.accepts)
            switch condition.matchMode {
            case .required:
                guard !passing.isEmpty else { return nil }
                explained += passing
            case .optional:
                explained += passing
            case .absent:
                guard passing.isEmpty else { return nil }
            }
        }
        // A finding passing two conditions is explained once.
        var unique: [Observation] = []
        for observation in explained where !unique.contains(observation) { unique.append(observation) }
        return unique
    }

    /// Checks what decoding cannot: an id, a confidence in 0–1, at least one required
    /// condition, and explanation placeholders that are listed as specifics.
    public static func validate(_ signature: Signature) throws(KnowledgeBase.Error) {
        func invalid(_ reason: String) -> KnowledgeBase.Error { .invalidSignature(id: signature.id, reason: reason) }
        guard !signature.id.isEmpty, !signature.id.contains(where: \.isWhitespace) else {
            throw invalid("the id must be a non-empty slug without spaces")
        }
        guard (0...1).contains(signature.then.confidence) else {
            throw invalid("confidence \(signature.then.confidence) is not between 0 and 1")
        }
        guard signature.when.contains(where: { $0.matchMode == .required }) else {
            throw invalid("\"when\" needs at least one required condition")
        }
        let listed = Set(signature.then.specifics ?? [])
        for name in signature.then.placeholders where !listed.contains(name) {
            throw invalid("the explanation uses {\(name)}, which is not in \"specifics\"")
        }
        for condition in signature.when {
            for (name, pattern) in condition.attributes ?? [:] where name.isEmpty || pattern.isEmpty {
                throw invalid("a condition on \(condition.failureClass.rawValue) has an empty attribute name or pattern")
            }
        }
    }

    public enum Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        case invalidSignature(id: String, reason: String)
        case duplicateID(String)
        case unknownSignature(String)
        case confidenceOutOfRange(id: String, value: Double)

        public var description: String {
            switch self {
            case .invalidSignature(let id, let reason): "signature \"\(id)\" is invalid: \(reason)"
            case .duplicateID(let id): "signature id \"\(id)\" is used twice"
            case .unknownSignature(let id): "cannot override the confidence of \"\(id)\": no signature has that id"
            case .confidenceOutOfRange(let id, let value):
                "cannot override the confidence of \"\(id)\": \(value) is not between 0 and 1"
            }
        }
    }
}

/// A site's knowledge file (`/etc/clarity-heal/knowledge.d/NAME.json`): extra signatures,
/// and confidences that replace those of existing signatures by id.
///
/// ```json
/// { "signatures": [ { "id": "…", "when": […], "then": {…} } ],
///   "confidence": { "panic-in-module": 0.7 } }
/// ```
public struct KnowledgeFile: Sendable, Hashable, Codable {
    public var signatures: [Signature]?
    public var confidence: [String: Double]?

    public init(signatures: [Signature]? = nil, confidence: [String: Double]? = nil) {
        self.signatures = signatures
        self.confidence = confidence
    }
}
