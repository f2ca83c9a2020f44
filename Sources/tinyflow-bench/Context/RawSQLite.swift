import CSQLite
import Foundation

/// The raw-engine baseline of the SQLite figures: one connection through SQLite's C API
/// running the statements `SQLiteContextStore` runs (the same SQL text, prepared once,
/// parameters bound from buffers made before the loop, no JSON, no Swift strings per
/// operation), in WAL mode with `synchronous=NORMAL` as the store opens its file.
///
/// Not thread-safe, like an SQLite connection opened with `SQLITE_OPEN_NOMUTEX`: one client
/// uses it at a time (a read connection per client; the write connection behind a lock).
final class RawSQLiteConnection: @unchecked Sendable {
    private let db: OpaquePointer
    private let get: OpaquePointer
    private let begin: OpaquePointer
    private let commit: OpaquePointer
    private let current: OpaquePointer
    private let upsert: OpaquePointer
    private let nextVersion: OpaquePointer
    private let namespace: RawText
    private let kind: RawText
    private let name: RawText

    /// Opens `path` (a file with the store's schema) with the scope `namespace/kind/name`.
    init(path: String, namespace: String, kind: String, name: String) throws {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            if let db { sqlite3_close(db) }
            throw ContextBenchError("sqlite3_open_v2(\(path)) failed: \(rc)")
        }
        self.db = db
        sqlite3_busy_timeout(db, 5000)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"] {
            guard sqlite3_exec(db, pragma, nil, nil, nil) == SQLITE_OK else {
                throw ContextBenchError("\(pragma): \(String(cString: sqlite3_errmsg(db)))")
            }
        }
        func prepare(_ sql: String) throws -> OpaquePointer {
            var statement: OpaquePointer?
            guard sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK, let statement else {
                throw ContextBenchError("prepare \(sql): \(String(cString: sqlite3_errmsg(db)))")
            }
            return statement
        }
        // The store's statements, word for word (Sources/ContextStoreSQLite/SQLiteContextStore.swift).
        get = try prepare("""
            SELECT version, expires_at, value FROM context_entries
            WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key = ?4 AND (expires_at IS NULL OR expires_at > ?5)
            """)
        begin = try prepare("BEGIN IMMEDIATE")
        commit = try prepare("COMMIT")
        current = try prepare("""
            SELECT version, expires_at, value FROM context_entries
            WHERE namespace = ?1 AND kind = ?2 AND name = ?3 AND key = ?4
            """)
        upsert = try prepare("""
            INSERT INTO context_entries (namespace, kind, name, key, version, expires_at, value)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT (namespace, kind, name, key)
            DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at, value = excluded.value
            """)
        nextVersion = try prepare("UPDATE context_version SET last = last + 1 WHERE id = 1 RETURNING last")
        self.namespace = RawText(namespace)
        self.kind = RawText(kind)
        self.name = RawText(name)
    }

    deinit {
        for statement in [get, begin, commit, current, upsert, nextVersion] { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    /// The store's `get`: returns the version plus the value's length (so nothing is skipped).
    func get(_ key: RawText) throws -> Int64 {
        defer { sqlite3_reset(get) }
        bindScope(get, key: key)
        sqlite3_bind_int64(get, 5, Self.nowMilliseconds())
        guard sqlite3_step(get) == SQLITE_ROW else { throw failure("get") }
        let version = sqlite3_column_int64(get, 0)
        let expires = sqlite3_column_type(get, 1) == SQLITE_NULL ? 0 : sqlite3_column_int64(get, 1)
        _ = sqlite3_column_text(get, 2)
        return version &+ expires &+ Int64(sqlite3_column_bytes(get, 2))
    }

    /// The store's `set` of an existing key: `BEGIN IMMEDIATE`, read the current row, draw a
    /// version, upsert, `COMMIT`. Returns the version.
    func set(_ key: RawText, to value: RawText) throws -> Int64 {
        try run(begin)
        do {
            _ = try readCurrent(key)
            let version = try drawVersion()
            try write(key, version: version, expiresAt: nil) { sqlite3_bind_text(upsert, 7, value.pointer, value.count, nil) }
            try run(commit)
            return version
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    /// The store's `increment` of an existing integer key: `BEGIN IMMEDIATE`, read the current
    /// row and its integer, draw a version, upsert the sum as text, `COMMIT`. Returns the sum.
    func increment(_ key: RawText, by amount: Int64) throws -> Int64 {
        try run(begin)
        do {
            guard let (old, expiresAt) = try readCurrent(key) else { throw ContextBenchError("increment: the key is missing") }
            let sum = old &+ amount
            let version = try drawVersion()
            try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 24) { buffer in
                let count = Self.format(sum, into: buffer)
                try write(key, version: version, expiresAt: expiresAt) {
                    sqlite3_bind_text(upsert, 7, buffer.baseAddress, count, nil)
                }
            }
            try run(commit)
            return sum
        } catch {
            sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
            throw error
        }
    }

    // MARK: - Steps

    /// The current row's integer value (0 when it is not one) and expiry, or nil when absent.
    private func readCurrent(_ key: RawText) throws -> (Int64, Int64?)? {
        defer { sqlite3_reset(current) }
        bindScope(current, key: key)
        switch sqlite3_step(current) {
        case SQLITE_ROW:
            let expiresAt: Int64? = sqlite3_column_type(current, 1) == SQLITE_NULL ? nil : sqlite3_column_int64(current, 1)
            guard let text = sqlite3_column_text(current, 2) else { return (0, expiresAt) }
            return (Self.parse(text, count: Int(sqlite3_column_bytes(current, 2))), expiresAt)
        case SQLITE_DONE: return nil
        default: throw failure("current")
        }
    }

    private func drawVersion() throws -> Int64 {
        defer { sqlite3_reset(nextVersion) }
        guard sqlite3_step(nextVersion) == SQLITE_ROW else { throw failure("next version") }
        let version = sqlite3_column_int64(nextVersion, 0)
        guard sqlite3_step(nextVersion) == SQLITE_DONE else { throw failure("next version") }
        return version
    }

    private func write(_ key: RawText, version: Int64, expiresAt: Int64?, bindValue: () -> Int32) throws {
        defer { sqlite3_reset(upsert) }
        bindScope(upsert, key: key)
        sqlite3_bind_int64(upsert, 5, version)
        if let expiresAt { sqlite3_bind_int64(upsert, 6, expiresAt) } else { sqlite3_bind_null(upsert, 6) }
        _ = bindValue()
        guard sqlite3_step(upsert) == SQLITE_DONE else { throw failure("upsert") }
    }

    private func run(_ statement: OpaquePointer) throws {
        defer { sqlite3_reset(statement) }
        guard sqlite3_step(statement) == SQLITE_DONE else { throw failure(String(cString: sqlite3_sql(statement))) }
    }

    private func bindScope(_ statement: OpaquePointer, key: RawText) {
        // SQLITE_STATIC (nil): the buffers outlive the statement's use of them.
        sqlite3_bind_text(statement, 1, namespace.pointer, namespace.count, nil)
        sqlite3_bind_text(statement, 2, kind.pointer, kind.count, nil)
        sqlite3_bind_text(statement, 3, name.pointer, name.count, nil)
        sqlite3_bind_text(statement, 4, key.pointer, key.count, nil)
    }

    private func failure(_ what: String) -> ContextBenchError {
        ContextBenchError("raw SQLite \(what): \(String(cString: sqlite3_errmsg(db)))")
    }

    /// Unix milliseconds, read as the store reads them (`Date`, a `clock_gettime` underneath).
    private static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// A decimal integer's value (digits with an optional leading minus).
    private static func parse(_ text: UnsafePointer<UInt8>, count: Int) -> Int64 {
        var index = 0
        var negative = false
        if count > 0, text[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
        }
        var value: Int64 = 0
        while index < count {
            value = value &* 10 &+ Int64(text[index] &- UInt8(ascii: "0"))
            index += 1
        }
        return negative ? -value : value
    }

    /// Writes `value` in decimal into `buffer` (24 bytes); returns the length.
    private static func format(_ value: Int64, into buffer: UnsafeMutableBufferPointer<CChar>) -> Int32 {
        var digits = value.magnitude
        var end = buffer.count
        repeat {
            end -= 1
            buffer[end] = CChar(UInt8(ascii: "0") + UInt8(digits % 10))
            digits /= 10
        } while digits > 0
        if value < 0 {
            end -= 1
            buffer[end] = CChar(UInt8(ascii: "-"))
        }
        let count = buffer.count - end
        if end > 0 {
            for index in 0..<count { buffer[index] = buffer[end + index] }
        }
        return Int32(count)
    }
}

/// UTF-8 text in a buffer of its own that lives as long as this value, for binding with
/// `SQLITE_STATIC` (no copy per operation).
final class RawText: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<CChar>
    let count: Int32

    init(_ text: String) {
        let bytes = Array(text.utf8)
        pointer = .allocate(capacity: max(bytes.count, 1))
        for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
        count = Int32(bytes.count)
    }

    deinit {
        pointer.deallocate()
    }
}
