import Crypto
import FoundationEssentials

/// A signed body: the exact bytes signed, base64, and the Ed25519 signature over them. The
/// service checks the signature over the bytes before decoding them, so no canonical form of
/// JSON is needed and a changed byte fails.
public struct SignedEnvelope: Sendable, Hashable, Codable {
    /// The machine's id (enrollment), or `fleet` for what the fleet key signs.
    public var signer: String
    public var body: String
    public var signature: String

    public init(signer: String, body: String, signature: String) {
        self.signer = signer
        self.body = body
        self.signature = signature
    }

    public static func sign<T: Encodable>(_ value: T, signer: String, key: Curve25519.Signing.PrivateKey) throws -> SignedEnvelope {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = try encoder.encode(value)
        return SignedEnvelope(signer: signer, body: body.base64EncodedString(),
                              signature: try key.signature(for: body).base64EncodedString())
    }

    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case malformed(String)
        case badSignature

        public var description: String {
            switch self {
            case .malformed(let why): "malformed envelope: \(why)"
            case .badSignature: "the signature does not match the body and the signer's key"
            }
        }
    }

    /// The body's bytes when the signature is `key`'s over them.
    public func verifiedBody(key: Curve25519.Signing.PublicKey, limit: Int) throws(Refusal) -> Data {
        guard body.utf8.count <= limit * 4 / 3 + 4, let bytes = Data(base64Encoded: body) else { throw .malformed("body is not base64 or too large") }
        guard let signature = Data(base64Encoded: self.signature), signature.count == 64 else { throw .malformed("signature is not 64 bytes of base64") }
        guard key.isValidSignature(signature, for: bytes) else { throw .badSignature }
        return bytes
    }
}

extension Curve25519.Signing.PublicKey {
    /// From the base64 of its 32 raw bytes.
    public init(base64: String) throws {
        guard let raw = Data(base64Encoded: base64), raw.count == 32 else { throw SignedEnvelope.Refusal.malformed("key is not 32 bytes of base64") }
        try self.init(rawRepresentation: raw)
    }

    public var base64: String { rawRepresentation.base64EncodedString() }
}

/// Hex of SHA-256.
public func sha256Hex(_ text: String) -> String {
    SHA256.hash(data: Data(text.utf8)).hex
}

/// A read signed by the machine that makes it (`GET /v1/insights`, `/v1/rollouts…`): what a
/// machine is offered is for that machine alone, not for whoever knows its id. The machine
/// signs the method, the request target (path and query, as sent) and the time with its
/// key; the service checks the signature with the key the machine enrolled with, and the
/// time as it checks a submission's.
public enum SignedRequest {
    public static let machineHeader = "X-Clarity-Machine"
    public static let timeHeader = "X-Clarity-Time"
    public static let signatureHeader = "X-Clarity-Signature"

    static func message(method: String, target: String, time: Int64) -> Data {
        Data("clarity-fleet request\n\(method)\n\(target)\n\(time)".utf8)
    }

    /// The three headers that sign `method target` for `machine` at `time`.
    public static func headers(method: String, target: String, machine: String, time: Int64,
                               key: Curve25519.Signing.PrivateKey) throws -> [(String, String)] {
        let signature = try key.signature(for: message(method: method, target: target, time: time))
        return [(machineHeader, machine), (timeHeader, "\(time)"), (signatureHeader, signature.base64EncodedString())]
    }

    /// Whether `signature` is `key`'s over `method target` at `time`.
    public static func isValid(signature: String, method: String, target: String, time: Int64,
                               key: Curve25519.Signing.PublicKey) -> Bool {
        guard let bytes = Data(base64Encoded: signature), bytes.count == 64 else { return false }
        return key.isValidSignature(bytes, for: message(method: method, target: target, time: time))
    }
}
