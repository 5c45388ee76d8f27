/// One entry of the knowledge base: when these findings are seen (and these are not),
/// then this is the root cause, with this confidence.
///
/// In a site file (`/etc/clarity-heal/knowledge.d/*.json`, see `KnowledgeFile`):
///
/// ```json
/// {
///   "id": "vfs-panic-root-device-mismatch",
///   "description": "the kernel could not mount / and root= names no device",
///   "when": [
///     { "class": "kernel-panic", "attributes": { "hint": "root-device-mismatch" } },
///     { "class": "root-device-mismatch" },
///     { "class": "boot-failures", "match": "optional" }
///   ],
///   "then": {
///     "rootCause": "root-device-mismatch",
///     "confidence": 0.95,
///     "explanation": "root= names no device ({line}), so the kernel panicked: {reason}",
///     "specifics": ["line", "reason", "kernel"]
///   }
/// }
/// ```
public struct Signature: Sendable, Hashable, Codable, Identifiable {
    /// A stable slug; learning and site files override confidences by it.
    public var id: String
    /// Why the signature holds, for a reviewer.
    public var description: String?
    /// Every condition must hold (`match` says how each one holds).
    public var when: [Condition]
    public var then: Conclusion

    public init(id: String, description: String? = nil, when: [Condition], then: Conclusion) {
        self.id = id
        self.description = description
        self.when = when
        self.then = then
    }

    /// How specific the signature is: one per required or absent condition, one per
    /// attribute or text filter on them. Optional conditions add nothing.
    public var specificity: Int {
        when.filter { $0.matchMode != .optional }
            .reduce(0) { $0 + 1 + ($1.attributes?.count ?? 0) + ($1.text == nil ? 0 : 1) }
    }
}

/// A test over the findings of one class.
public struct Condition: Sendable, Hashable, Codable {
    public enum Match: String, Sendable, Hashable, Codable {
        /// At least one finding passes; all that pass are explained by the signature.
        case required
        /// Findings that pass are explained by the signature; none is fine too.
        case optional
        /// No finding may pass.
        case absent
    }

    /// The finding class (`class` in JSON).
    public var failureClass: FailureClass
    /// Defaults to `required`.
    public var match: Match?
    /// Attribute name → glob pattern (`*`, `?`), matched against the whole value; a
    /// missing attribute does not match (see `Observation` for the names).
    public var attributes: [String: String]?
    /// A glob pattern tried on the summary and every evidence detail; one must match.
    public var text: String?

    public var matchMode: Match { match ?? .required }

    public init(_ failureClass: FailureClass, match: Match? = nil, attributes: [String: String]? = nil,
                text: String? = nil) {
        self.failureClass = failureClass
        self.match = match
        self.attributes = attributes
        self.text = text
    }

    /// Whether `observation` passes this condition's class and filters.
    public func accepts(_ observation: Observation) -> Bool {
        guard observation.failureClass == failureClass else { return false }
        for (name, pattern) in attributes ?? [:] {
            guard let value = observation.attributes[name], Glob.matches(pattern, value) else { return false }
        }
        if let text, !observation.texts.contains(where: { Glob.matches(text, $0) }) { return false }
        return true
    }

    enum CodingKeys: String, CodingKey {
        case failureClass = "class", match, attributes, text
    }
}

/// What a signature concludes.
public struct Conclusion: Sendable, Hashable, Codable {
    public var rootCause: FailureClass
    /// 0–1, before any learned override.
    public var confidence: Double
    /// For a person; `{name}` is replaced by the specific of that name.
    public var explanation: String
    /// The attributes carried into the root cause's specifics, taken from the findings
    /// the signature explains (those of the root cause's class first).
    public var specifics: [String]?
    /// A symptom (failed boot attempts) is the root cause only when no cause signature
    /// matches at all.
    public var symptom: Bool?

    public var isSymptom: Bool { symptom ?? false }

    public init(rootCause: FailureClass, confidence: Double, explanation: String, specifics: [String]? = nil,
                symptom: Bool? = nil) {
        self.rootCause = rootCause
        self.confidence = confidence
        self.explanation = explanation
        self.specifics = specifics
        self.symptom = symptom
    }

    /// The `{name}` placeholders of the explanation.
    public var placeholders: [String] {
        var names: [String] = []
        var rest = Substring(explanation)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            names.append(String(after[..<close]))
            rest = after[after.index(after: close)...]
        }
        return names
    }

    /// The explanation with its placeholders filled; a specific that was not found reads
    /// `(unknown NAME)`.
    public func explain(_ specifics: [String: String]) -> String {
        var text = explanation
        for name in placeholders {
            text = text.replacing("{\(name)}", with: specifics[name] ?? "(unknown \(name))")
        }
        return text
    }
}

/// Shell-style patterns: `*` any run of characters, `?` one character, everything else
/// itself. The whole text must match.
public enum Glob {
    public static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        var pi = 0, ti = 0
        var star: Int?, resume = 0
        // Greedy with one backtrack point: the classic wildcard matcher, linear in
        // practice for the short patterns signatures use.
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                resume = ti
                pi += 1
            } else if let at = star {
                pi = at + 1
                resume += 1
                ti = resume
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
