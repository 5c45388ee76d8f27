import Foundation

/// A folder under `.cache/` that one of the scripts/make-* scripts fills once and the suites
/// reuse: `done` marks it complete, `env` holds its facts as KEY=value lines, and its base
/// image is copied (sparse) for every test that writes to one.
public struct BuiltCache: Sendable {
    public let folder: String
    public let baseImage: String

    public init(_ name: String, baseImage: String) {
        folder = TestRoot.repository + "/.cache/" + name
        self.baseImage = folder + "/" + baseImage
    }

    public var isBuilt: Bool { FileManager.default.fileExists(atPath: folder + "/done") }

    public var environment: [String: String] {
        guard let text = try? String(contentsOfFile: folder + "/env", encoding: .utf8) else { return [:] }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return values
    }

    /// Copies the base image to `image` (sparse); the cache itself is never written.
    public func copyBase(to image: String) throws {
        let copy = try Tool.run("/bin/cp", ["--sparse=always", baseImage, image])
        guard copy.status == 0 else { throw Tool.Failure(message: "cp: \(copy.stderr)") }
    }
}
