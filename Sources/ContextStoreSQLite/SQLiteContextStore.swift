public import ContextStoreAPI
import Foundation
public import JSONSchemaKit
import SQLite
import Synchronization

/// A context store in one SQLite file: the default of `tinyflow up`, where the module
/// hosts of one machine — separate processes — share `<data>/context.db`, and what they
/// stored survives restarts.
///
/// The file is in WAL mode with `synchronous=NORMAL` (a commit survives a crashed process,
/// not a crashed machine). Every write of a key is one `BEGIN IMMEDIATE` transaction or one
/// statement, so it is atomic across processes; versions come from a one-row counter updated
/// in the same transaction, so every process draws from the same increasing sequence and a
/// key deleted and written again never gets a version handed out before. Expired rows are
/// removed lazily: those of a scope whenever a new key is written to it, besides `delete`
/// and `deleteAll`.
///
/// Concurrency: each store holds one write connection and a read connection per core (up
/// to 8), each behind a `Mutex` (which is what makes the store `Sendable`: no connection or
/// statement is ever touched outside its lock). A read takes whichever read connection is
/// free, so reads queue neither behind writes nor behind each other. Calls run SQLite
/// synchronously inside the async method instead of hopping to another thread: a read or a
/// write takes microseconds, less than a thread hop. A write may block its thread for up to the busy timeout (5 s)
/// while another process holds the file's write lock; that is rare and short (other
/// writers hold it for microseconds too) and accepted. Reads never wait for writers (WAL).
public final class SQLiteContextStore: ContextStore {
    /// The limits this store enforces.
    public let limits: ContextLimits
    /// The database file.
    public let path: String
    /// `sqlite:<path>`, as errors name the store.
    private let storeName: String
    /// One read connection per core, so concurrent reads run side by side instead of
    /// queueing (and handing a lock from thread to thread) on one.
    private let readers: [ReaderSlot]
    /// Where the next read starts looking for a free read connection.
    private let nextReader = Atomic<Int>(0)
    private let writer: Mutex<WriteConnection?>

