import ContextStoreAPI
import SQLite
import Synchronization

/// A read connection behind its lock.
final class ReaderSlot: Sendable {
    let connection: Mutex<ReadConnection?>

    init(_ connection: sending ReadConnection) {
        self.connection = Mutex(connection)
    }
}

/// A read connection (`query_only`) and its statements, compiled once.
struct ReadConnection {
    let database: SQLiteDatabase
    /// `?1…?4`: scope and key; `?5`: now. Columns: version, expires_at, value.
    let get: SQLiteDatabase.Statement
    /// `?1…?3`: scope; `?4`: prefix; `?5`: now. Column: key, in byte order from the prefix on.
    let keys: SQLiteDatabase.Statement
    let ping: SQLiteDatabase.Statement

    init(_ database: SQLiteDatabase) throws {
        self.database = database
        get = try database.prepare("""
            SELECT version, expires_at, value FROM context_entries
            WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key = ?4 AND (expires_at IS NULL OR expires_at > ?5)
            """)
        keys = try database.prepare("""
            SELECT key FROM context_entries
            WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key >= ?4 AND (expires_at IS NULL OR expires_at > ?5)
            ORDER BY key
            """)
        ping = try database.prepare("SELECT last FROM context_version WHERE id = 1")
    }
}

/// The write connection and its statements, compiled once.
///
/// Its busy timeout is short: a statement that finds the file's write lock held by another
/// process fails with `SQLITE_BUSY` after a few milliseconds, and the store waits for the
/// lock asynchronously (``LockWait``) instead of on a thread.
struct WriteConnection {
    let database: SQLiteDatabase
    let begin: SQLiteDatabase.Statement
    let commit: SQLiteDatabase.Statement
    let rollback: SQLiteDatabase.Statement
    /// `?1…?4`: scope and key. Columns: version, expires_at, value (expired rows too).
    let current: SQLiteDatabase.Statement
    /// `?1…?4`: scope and key; `?5`: version; `?6`: expires_at; `?7`: value.
    let upsert: SQLiteDatabase.Statement
    /// `?1…?4`: scope and key. Returns the removed row's expires_at.
    let delete: SQLiteDatabase.Statement
    /// `?1…?3`: scope. Returns each removed row's expires_at.
    let deleteAll: SQLiteDatabase.Statement
    /// `?1…?3`: scope; `?4`: now.
    let purgeExpired: SQLiteDatabase.Statement
    /// `?1…?3`: scope; `?4`: the most rows worth counting.
    let countKeys: SQLiteDatabase.Statement
    /// The next version of the store-wide sequence.
    let nextVersion: SQLiteDatabase.Statement

    init(_ database: SQLiteDatabase) throws {
        self.database = database
        begin = try database.prepare("BEGIN IMMEDIATE")
        commit = try database.prepare("COMMIT")
        rollback = try database.prepare("ROLLBACK")
        current = try database.prepare("""
            SELECT version, expires_at, value FROM context_entries
            WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key = ?4
            """)
        upsert = try database.prepare("""
            INSERT INTO context_entries (namespace, kind, name, key, version, expires_at, value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (namespace, kind, name, key)
            DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at, value = excluded.value
            """)
        delete = try database.prepare("""
            DELETE FROM context_entries WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key = ?4
            RETURNING expires_at
            """)
        deleteAll = try database.prepare("""
            DELETE FROM context_entries WHERE namespace = ?1 AND kind = ?2 AND name = ?3 RETURNING expires_at
            """)
        purgeExpired = try database.prepare("""
            DELETE FROM context_entries WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND expires_at <= ?4
            """)
        countKeys = try database.prepare("""
            SELECT count(*) FROM (
                SELECT 1 FROM context_entries WHERE namespace = ?1 AND kind = ?2 AND name = ?3 LIMIT ?4)
            """)
        nextVersion = try database.prepare("UPDATE context_version SET last = last + 1 WHERE id = 1 RETURNING last")
    }

