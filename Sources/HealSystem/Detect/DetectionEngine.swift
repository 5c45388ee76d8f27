import HealCore
import Logging

/// The result of one detection run.
public struct DetectionReport: Sendable, Codable {
    /// A detector that could not look at all (its part of the system is unknown).
    public struct DetectorFailure: Sendable, Codable, Hashable {
        public var detector: String
        public var message: String
    }

    public var root: String
    public var quick: Bool
    /// Most severe first, then in boot-chain order.
    public var findings: [Finding]
    public var errors: [DetectorFailure]

    /// Healthy: nothing found and every detector could look.
    public var isHealthy: Bool { findings.isEmpty && errors.isEmpty }
}

/// Runs detectors over a root and collects their findings.
public struct DetectionEngine: Sendable {
    public var detectors: [any Detector]

    public init(detectors: [any Detector] = Detectors.all) {
        self.detectors = detectors
    }

    /// Runs every detector (only the quick ones when `quick`), in order. A detector that
    /// throws is recorded as an error and the others still run: one unreadable file must
    /// not hide the rest of the picture.
    public func run(_ context: DetectionContext, quick: Bool = false) -> DetectionReport {
        var findings: [Finding] = []
        var errors: [DetectionReport.DetectorFailure] = []
        for detector in detectors where !quick || detector.isQuick {
            do {
                let found = try detector.detect(context)
                context.logger.debug("detector ran", metadata: [
                    "detector": "\(detector.name)", "findings": "\(found.count)"])
                findings += found
            } catch {
                context.logger.warning("detector failed", metadata: [
                    "detector": "\(detector.name)", "error": "\(error)"])
                errors.append(.init(detector: detector.name, message: "\(error)"))
            }
        }
        findings = FindingOverlap.resolve(findings, root: context.root)
        findings.sort { ($0.severity, $0.failureClass) < ($1.severity, $1.failureClass) }
        return DetectionReport(root: context.root.path, quick: quick, findings: findings, errors: errors)
    }
}