    /// Opens the database file at `path`, creating it (and missing parent directories) and its
    /// schema if needed, or migrating an older schema. Throws
    /// ``ContextStoreError/unavailable(store:reason:)`` naming the path when the file cannot
    /// be opened or created, or holds a schema newer than this version knows.
    public init(path: String, limits: ContextLimits = ContextLimits()) throws {
        self.limits = limits
        self.path = path
        let storeName = "sqlite:\(path)"
        self.storeName = storeName
        func unavailable(_ reason: String) -> ContextStoreError { .unavailable(store: storeName, reason: reason) }

        guard !path.isEmpty, path != ":memory:" else {
            // SQLite would give each connection a private database of its own.
            throw unavailable("a context store needs a file; for one in memory use the memory store")
        }
        guard SQLiteDatabase.libraryVersionNumber >= 3_035_000 else {
            throw unavailable("SQLite \(SQLiteDatabase.libraryVersion) is too old, 3.35 or newer is needed (RETURNING)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw unavailable("cannot create the directory \(directory.path): \(error.localizedDescription)")
        }
        do {
            let writeDatabase = try SQLiteDatabase(path: path, fsync: false, busyTimeoutMilliseconds: Self.busyTimeout)
            try Schema.migrate(writeDatabase, store: storeName)
            writer = Mutex(try WriteConnection(writeDatabase))
            let readerCount = min(max(ProcessInfo.processInfo.activeProcessorCount, 2), 8)
            readers = try (0..<readerCount).map { _ in
                let readDatabase = try SQLiteDatabase(path: path, fsync: false, busyTimeoutMilliseconds: Self.busyTimeout)
                try readDatabase.execute("PRAGMA query_only=1")
                return ReaderSlot(try ReadConnection(readDatabase))
            }
        } catch let error as SQLiteError {
            throw unavailable("cannot open the database: \(error.message) (SQLite error \(error.code))")
        }
    }

    /// How long a connection waits for another one's lock before it gives up, in milliseconds.
    private static let busyTimeout: Int32 = 5000

    public func get(_ key: String, in scope: ContextScope) async throws -> ContextEntry? {
        let now = Self.nowMilliseconds()
        return try read { connection in
            let statement = connection.get
            defer { statement.reset() }
            try statement.bind(scope, key: key)
            try statement.bind(now, at: 5)
            guard try statement.step() else { return nil }
            return try Self.entry(statement, key: key)
        }
    }

    @discardableResult
    public func set(_ key: String, to value: JSONValue, in scope: ContextScope, ttl: Duration?) async throws -> Int64 {
        try limits.check(key: key)
        let encoded = try limits.encode(value, key: key)
        let limit = limits.maxKeysPerScope
        return try write { connection in
            try connection.transaction { now in
                if try connection.current(key, in: scope, now: now, readingValue: false) == nil {
                    try connection.makeRoomForNewKey(in: scope, now: now, limit: limit)
                }
                return try connection.write(key, encoded, in: scope, expiresAt: Self.expiry(now: now, ttl: ttl))
            }
        }
    }

    @discardableResult
    public func delete(_ key: String, in scope: ContextScope) async throws -> Bool {
        try write { connection in
            // One statement: atomic without a transaction of its own.
            let statement = connection.delete
            defer { statement.reset() }
            try statement.bind(scope, key: key)
            var removedLive = false
            let now = Self.nowMilliseconds()
            while try statement.step() {
                removedLive = removedLive || Self.isLive(expiresAt: statement.optionalInt64(at: 0), now: now)
            }
            return removedLive
        }
    }

    public func keys(in scope: ContextScope, prefix: String) async throws -> [String] {
        let now = Self.nowMilliseconds()
        return try read { connection in
            let statement = connection.keys
            defer { statement.reset() }
            try statement.bind(scope, key: prefix)
            try statement.bind(now, at: 5)
            // Rows come in byte order from the prefix on, so the keys with the prefix come
            // first and together: stop at the first one without it.
            var keys: [String] = []
            while try statement.step() {
                guard statement.withBytes(at: 0, { $0.starts(with: prefix.utf8) }) else { break }
                keys.append(statement.text(at: 0))
            }
            return keys
        }
    }

    public func compareAndSet(
        _ key: String, in scope: ContextScope, expecting expected: Int64?, to value: JSONValue?, ttl: Duration?
    ) async throws -> CompareAndSetOutcome {
        try limits.check(key: key)
        let encoded = try value.map { value throws(ContextStoreError) in try limits.encode(value, key: key) }
        let limit = limits.maxKeysPerScope
        return try write { connection in
            try connection.transaction { now in
                let current = try connection.current(key, in: scope, now: now, readingValue: true)
                guard current?.version == expected else {
                    return .conflict(current: try current.map { current in
                        ContextEntry(
                            value: try Self.decode(current.value, key: key), version: current.version,
                            expiresAt: current.expiresAt.map(Self.date))
                    })
                }
                guard let encoded else {
                    try connection.remove(key, in: scope)
                    return .written(version: nil)
                }
                if current == nil { try connection.makeRoomForNewKey(in: scope, now: now, limit: limit) }
                let version = try connection.write(key, encoded, in: scope, expiresAt: Self.expiry(now: now, ttl: ttl))
                return .written(version: version)
            }
        }
    }

    public func increment(_ key: String, by amount: Int, in scope: ContextScope, ttl: Duration?) async throws -> Int {
        try limits.check(key: key)
        let limit = limits.maxKeysPerScope
        return try write { connection in
            try connection.transaction { now in
                let sum: Int
                let expiresAt: Int64?
                if let current = try connection.current(key, in: scope, now: now, readingValue: true) {
                    let (result, overflow) = try Self.integer(current.value, key: key).addingReportingOverflow(amount)
                    if overflow { throw ContextStoreError.overflow(key: key) }
                    sum = result
                    expiresAt = current.expiresAt
                } else {
                    try connection.makeRoomForNewKey(in: scope, now: now, limit: limit)
                    sum = amount
                    expiresAt = Self.expiry(now: now, ttl: ttl)
                }
                try connection.write(key, String(sum), in: scope, expiresAt: expiresAt)
                return sum
            }
        }
    }

    /// ``ContextStore/update(_:in:ttl:maxAttempts:_:)`` done in one transaction: `transform`
    /// runs while this store holds the file's write lock, so it runs once and never conflicts
    /// (`maxAttempts` is unused), however many writers contend for the key. Keep `transform`
    /// quick: every writer of the file waits for it.
    ///
    /// The retrying default can starve a writer: under a fair lock, the writer that just won
    /// is always back in the queue, with a fresh version, before the ones that just lost.
    @discardableResult
    public func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        try limits.check(key: key)
        let limits = limits
        // Written out rather than with `write` and `transaction`: a closure holding both the
        // connection and the caller's `transform` would tie the connection to the caller.
        return try writer.withLock { connection in
            guard let connection else { throw ContextStoreError.unavailable(store: storeName, reason: "the store is closed") }
            do {
                let now = try connection.beginTransaction()
                do {
                    let current = try connection.current(key, in: scope, now: now, readingValue: true)
                    let old = try current.map { current throws(ContextStoreError) in try Self.decode(current.value, key: key) }
                    let next = try transform(old)
                    if let next {
                        let encoded = try limits.encode(next, key: key)
                        if current == nil {
                            try connection.makeRoomForNewKey(in: scope, now: now, limit: limits.maxKeysPerScope)
                        }
                        try connection.write(key, encoded, in: scope, expiresAt: Self.expiry(now: now, ttl: ttl))
                    } else {
                        try connection.remove(key, in: scope)
                    }
                    try connection.commitTransaction()
                    return next
                } catch {
                    connection.rollBackTransaction()
                    throw error
                }
            } catch {
                throw translated(error)
            }
        }
    }

