import CLinux
import Foundation

/// A loop device attached to an image for the length of a test.
///
/// Attached with `LOOP_CONFIGURE` and `LO_FLAGS_AUTOCLEAR` (loop(4)), and held by an open
/// descriptor: the kernel detaches the device when its last user closes it. That is this
/// object's release, or — when a test fails, throws, or the test process dies before any
/// clean-up ran — the end of the process. A mount made on it (`mount /dev/loopN …`) keeps
/// it until the mount goes. No `losetup -d` that could fail or never run.
public final class AttachedLoop: @unchecked Sendable {
    /// `/dev/loopN`.
    public let path: String
    private let descriptor: Int32

    /// Attaches `image` to a free loop device: read-only, or showing only the part from
    /// `offset` and at most `sizeLimit` bytes (as `losetup --read-only --offset
    /// --sizelimit`).
    public init(image: String, readOnly: Bool = false, offset: UInt64 = 0, sizeLimit: UInt64 = 0) throws {
        let backing = open(image, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
        guard backing >= 0 else { throw Self.failure("cannot open \(image)") }
        defer { close(backing) }
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        guard control >= 0 else { throw Self.failure("cannot open /dev/loop-control") }
        defer { close(control) }
        // Another process may take the free device first: try the next one.
        for _ in 0..<16 {
            let number = ioctl(control, UInt(LOOP_CTL_GET_FREE))
            guard number >= 0 else { throw Self.failure("no free loop device") }
            let device = "/dev/loop\(number)"
            let fd = open(device, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC)
            guard fd >= 0 else { throw Self.failure("cannot open \(device)") }
            var config = loop_config()
            config.fd = UInt32(backing)
            config.info.lo_offset = offset
            config.info.lo_sizelimit = sizeLimit
            config.info.lo_flags = UInt32(LO_FLAGS_AUTOCLEAR) | (readOnly ? UInt32(LO_FLAGS_READ_ONLY) : 0)
            withUnsafeMutableBytes(of: &config.info.lo_file_name) { name in
                for (index, byte) in image.utf8.prefix(name.count - 1).enumerated() { name[index] = byte }
            }
            if ioctl(fd, UInt(LOOP_CONFIGURE), &config) == 0 {
                path = device
                descriptor = fd
                return
            }
            let code = errno
            close(fd)
            guard code == EBUSY else {
                errno = code
                throw Self.failure("cannot attach \(image) to \(device)")
            }
        }
        throw Tool.Failure(message: "cannot attach \(image): every free loop device was taken first")
    }

    deinit { close(descriptor) }

    private static func failure(_ what: String) -> Tool.Failure {
        Tool.Failure(message: "\(what): \(String(cString: strerror(errno)))")
    }
}
