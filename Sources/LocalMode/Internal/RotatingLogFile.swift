import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a log file could not be opened.
struct LogFileError: Error, CustomStringConvertible {
    /// The log file.
    var path: String
    /// The `errno` of the failed call.
    var code: Int32

    var description: String { "log file \(path): \(String(cString: strerror(code)))" }
}

/// A log file that never grows past ``LogFileLimit/maxBytes``: before a write would pass it,
/// the file is renamed to `PATH.1` (`PATH.1` to `PATH.2`, …, the oldest beyond
/// ``LogFileLimit/rotatedFiles`` is replaced) and a new `PATH` is started, so all of them
/// together hold at most ``LogFileLimit/totalBytes``.
///
/// Files are created 0600 whatever the umask (an existing `PATH` is tightened to 0600), a
/// missing directory 0700. Output arrives in chunks that may end mid-line: the unfinished
/// line is held (up to ``maximumHeldLine`` bytes) until its end arrives, so rotation
/// happens at the end of a line; only a line longer than that, or than a whole file, is cut. A write that fails (disk full) is
/// dropped: a child's output is never held back for it. When the file cannot be rotated
/// (a rename fails) it is emptied instead, so the bound holds.
///
/// Not thread-safe: its owner serialises every call (``ChildLog`` holds it in a mutex).
struct RotatingLogFile: ~Copyable {
    /// The current file.
    let path: String
    /// How large the files may grow and how many are kept.
    let limit: LogFileLimit
    private var descriptor: Int32
    /// The size of the current file.
    private(set) var size: Int
    /// The end of the last chunk after its last newline: a line whose end has not arrived.
    private var heldLine: [UInt8] = []
    /// The longest unfinished line held back; a longer one is written as it is.
    static let maximumHeldLine = 16 * 1024

    /// Opens (creating if needed) `path` for appending.
    init(path: String, limit: LogFileLimit) throws(LogFileError) {
        self.path = path
        self.limit = limit
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        // When this fails, opening the file below says why.
        try? FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let descriptor = Self.openPrivate(path)
        guard descriptor >= 0 else { throw LogFileError(path: path, code: errno) }
        size = max(Int(lseek(descriptor, 0, SEEK_END)), 0)
        self.descriptor = descriptor
    }

    deinit {
        if descriptor >= 0 { closeDescriptor(descriptor) }
    }

    /// Closes the file (after writing a held unfinished line); later writes reopen it.
    mutating func close() {
        writeHeldLine()
        if descriptor >= 0 { closeDescriptor(descriptor) }
        descriptor = -1
    }

    /// Appends `bytes`: its complete lines now (after a held line they finish), what follows
    /// its last newline once the line ends.
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let newline = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
            heldLine.append(contentsOf: bytes)
            if heldLine.count > Self.maximumHeldLine { writeHeldLine() }
            return
        }
        let lines = UnsafeRawBufferPointer(rebasing: bytes[...newline])
        if heldLine.isEmpty {
            writeRotating(lines)
        } else {
            heldLine.append(contentsOf: lines)
            let joined = heldLine
            heldLine = []
            joined.withUnsafeBytes { writeRotating($0) }
        }
        heldLine.append(contentsOf: bytes[(newline + 1)...])
    }

    /// Writes the held unfinished line as it is (the pipe ended, or the line is too long).
    mutating func writeHeldLine() {
        guard !heldLine.isEmpty else { return }
        let line = heldLine
        heldLine = []
        line.withUnsafeBytes { writeRotating($0) }
    }

    /// Appends `bytes`, rotating first whenever the current file would pass the limit.
    private mutating func writeRotating(_ bytes: UnsafeRawBufferPointer) {
        var rest = bytes[...]
        while !rest.isEmpty {
            let room = limit.maxBytes - size
            if rest.count <= room {
                append(UnsafeRawBufferPointer(rebasing: rest))
                return
            }
            var cut = 0
            if room > 0, let newline = rest.prefix(room).lastIndex(of: UInt8(ascii: "\n")) {
                cut = newline - rest.startIndex + 1
            } else if room > 0, size == 0 {
                cut = room  // one line longer than a whole file
            }
            if cut > 0 {
                append(UnsafeRawBufferPointer(rebasing: rest.prefix(cut)))
                rest = rest.dropFirst(cut)
            }
            rotate()
        }
    }

    /// `PATH.N`, the `index`th rotated file (1 is the newest).
    func rotatedPath(_ index: Int) -> String { "\(path).\(index)" }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if descriptor < 0 {
            descriptor = Self.openPrivate(path)
            guard descriptor >= 0 else { return }
        }
        var offset = 0
        while offset < bytes.count, let base = bytes.baseAddress {
            let written = writeDescriptor(descriptor, base + offset, bytes.count - offset)
            if written > 0 {
                offset += written
                size += written
            } else if written < 0, errno == EINTR {
                continue
            } else {
                return  // dropped: the disk is full or the file went away
            }
        }
    }

    private mutating func rotate() {
        if limit.rotatedFiles > 0 {
            for index in stride(from: limit.rotatedFiles - 1, through: 1, by: -1) {
                _ = rename(rotatedPath(index), rotatedPath(index + 1))
            }
            if rename(path, rotatedPath(1)) == 0 {
                close()
                descriptor = Self.openPrivate(path, truncate: true)
                size = 0
                return
            }
        }
        // Nothing kept, or the file cannot be renamed: start it again from empty.
        if descriptor >= 0 { _ = ftruncate(descriptor, 0) }
        size = 0
    }

    /// Opens `path` for appending with mode 0600 exactly (creating it, or tightening it).
    private static func openPrivate(_ path: String, truncate: Bool = false) -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0o600)
        if descriptor >= 0 { _ = fchmod(descriptor, 0o600) }
        return descriptor
    }
}

/// Closes a file descriptor (`close` inside the types here is their own method).
func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// `write(2)` (`write` inside ``RotatingLogFile`` is its own method).
private func writeDescriptor(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}
