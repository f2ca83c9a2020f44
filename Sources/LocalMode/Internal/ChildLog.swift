import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A supervised child's log: the child writes its stdout and stderr into a pipe, and a thread
/// of the supervisor copies what it reads into a ``RotatingLogFile``. The supervisor, not the
/// child, holds the file, so it can rotate it; the copy is bounded (one 64 KiB buffer per
/// pipe) and backpressured (while the file write waits, the pipe fills and the child's own
/// writes wait).
///
/// One `ChildLog` serves every incarnation of a child: each gets a pipe of its own
/// (``pipe()``), read until its end of file (the child and whatever inherited its output
/// exited) on a thread of its own (``pump(from:)``), since reading blocks.
final class ChildLog: Sendable {
    private let file: Mutex<RotatingLogFile>
    private let pumping = Mutex(0)

    /// How many bytes a pump reads at once.
    static let bufferSize = 64 * 1024

    /// A log at `path` limited by `limit` (the file is opened now).
    init(path: String, limit: LogFileLimit) throws(LogFileError) {
        file = Mutex(try RotatingLogFile(path: path, limit: limit))
    }

    /// A new pipe for one incarnation of the child: both ends close-on-exec and numbered 3 or
    /// above (so that setting up the child's 0, 1 and 2 cannot close one of them).
    static func pipe() throws(LogFileError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard makePipe(&ends) == 0 else { throw LogFileError(path: "<pipe>", code: errno) }
        var result: [Int32] = []
        for end in ends {
            if end >= 3 {
                result.append(end)
                continue
            }
            let moved = fcntl(end, F_DUPFD_CLOEXEC, 3)
            let code = errno
            closeDescriptor(end)
            guard moved >= 0 else {
                for descriptor in result { closeDescriptor(descriptor) }
                throw LogFileError(path: "<pipe>", code: code)
            }
            result.append(moved)
        }
        return (result[0], result[1])
    }

    /// Starts a thread that copies everything readable from `descriptor` into the file until
    /// the end of file (or an error), then closes `descriptor`.
    func pump(from descriptor: Int32) {
        pumping.withLock { $0 += 1 }
        let thread = Thread { [self] in
            copy(from: descriptor)
            closeDescriptor(descriptor)
            pumping.withLock { $0 -= 1 }
        }
        thread.name = "tinyflow child log"
        thread.start()
    }

    /// How many pipes are still being read.
    var activePumps: Int { pumping.withLock { $0 } }

    /// Closes the file; a pump still running reopens it for what it copies later.
    func close() {
        file.withLock { $0.close() }
    }

    private func copy(from descriptor: Int32) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.bufferSize, alignment: 1)
        defer { buffer.deallocate() }
        while let base = buffer.baseAddress {
            let count = read(descriptor, base, buffer.count)
            if count > 0 {
                file.withLock { $0.write(UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
            } else if count < 0, errno == EINTR {
                continue
            } else {
                file.withLock { $0.writeHeldLine() }
                return
            }
        }
    }
}

/// `pipe` with `FD_CLOEXEC` on both ends. (Another thread spawning meanwhile cannot pass
/// them on: ``spawn(_:output:closing:)`` closes everything above 2 in the child.)
private func makePipe(_ ends: inout [Int32]) -> Int32 {
    ends.withUnsafeMutableBufferPointer { buffer -> Int32 in
        guard let base = buffer.baseAddress, pipe(base) == 0 else { return -1 }
        _ = fcntl(base[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(base[1], F_SETFD, FD_CLOEXEC)
        return 0
    }
}
