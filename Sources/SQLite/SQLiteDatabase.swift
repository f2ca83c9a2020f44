import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An error reported by SQLite.
public struct SQLiteError: Error, CustomStringConvertible {
    /// SQLite's result code (extended where SQLite gave one, e.g. `SQLITE_BUSY_SNAPSHOT`).
    public var code: Int32
    /// SQLite's message.
    public var message: String
    /// `SQLite error CODE: MESSAGE`.
    public var description: String { "SQLite error \(code): \(message)" }

    /// Creates an error.
    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// Whether another connection held a lock longer than the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`).
    public var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
}

/// A minimal synchronous SQLite connection.
///
/// Not thread-safe: its owner serialises every call (the control plane's `APIServer`
/// actor, a context store's lock). The same holds for its ``Statement``s.
public final class SQLiteDatabase {
    private var handle: OpaquePointer?
    private var cache: [String: Statement] = [:]

    /// The version of the SQLite library linked, e.g. `3.40.1`.
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// The version of the SQLite library linked as one number, e.g. `3040001`.
    public static var libraryVersionNumber: Int32 { sqlite3_libversion_number() }

    /// Opens (creating if needed) the database at `path` in WAL mode. With `fsync` each
    /// commit is flushed to disk (`synchronous=FULL`) and survives power loss; without it
    /// (`synchronous=NORMAL`) a commit survives the process crashing but not the machine.
    /// A connection that finds the database locked by another one retries for up to
    /// `busyTimeoutMilliseconds` before it fails with `SQLITE_BUSY`.
    ///
    /// The database file is readable and writable by its owner only (0600, whatever the
    /// umask), and so are the `-wal` and `-shm` files SQLite keeps beside it (SQLite gives
    /// them the main file's mode); existing files are tightened to 0600 when opened.
    public init(path: String, fsync: Bool = true, busyTimeoutMilliseconds: Int32 = 5000) throws {
        Self.makeOwnerOnly(path)
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            if let db { sqlite3_close(db) }
            throw SQLiteError(code: rc, message: message)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        // The busy timeout first: switching to WAL needs a lock another process may hold.
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        try execute("PRAGMA journal_mode=WAL")
        try execute(fsync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
    }

    deinit {
        close()
    }

    /// The files SQLite keeps beside a database: `path` plus one of these.
    private static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Creates the database file with mode 0600 if it is missing (SQLite would create it
    /// 0644 less the umask, and its WAL with the same mode) and tightens existing files of the
    /// database to 0600. Best effort: a file this user cannot change is left to SQLite's open
    /// to report. Named in-memory and URI databases are left alone.
    ///
    /// An existing file is never opened here: closing a descriptor of a file drops every POSIX
    /// lock the process holds on it, so the open-and-close would silently release the shared
    /// lock each connection of this process already open on the file holds (SQLite would not
    /// know). Without those locks, another process closing its last connection finds itself
    /// alone, checkpoints and deletes the WAL while this process still writes to it: commits
    /// made afterwards are lost. Only a file created here (`O_EXCL`: nobody holds locks on it
    /// yet) is opened and closed; an existing one is changed by path.
    private static func makeOwnerOnly(_ path: String) {
        guard !path.isEmpty, path != ":memory:", !path.hasPrefix("file:") else { return }
        let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            _ = fchmod(descriptor, 0o600)
            closeDescriptor(descriptor)
        } else {
            _ = chmod(path, 0o600)  // it exists (EEXIST), or SQLite's open reports why not
        }
        for suffix in companionSuffixes {
            _ = chmod(path + suffix, 0o600)  // ENOENT when SQLite has not made it (yet)
        }
    }

    /// Closes the connection; any later call fails with `SQLITE_MISUSE`. Statements still
    /// held elsewhere keep the connection's memory until they are released, but cannot run.
    public func close() {
        cache = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    /// Runs SQL that returns no rows.
    public func execute(_ sql: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? (handle == nil ? "the database is closed" : "unknown")
            sqlite3_free(error)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// A value bound to a statement parameter or read from a row.
    public enum Value: Sendable, Hashable {
        case int(Int64)
        case text(String)
        case null
    }

    /// Runs one statement with `parameters` and returns every row.
    @discardableResult
    public func query(_ sql: String, _ parameters: [Value] = []) throws -> [[Value]] {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(parameters)
        var rows: [[Value]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.value(at: $0) })
        }
        return rows
    }

    /// Compiles `sql` (one statement) into a ``Statement`` the caller keeps and runs many times.
    public func prepare(_ sql: String) throws -> Statement {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database is closed") }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
        }
        return Statement(statement)
    }

    /// The statement compiled from `sql`, compiled on first use and kept for the life of the
    /// connection (keyed by the SQL text). Call ``Statement/reset()`` when done with it.
    public func cachedStatement(_ sql: String) throws -> Statement {
        if let statement = cache[sql] { return statement }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Runs `body` inside a transaction, committing when it returns and rolling back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// How many rows the last INSERT, UPDATE or DELETE changed.
    public var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// Whether the connection is outside any transaction (autocommit mode).
    public var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }
}