    @discardableResult
    public func deleteAll(in scope: ContextScope) async throws -> Int {
        try write { connection in
            let statement = connection.deleteAll
            defer { statement.reset() }
            try statement.bind(scope, key: nil)
            var removedLive = 0
            let now = Self.nowMilliseconds()
            while try statement.step() {
                if Self.isLive(expiresAt: statement.optionalInt64(at: 0), now: now) { removedLive += 1 }
            }
            return removedLive
        }
    }

    public func checkAvailability() async throws {
        try read { connection in
            let statement = connection.ping
            defer { statement.reset() }
            _ = try statement.step()
        }
    }

    public func close() async {
        for reader in readers {
            reader.connection.withLock { connection in
                connection?.database.close()
                connection = nil
            }
        }
        writer.withLock { connection in
            connection?.database.close()
            connection = nil
        }
    }

    // MARK: - Connections

    /// Runs `body` with a free read connection (waiting for one only when all are busy),
    /// turning SQLite's errors into ``ContextStoreError``.
    private func read<T: Sendable>(_ body: @Sendable (ReadConnection) throws -> T) throws -> T {
        func run(_ connection: inout sending ReadConnection?) throws -> sending T {
            guard let connection else { throw ContextStoreError.unavailable(store: storeName, reason: "the store is closed") }
            return try translatingErrors { try body(connection) }
        }
        let start = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        for offset in 0..<readers.count {
            if let result = try readers[(start &+ offset) % readers.count].connection.withLockIfAvailable(run) {
                return result
            }
        }
        return try readers[start % readers.count].connection.withLock(run)
    }

    /// Runs `body` with the write connection, turning SQLite's errors into ``ContextStoreError``.
    private func write<T: Sendable>(_ body: @Sendable (WriteConnection) throws -> T) throws -> T {
        try writer.withLock { connection in
            guard let connection else { throw ContextStoreError.unavailable(store: storeName, reason: "the store is closed") }
            return try translatingErrors { try body(connection) }
        }
    }

