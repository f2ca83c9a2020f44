import ContextStoreSQLite
import Foundation
import SQLite
import Testing
import TestSupport

/// The POSIX locks `pid` holds on the file with inode `inode`, from `/proc/locks`
/// (`1: POSIX  ADVISORY  READ 1234 fe:00:5678 1073741826 1073742335`): the lock type of each.
private func locks(of pid: Int32, onInode inode: UInt64) -> [String] {
    guard let table = procFileText("/proc/locks") else { return [] }
    return table.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[1] == "POSIX", Int32(fields[4]) == pid,
            fields[5].split(separator: ":").last.flatMap({ UInt64($0) }) == inode
        else { return nil }
        return String(fields[3])
    }
}

@Suite("SQLite file locks", .enabled(if: FileManager.default.fileExists(atPath: "/proc/locks")))
struct SQLiteFileLockTests {
    // Closing any descriptor of a file drops every POSIX lock the process holds on it. Opening
    // a connection once did an open-and-close of the database file (to make it 0600), which
    // dropped the shared locks of the connections opened before: another process closing its
    // last connection then found itself alone, checkpointed and deleted the WAL that this
    // process still wrote to, and commits were lost (two module hosts sharing `context.db`).
    @Test("opening more connections to a file keeps the shared lock the open ones hold on it (SQLiteContextStore opens several)")
    func sharedLockSurvivesMoreConnections() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-locks-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("context.db").path
        let store = try SQLiteContextStore(path: path)
        let inode = try #require((try FileManager.default.attributesOfItem(atPath: path))[.systemFileNumber] as? UInt64)
        let pid = ProcessInfo.processInfo.processIdentifier
        #expect(locks(of: pid, onInode: inode).contains("READ"), "the store's connections hold no shared lock on \(path)")
        let another = try SQLiteDatabase(path: path, fsync: false)
        _ = try another.query("SELECT count(*) FROM sqlite_master")
        #expect(locks(of: pid, onInode: inode).contains("READ"), "opening one more connection dropped the shared lock")
        another.close()
        await store.close()
    }
}