extension SQLiteDatabase {
    /// One compiled SQL statement, run again and again without compiling it again: bind the
    /// parameters (numbered from 1), ``step()`` through the rows, read the columns (numbered
    /// from 0), then ``reset()`` — a statement left mid-way keeps its read transaction open.
    ///
    /// Not thread-safe, like its connection; it must not outlive the connection's use.
    public final class Statement {
        private let handle: OpaquePointer

        fileprivate init(_ handle: OpaquePointer) {
            self.handle = handle
        }

        deinit {
            sqlite3_finalize(handle)
        }

        /// Binds an integer to parameter `index` (from 1).
        public func bind(_ value: Int64, at index: Int32) throws {
            try check(sqlite3_bind_int64(handle, index, value))
        }

        /// Binds text to parameter `index` (from 1); the text may contain NUL characters.
        public func bind(_ value: String, at index: Int32) throws {
            var value = value
            let rc = value.withUTF8 { bytes in
                // An empty buffer may have no address, and a null address would bind NULL.
                guard let base = bytes.baseAddress, !bytes.isEmpty else {
                    return sqlite3_bind_text(handle, index, "", 0, transientDestructor)
                }
                return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    sqlite3_bind_text(handle, index, $0, Int32(bytes.count), transientDestructor)
                }
            }
            try check(rc)
        }

        /// Binds NULL to parameter `index` (from 1).
        public func bindNull(at index: Int32) throws {
            try check(sqlite3_bind_null(handle, index))
        }

        /// Binds an optional integer (`nil`: NULL) to parameter `index` (from 1).
        public func bind(_ value: Int64?, at index: Int32) throws {
            if let value { try bind(value, at: index) } else { try bindNull(at: index) }
        }

        /// Binds `values` to parameters 1, 2, ….
        public func bind(_ values: [Value]) throws {
            for (offset, value) in values.enumerated() {
                let index = Int32(offset + 1)
                switch value {
                case .int(let value): try bind(value, at: index)
                case .text(let value): try bind(value, at: index)
                case .null: try bindNull(at: index)
                }
            }
        }

        /// Advances to the next row: `true` when there is one to read, `false` when the
        /// statement is done. Throws what SQLite reports (`SQLITE_BUSY` after the busy timeout).
        public func step() throws -> Bool {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_ROW { return true }
            if rc == SQLITE_DONE { return false }
            throw error(rc)
        }

        /// Makes the statement ready to run again and clears its bindings. Cheap; call it
        /// after every run, also after a failed one.
        public func reset() {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }

        /// How many columns a row has.
        public var columnCount: Int32 { sqlite3_column_count(handle) }

        /// Whether column `index` (from 0) of the current row is NULL.
        public func isNull(at index: Int32) -> Bool {
            sqlite3_column_type(handle, index) == SQLITE_NULL
        }

        /// Column `index` (from 0) of the current row as an integer (NULL: 0).
        public func int64(at index: Int32) -> Int64 {
            sqlite3_column_int64(handle, index)
        }

        /// Column `index` (from 0) of the current row as an integer, `nil` when NULL.
        public func optionalInt64(at index: Int32) -> Int64? {
            isNull(at: index) ? nil : sqlite3_column_int64(handle, index)
        }

        /// Column `index` (from 0) of the current row as text (NULL: empty).
        public func text(at index: Int32) -> String {
            withBytes(at: index) { String(decoding: $0, as: UTF8.self) }
        }

        /// Column `index` (from 0) of the current row as text bytes (NULL: empty).
        public func data(at index: Int32) -> Data {
            withBytes(at: index) { Data($0) }
        }

        /// Calls `body` with the bytes of column `index` (from 0) of the current row as text,
        /// valid only during the call.
        public func withBytes<T>(at index: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
            let pointer = sqlite3_column_text(handle, index)
            let count = Int(sqlite3_column_bytes(handle, index))
            return try body(UnsafeBufferPointer(start: count == 0 ? nil : pointer, count: count))
        }

        /// Column `index` (from 0) of the current row as a ``Value``.
        public func value(at index: Int32) -> Value {
            switch sqlite3_column_type(handle, index) {
            case SQLITE_INTEGER: .int(sqlite3_column_int64(handle, index))
            case SQLITE_NULL: .null
            default: .text(text(at: index))
            }
        }

        private func check(_ rc: Int32) throws {
            if rc != SQLITE_OK { throw error(rc) }
        }

        private func error(_ rc: Int32) -> SQLiteError {
            let message = sqlite3_db_handle(handle).map { String(cString: sqlite3_errmsg($0)) } ?? "unknown"
            return SQLiteError(code: rc, message: message)
        }
    }
}

/// Closes a file descriptor (`close` inside ``SQLiteDatabase`` is its own method).
private func closeDescriptor(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// SQLite copies bound text before the bind call returns.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLiteDatabase.Value {
    /// The integer, if this is one.
    public var int: Int64? { if case .int(let v) = self { return v } else { return nil } }
    /// The text, if this is text.
    public var text: String? { if case .text(let v) = self { return v } else { return nil } }
}
