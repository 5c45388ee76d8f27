import FoundationEssentials
import HealCore

/// A site knowledge file that cannot be used, naming the file.
public struct KnowledgeFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// As the root sees it (`/etc/clarity-heal/knowledge.d/site.json`).
    public var path: String
    public var reason: String

    public var description: String { "cannot load knowledge file \(path): \(reason)" }
}

extension KnowledgeBase {
    /// Where a site adds signatures and confidence overrides, one JSON `KnowledgeFile` each.
    public static let siteDirectory = "/etc/clarity-heal/knowledge.d"

    /// `base` (the built-in table by default) extended by every `*.json` file in
    /// `<root>/etc/clarity-heal/knowledge.d`, in name order; a later file's signature
    /// replaces an earlier one with the same id.
    /// - Throws: `KnowledgeFileError` for the first file that cannot be read, decoded or
    ///   validated. A bad file stops the load: diagnosing with half a site's knowledge
    ///   would rank causes the site has ruled out.
    public static func load(root: SystemRoot, base: KnowledgeBase = .builtIn) throws(KnowledgeFileError) -> KnowledgeBase {
        var knowledge = base
        let names = root.files.entriesIfPresent(siteDirectory).filter { $0.hasSuffix(".json") }
        for name in names {
            let path = siteDirectory + "/" + name
            let bytes: [UInt8]
            do {
                bytes = try root.files.read(path, limit: 4 << 20)
            } catch {
                throw KnowledgeFileError(path: path, reason: error.description)
            }
            let file: KnowledgeFile
            do {
                file = try JSONDecoder().decode(KnowledgeFile.self, from: Data(bytes))
            } catch let error as DecodingError {
                throw KnowledgeFileError(path: path, reason: Self.describe(error))
            } catch {
                throw KnowledgeFileError(path: path, reason: "\(error)")
            }
            do throws(KnowledgeBase.Error) {
                try knowledge.add(file)
            } catch {
                throw KnowledgeFileError(path: path, reason: error.description)
            }
        }
        return knowledge
    }

    /// `at signatures[0].then.rootCause: …` from a decoding error.
    static func describe(_ error: DecodingError) -> String {
        func location(_ path: [any CodingKey]) -> String {
            guard !path.isEmpty else { return "the top level" }
            var text = ""
            for key in path {
                if let index = key.intValue { text += "[\(index)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
            }
            return text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "at \(location(context.codingPath)): missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            var text = "at \(location(context.codingPath)): \(context.debugDescription)"
            // The parser's own message says where the JSON breaks.
            if let underlying = context.underlyingError { text += " (\(underlying))" }
            return text
        @unknown default:
            return "\(error)"
        }
    }
}