    private func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw translated(error)
        }
    }

    /// A ``ContextStoreError`` for SQLite's errors; other errors as they are.
    private func translated(_ error: any Error) -> any Error {
        guard let error = error as? SQLiteError else { return error }
        let reason = error.isBusy
            ? "the database stayed locked by another process for \(Self.busyTimeout) ms (\(error.message))"
            : "\(error.message) (SQLite error \(error.code))"
        return ContextStoreError.unavailable(store: storeName, reason: reason)
    }

    // MARK: - Values and times

    /// Reads an entry from columns `version, expires_at, value`.
    private static func entry(_ statement: SQLiteDatabase.Statement, key: String) throws -> ContextEntry {
        let value = try statement.withBytes(at: 2) { bytes throws(ContextStoreError) in try decode(bytes, key: key) }
        return ContextEntry(
            value: value, version: statement.int64(at: 0), expiresAt: statement.optionalInt64(at: 1).map(date))
    }

    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, key: String) throws(ContextStoreError) -> JSONValue {
        do {
            return try JSONValue(parsing: Data(bytes))
        } catch {
            throw .corrupt(key: key, reason: error.description)
        }
    }

    private static func decode(_ text: String, key: String) throws(ContextStoreError) -> JSONValue {
        do {
            return try JSONValue(parsing: Data(text.utf8))
        } catch {
            throw .corrupt(key: key, reason: error.description)
        }
    }

    /// The integer a stored value holds, for `increment`.
    private static func integer(_ text: String, key: String) throws(ContextStoreError) -> Int {
        // Integers are stored as plain digits: skip the JSON parser for them.
        if let first = text.utf8.first, first != UInt8(ascii: "+"), let integer = Int(text) { return integer }
        let value = try decode(text, key: key)
        guard case .integer(let integer) = value else { throw .notAnInteger(key: key, found: value.typeName) }
        return integer
    }

    /// The time expiry is measured with, in Unix milliseconds.
    fileprivate static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    private static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    private static func isLive(expiresAt: Int64?, now: Int64) -> Bool {
        expiresAt.map { $0 > now } ?? true
    }

    /// When a key written at `now` with `ttl` expires, in Unix milliseconds (a partial
    /// millisecond rounds up; a time to live beyond the year 292 million saturates).
    private static func expiry(now: Int64, ttl: Duration?) -> Int64? {
        guard let ttl else { return nil }
        let (seconds, attoseconds) = ttl.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds > 0 ? .max : .min }
        let fraction = attoseconds / 1_000_000_000_000_000 + (attoseconds % 1_000_000_000_000_000 > 0 ? 1 : 0)
        let (milliseconds, overflow2) = whole.addingReportingOverflow(fraction)
        if overflow2 { return .max }
        let (expiry, overflow3) = now.addingReportingOverflow(milliseconds)
        if overflow3 { return milliseconds > 0 ? .max : .min }
        return expiry
    }
}

// MARK: - Schema

/// The tables, created or migrated when a store opens.
private enum Schema {
    /// One script per schema version: `migrations[n]` takes the database from version `n` to `n + 1`.
    /// Append to it; never change a script that shipped.
    static let migrations: [String] = [
        """
        CREATE TABLE context_entries (
            namespace TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            expires_at INTEGER,
            value TEXT NOT NULL,
            PRIMARY KEY (namespace, kind, name, key)
        ) WITHOUT ROWID;
        CREATE INDEX context_entries_expiry ON context_entries (namespace, kind, name, expires_at)
            WHERE expires_at IS NOT NULL;
        CREATE TABLE context_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
        INSERT INTO context_version (id, last) VALUES (1, 0);
        """,
    ]

    /// Brings the schema to the newest version, in one transaction, so two processes opening
    /// a new file at once do not both create it.
    static func migrate(_ database: SQLiteDatabase, store: String) throws {
        try database.transaction {
            try database.execute("CREATE TABLE IF NOT EXISTS context_schema (version INTEGER NOT NULL)")
            let current = try database.query("SELECT max(version) FROM context_schema").first?.first?.int ?? 0
            guard current <= migrations.count else {
                throw ContextStoreError.unavailable(
                    store: store,
                    reason: "the database has schema version \(current), this tinyflow knows up to \(migrations.count): upgrade tinyflow")
            }
            guard current < migrations.count else { return }
            for script in migrations[Int(current)...] {
                try database.execute(script)
            }
            try database.execute("DELETE FROM context_schema")
            try database.query("INSERT INTO context_schema (version) VALUES (?)", [.int(Int64(migrations.count))])
        }
    }
}

// MARK: - Prepared statements

/// A read connection behind its lock.
private final class ReaderSlot: Sendable {
    let connection: Mutex<ReadConnection?>

    init(_ connection: sending ReadConnection) {
        self.connection = Mutex(connection)
    }
}

/// A read connection and its statements, compiled once.
private struct ReadConnection {
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
private struct WriteConnection {
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

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the file's write lock is taken first
    /// (waiting up to the busy timeout for another process), so what `body` reads cannot
    /// change before it writes. `body` gets the time once the lock is held, in Unix
    /// milliseconds. Commits when `body` returns, rolls back when it throws.
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
    func beginTransaction() throws -> Int64 {
        try run(begin)
        return SQLiteContextStore.nowMilliseconds()
    }

    func commitTransaction() throws {
        try run(commit)
    }

    /// Rolls back the open transaction, if any (a failed `COMMIT` may have ended it already).
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
    fileprivate func bind(_ scope: ContextScope, key: String?) throws {
        try bind(scope.namespace, at: 1)
        try bind(scope.kind.rawValue, at: 2)
        try bind(scope.name, at: 3)
        if let key { try bind(key, at: 4) }
    }
}
