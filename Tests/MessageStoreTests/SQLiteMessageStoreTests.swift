import ComponentKit
import ContextStoreAPI
import ContextStoreSQLite
import Foundation
import JSONSchemaKit
import MessageStoreAPI
import SQLite
import Testing

/// What only the SQLite message store does: its file outlives the process, older files are
/// migrated, and it waits for other processes' write locks as the context store does.
@Suite("SQLite message store", .timeLimit(.minutes(1)))
struct SQLiteMessageStoreTests {
    @Test("messages, leases, attempts and dead letters survive closing and reopening the file; ids and tokens keep increasing")
    func survivesReopening() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let (context, messages) = try open(path)
        try await messages.enqueue([pending("leased"), pending("waiting"), pending("dead")], maxBacklog: 10)
        let claimed = try await messages.claim(from: counterIn, limit: 3, leaseDuration: .seconds(600)).messages
        try await messages.settle(
            Settlement(
                retried: [.init(lease: claimed[1].lease, availableAt: Date(), error: "again")],
                deadLettered: [.init(lease: claimed[2].lease, reason: .attemptsExhausted, error: "boom")]),
            maxBacklog: 10)
        await messages.close()
        await context.close()

        let (reopenedContext, reopened) = try open(path)
        #expect(try await reopened.backlog(of: counterIn) == 2)
        let dead = try await reopened.deadLetters(DeadLetterFilter(namespace: "default"), limit: 10)
        #expect(dead.map(\.message) == [claimed[2].message])
        #expect(dead.first?.reason == .attemptsExhausted && dead.first?.lastError == "boom")
        let again = try #require(try await reopened.claim(from: counterIn, limit: 10, leaseDuration: .seconds(600)).messages.first)
        #expect(again.message == claimed[1].message)
        #expect(again.attempts == 2 && again.lastError == "again")
        #expect(again.lease.token > claimed[0].lease.token)
        // The lease taken before closing is still held.
        try await reopened.settle(Settlement(acknowledged: [claimed[0].lease, again.lease]), maxBacklog: 10)
        try await reopened.enqueue([pending("new")], maxBacklog: 10)
        let new = try #require(try await reopened.claim(from: counterIn, limit: 1, leaseDuration: .seconds(600)).messages.first)
        #expect(new.lease.id > claimed[2].lease.id)
        await reopened.close()
        await reopenedContext.close()
    }

    @Test("a file of schema version 1 (context only) is migrated to version 2 and keeps its context")
    func migratesVersionOne() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            // The file as a context store of schema version 1 left it.
            let database = try SQLiteDatabase(path: path, fsync: false)
            try database.execute("""
                CREATE TABLE context_entries (
                    namespace TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, key TEXT NOT NULL,
                    version INTEGER NOT NULL, expires_at INTEGER, value TEXT NOT NULL,
                    PRIMARY KEY (namespace, kind, name, key)
                ) WITHOUT ROWID;
                CREATE INDEX context_entries_expiry ON context_entries (namespace, kind, name, expires_at)
                    WHERE expires_at IS NOT NULL;
                CREATE TABLE context_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
                INSERT INTO context_version (id, last) VALUES (1, 7);
                CREATE TABLE context_schema (version INTEGER NOT NULL);
                INSERT INTO context_schema (version) VALUES (1);
                INSERT INTO context_entries VALUES ('default', 'node', 'counter', 'count', 7, NULL, '41');
                """)
            database.close()
        }

        let (context, messages) = try open(path)
        #expect(try await context.get("count", in: counterScope) == ContextEntry(value: 41, version: 7))
        try await messages.enqueue([pending("job")], maxBacklog: 10)
        let claimed = try #require(try await messages.claim(from: counterIn, limit: 1, leaseDuration: .seconds(600)).messages.first)
        try await messages.settle(
            Settlement(
                acknowledged: [claimed.lease], contextMutations: [.increment(key: "count", scope: counterScope, by: 1, ttl: nil)]),
            maxBacklog: 10)
        let count = try #require(try await context.get("count", in: counterScope))
        #expect(count.value == 42 && count.version == 8)
        await messages.close()
        await context.close()

        let database = try SQLiteDatabase(path: path, fsync: false)
        #expect(try database.query("SELECT max(version) FROM context_schema") == [[.int(2)]])
        database.close()
    }

    @Test("a file with a newer schema than this version knows is refused, not changed")
    func refusesNewerSchema() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let store = try SQLiteContextStore(path: path)
        await store.close()
        let database = try SQLiteDatabase(path: path, fsync: false)
        try database.execute("UPDATE context_schema SET version = 3")

        let error = #expect(throws: ContextStoreError.self) { try SQLiteContextStore(path: path) }
        guard case .unavailable(_, let reason)? = error else { Issue.record("expected unavailable, got \(String(describing: error))"); return }
        #expect(reason.contains("schema version 3"), "\(reason)")
        #expect(try database.query("SELECT version FROM context_schema") == [[.int(3)]])
        database.close()
    }

    @Test("a claim waits for another process's write lock, reads go on meanwhile, and after the operation timeout it fails as unavailable")
    func waitsForAnotherProcessesLock() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let timeout = Duration.milliseconds(300)
        let context = try SQLiteContextStore(path: path, operationTimeout: timeout)
        let messages = SQLiteMessageStore(sharing: context)
        try await messages.enqueue([pending("job")], maxBacklog: 10)
        let other = try SQLiteDatabase(path: path, fsync: false)
        try other.execute("BEGIN IMMEDIATE")

        let start = ContinuousClock.now
        let error = await #expect(throws: MessageStoreError.self) {
            _ = try await messages.claim(from: counterIn, limit: 1, leaseDuration: .seconds(600))
        }
        guard case .unavailable(let store, let reason)? = error else {
            Issue.record("expected unavailable, got \(String(describing: error))")
            return
        }
        #expect(store == "sqlite:\(path)")
        #expect(reason.contains("locked by another process for 300 ms"), "\(reason)")
        #expect(ContinuousClock.now - start >= timeout)
        #expect(try await messages.backlog(of: counterIn) == 1)

        // Released before the timeout, the waiting claim goes through.
        let claim = Task { try await messages.claim(from: counterIn, limit: 1, leaseDuration: .seconds(600)) }
        try other.execute("ROLLBACK")
        #expect(try await claim.value.messages.map(\.message.payload) == ["job"])
        other.close()
        await messages.close()
        await context.close()
    }

    @Test("closing the message store leaves its context store open")
    func closingLeavesContextOpen() async throws {
        let path = temporaryDatabasePath()
        defer { removeDatabase(at: path) }
        let (context, messages) = try open(path)
        await messages.close()
        await #expect(throws: MessageStoreError.unavailable(store: "sqlite:\(path)", reason: "the store is closed")) {
            try await messages.enqueue([pending("job")], maxBacklog: 10)
        }
        try await context.set("k", to: 1, in: counterScope)
        #expect(try await context.get("k", in: counterScope)?.value == 1)
        await context.close()
        // A closed context store closes the file under the message stores made from it.
        let again = SQLiteMessageStore(sharing: context)
        await #expect(throws: MessageStoreError.unavailable(store: "sqlite:\(path)", reason: "the store is closed")) {
            _ = try await again.backlog(of: counterIn)
        }
    }

    private func open(_ path: String) throws -> (SQLiteContextStore, SQLiteMessageStore) {
        let context = try SQLiteContextStore(path: path)
        return (context, SQLiteMessageStore(sharing: context))
    }

    private func removeDatabase(at path: String) {
        try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent)
    }
}
