import Glibc

/// TEST HOOK for the power-loss tests, compiled into debug builds only: a release binary
/// (the one installed, and put into every initramfs) has no crash points, whatever its
/// environment says.
///
/// In a debug build it is inert unless `CLARITY_HEAL_CRASH_AFTER_STEP=N` is set. Apply,
/// rollback and recovery call `reached()` after every durable journal record and between
/// the write of a temporary file and its rename, and after the rename; the N-th call
/// (1-based) kills the process with SIGKILL, as a power cut would stop it (no cleanup, no
/// buffered output). A run that ends normally passed fewer than N points: a test raises N
/// until that happens, and so tries every point.
enum CrashPoint {
    #if DEBUG
    nonisolated(unsafe) private static var passed = 0
    private static let limit: Int? = getenv("CLARITY_HEAL_CRASH_AFTER_STEP")
        .flatMap { Int(String(cString: $0)) }

    /// Counts one crash point; kills the process when it is the chosen one.
    static func reached() {
        guard let limit else { return }
        passed += 1
        if passed == limit { raise(SIGKILL) }
    }
    #else
    /// Nothing: release builds have no crash points.
    @inline(__always)
    static func reached() {}
    #endif
}
