import FoundationEssentials
import HealCore

// Fuzzes the fix package manifest as `FixPackage.open` and the ledger's state reader
// decode it: `JSONDecoder().decode(FixManifest.self, from:)` on `manifest.json`.
//
// Property: a manifest that decodes encodes again (as `FixPackage.write` writes it),
// and that JSON decodes to an equal manifest.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFixManifest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = fuzzInput(data, size)
    guard let manifest = try? JSONDecoder().decode(FixManifest.self, from: Data(bytes)) else { return 0 }
    do {
        // As FixPackage.write encodes it.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let encoded = try encoder.encode(manifest)
        let decoded = try JSONDecoder().decode(FixManifest.self, from: encoded)
        require(decoded == manifest, "a manifest encoded and decoded again is another manifest")
    } catch {
        require(false, "a decoded manifest does not round-trip: \(error)")
    }
    return 0
}
