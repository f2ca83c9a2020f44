import Foundation
@testable import LocalMode
import Testing
import TestSupport

extension RotatingLogFile {
    /// Appends `text`.
    mutating func write(_ text: String) {
        Array(text.utf8).withUnsafeBytes { write($0) }
    }
}

/// A fresh directory for log files, and its removal.
private func withLogDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-logs-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

private func contents(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

private func size(_ path: String) -> Int {
    FileManager.default.contents(atPath: path)?.count ?? 0
}

@Suite("Rotating log file")
struct RotatingLogFileTests {
    @Test("rotates at a line end before a file would pass its limit, keeps the newest files and drops the oldest")
    func rotatesAtLineEnds() throws {
        try withLogDirectory { directory in
            let path = directory.appendingPathComponent("child.log").path
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 100, rotatedFiles: 2))
            let lines = (0..<30).map { String(format: "line %02d of twenty\n", $0) }  // 19 bytes each
            for line in lines { file.write(line) }
            file.close()
            let kept = [path + ".2", path + ".1", path]
            for name in kept {
                #expect(size(name) <= 100, "\(name)")
                #expect(contents(name)?.hasSuffix("\n") == true, "\(name) ends with a whole line")
            }
            #expect(!FileManager.default.fileExists(atPath: path + ".3"))
            let joined = kept.compactMap(contents).joined()
            #expect(lines.joined().hasSuffix(joined), "the files hold the newest lines, in order")
            #expect(joined.hasSuffix(lines[29]))
            #expect(joined.count >= 200, "three files of five whole lines")
            for name in kept { #expect(octal(permissions(of: name)) == "0600", "\(name)") }
        }
    }

    @Test("a chunk of several lines is split between files at a line end")
    func splitsAChunkAtALineEnd() throws {
        try withLogDirectory { directory in
            let path = directory.appendingPathComponent("child.log").path
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 16, rotatedFiles: 1))
            file.write("aaaa\nbbbb\ncccc\ndddd\n")
            #expect(contents(path + ".1") == "aaaa\nbbbb\ncccc\n")
            #expect(contents(path) == "dddd\n")
        }
    }

    @Test("a line longer than a whole file is cut at the limit")
    func cutsAnOverlongLine() throws {
        try withLogDirectory { directory in
            let path = directory.appendingPathComponent("child.log").path
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 10, rotatedFiles: 5))
            file.write("short\n")
            file.write(String(repeating: "x", count: 25))
            #expect(contents(path) == "short\n", "an unfinished line is held")
            file.close()
            #expect(contents(path + ".3") == "short\n")
            #expect(contents(path + ".2") == String(repeating: "x", count: 10))
            #expect(contents(path + ".1") == String(repeating: "x", count: 10))
            #expect(contents(path) == String(repeating: "x", count: 5))
        }
    }

    @Test("a line that arrives in pieces is held until it ends, so it stays whole when the file rotates")
    func holdsAnUnfinishedLine() throws {
        try withLogDirectory { directory in
            let path = directory.appendingPathComponent("child.log").path
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 16, rotatedFiles: 1))
            file.write("aaaa\nbbbb\ncc")
            #expect(contents(path) == "aaaa\nbbbb\n")
            file.write("cccccc\ndd")
            #expect(contents(path + ".1") == "aaaa\nbbbb\n")
            #expect(contents(path) == "cccccccc\n")
            file.close()
            #expect(contents(path) == "cccccccc\ndd", "what is held is written when the file is closed")
        }
    }

    @Test("with no rotated files kept the file starts again from empty")
    func startsAgainWithoutRotatedFiles() throws {
        try withLogDirectory { directory in
            let path = directory.appendingPathComponent("child.log").path
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 12, rotatedFiles: 0))
            file.write("first line\n")
            file.write("second\n")
            #expect(contents(path) == "second\n")
            #expect(!FileManager.default.fileExists(atPath: path + ".1"))
        }
    }

    @Test("an existing log readable by others is made 0600 and appended to; a missing directory is made 0700")
    func tightensAnExistingLog() throws {
        try withLogDirectory { directory in
            let logs = directory.appendingPathComponent("logs")
            let path = logs.appendingPathComponent("child.log").path
            do {
                var file = try RotatingLogFile(path: path, limit: LogFileLimit())
                file.write("old\n")
            }
            #expect(octal(permissions(of: logs.path)) == "0700")
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            var file = try RotatingLogFile(path: path, limit: LogFileLimit(maxBytes: 100))
            #expect(file.size == 4)
            file.write("new\n")
            #expect(contents(path) == "old\nnew\n")
            #expect(octal(permissions(of: path)) == "0600")
        }
    }
}
