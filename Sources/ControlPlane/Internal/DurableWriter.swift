import Dispatch
import Foundation
import SQLite
import JSONSchemaKit

/// The SQLite side of the object store: one row per object (its JSON body and
/// resourceVersion) plus the global resourceVersion, written a batch (one group commit)
/// per transaction, so one fsync covers every change waiting at that moment.
///
/// After ``load()``, the connection is used only by ``write(_:)``, on the writer's own
/// thread, so the API server keeps serving (and collecting the next batch) while a
/// commit is fsynced.
///
/// `@unchecked Sendable`: ``load()`` runs before the first write, writes run only inside
/// `queue.async` blocks, and the API server never starts a batch before the previous one
/// finished, so SQLite is never entered from two threads at once.
final class DurableWriter: @unchecked Sendable {
    private let database: SQLiteDatabase
    private let queue = DispatchQueue(label: "tinyflow.control-plane.sqlite")

    /// Opens (or creates) the database at `path`; `fsync` false acknowledges writes once
    /// the OS has them (`synchronous=NORMAL`).
    init(path: String, fsync: Bool) throws {
        database = try SQLiteDatabase(path: path, fsync: fsync)
        try database.execute("""
            CREATE TABLE IF NOT EXISTS objects (
                storage_key TEXT NOT NULL, object_key TEXT NOT NULL, resource_version INTEGER NOT NULL,
                body TEXT NOT NULL, PRIMARY KEY (storage_key, object_key));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """)
    }

    /// Everything on disk: the global resourceVersion and the objects by resource and key.
    /// Rows whose body does not parse are skipped. Call before the first ``write(_:)``.
    func load() throws -> (resourceVersion: Int, objects: [String: [String: JSONValue]]) {
        let stored = try database.query("SELECT value FROM meta WHERE key = 'resourceVersion'")
        let resourceVersion = Int(stored.first?.first?.int ?? 0)
        var objects: [String: [String: JSONValue]] = [:]
        for row in try database.query("SELECT storage_key, object_key, body FROM objects") {
            guard let storageKey = row[0].text, let key = row[1].text, let body = row[2].text,
                  let object = try? JSONValue(parsing: Data(body.utf8)) else { continue }
            objects[storageKey, default: [:]][key] = object
        }
        return (resourceVersion, objects)
    }

    /// Writes `changes` (in resourceVersion order) in one transaction, with the last one's
    /// resourceVersion as the global one. The bodies are serialised here, off the API server.
    func write(_ changes: [ChangeRecord]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                do {
                    let database = self.database
                    try database.transaction {
                        for change in changes {
                            switch change.type {
                            case .added, .modified:
                                try database.query(
                                    "INSERT OR REPLACE INTO objects (storage_key, object_key, resource_version, body) VALUES (?, ?, ?, ?)",
                                    [.text(change.storageKey), .text(change.key), .int(Int64(change.resourceVersion)), .text(change.object.jsonString)])
                            case .deleted:
                                try database.query("DELETE FROM objects WHERE storage_key = ? AND object_key = ?",
                                                   [.text(change.storageKey), .text(change.key)])
                            }
                        }
                        if let last = changes.last {
                            try database.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?)",
                                               [.int(Int64(last.resourceVersion))])
                        }
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