    /// Whether no transaction is open: after a failed write, whether it left nothing behind,
    /// so trying it again from the start is safe.
    var isOutsideTransaction: Bool { database.isAutocommit }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the file's write lock is taken first,
    /// so what `body` reads cannot change before it writes. `body` gets the time once the
    /// lock is held, in Unix milliseconds. Commits when `body` returns, rolls back when it
    /// throws (or when `COMMIT` fails).
    func transaction<T>(_ body: (_ now: Int64) throws -> T) throws -> T {
        let now = try beginTransaction()
        do {
            let result = try body(now)
            try commitTransaction()
            return result
        } catch {
            rollBackTransaction()
            throw error
        }
    }

    /// `BEGIN IMMEDIATE`; returns the time once the write lock is held, in Unix milliseconds.
    /// Fails with `SQLITE_BUSY` when another process keeps the lock past the busy timeout.
    func beginTransaction() throws -> Int64 {
        try run(begin)
        return SQLiteContextStore.nowMilliseconds()
    }

    /// `COMMIT`. When it fails the transaction may still be open: roll it back.
    func commitTransaction() throws {
        try run(commit)
    }

    /// Rolls back the open transaction, if any (a failed statement or `COMMIT` may have ended
    /// it already). ``isOutsideTransaction`` tells whether it worked.
    func rollBackTransaction() {
        if !database.isAutocommit { try? run(rollback) }
    }

    /// The key's row if it is live at `now` (its value text only when `readingValue`).
    func current(
        _ key: String, in scope: ContextScope, now: Int64, readingValue: Bool
    ) throws -> (version: Int64, expiresAt: Int64?, value: String)? {
        defer { current.reset() }
        try current.bind(scope, key: key)
        guard try current.step() else { return nil }
        let expiresAt = current.optionalInt64(at: 1)
        if let expiresAt, expiresAt <= now { return nil }
        return (current.int64(at: 0), expiresAt, readingValue ? current.text(at: 2) : "")
    }

    /// Before a new key is written: removes the scope's expired rows (they never count) and
    /// throws ``ContextStoreError/tooManyKeys(scope:limit:)`` when the scope is full.
    func makeRoomForNewKey(in scope: ContextScope, now: Int64, limit: Int) throws {
        do {
            defer { purgeExpired.reset() }
            try purgeExpired.bind(scope, key: nil)
            try purgeExpired.bind(now, at: 4)
            while try purgeExpired.step() {}
        }
        defer { countKeys.reset() }
        try countKeys.bind(scope, key: nil)
        try countKeys.bind(Int64(limit), at: 4)
        guard try countKeys.step() else { return }
        if countKeys.int64(at: 0) >= limit { throw ContextStoreError.tooManyKeys(scope: scope, limit: limit) }
    }

    /// Stores `value` (JSON text) under `key` with the next version of the sequence; returns it.
    @discardableResult
    func write(_ key: String, _ value: String, in scope: ContextScope, expiresAt: Int64?) throws -> Int64 {
        let version: Int64
        do {
            defer { nextVersion.reset() }
            guard try nextVersion.step() else {
                throw SQLiteError(code: 1, message: "the version counter row is missing")
            }
            version = nextVersion.int64(at: 0)
        }
        defer { upsert.reset() }
        try upsert.bind(scope, key: key)
        try upsert.bind(version, at: 5)
        try upsert.bind(expiresAt, at: 6)
        try upsert.bind(value, at: 7)
        while try upsert.step() {}
        return version
    }

    /// Removes the key's row, live or expired.
    func remove(_ key: String, in scope: ContextScope) throws {
        defer { delete.reset() }
        try delete.bind(scope, key: key)
        while try delete.step() {}
    }

    private func run(_ statement: SQLiteDatabase.Statement) throws {
        defer { statement.reset() }
        while try statement.step() {}
    }
}

extension SQLiteDatabase.Statement {
    /// Binds a scope to parameters 1…3 (namespace, kind, name) and `key`, if given, to 4.
    func bind(_ scope: ContextScope, key: String?) throws {
        try bind(scope.namespace, at: 1)
        try bind(scope.kind.rawValue, at: 2)
        try bind(scope.name, at: 3)
        if let key { try bind(key, at: 4) }
    }
}
