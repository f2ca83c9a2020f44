public import ContextStoreAPI
import AsyncPrimitives
import Foundation
public import JSONSchemaKit
import MessageStoreAPI
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
/// write takes microseconds, less than a thread hop. Reads never wait for writers (WAL).
/// Writers of this process queue on an ``AsyncLock`` before the write `Mutex`: a write that
/// waits for another one suspends its task instead of blocking its thread (with two threads
/// in the pool, a blocked one was half of them, and Linux spins on a contended `Mutex`).
///
/// Waiting for another process: the file has one write lock, and another process may hold
/// it for a while (a long transaction, a stalled process). A write never waits for it on a
/// thread of the concurrency pool for more than a moment: the write connection gives up
/// after a millisecond (its busy timeout), the write releases the `Mutex` and sleeps
/// (`Task.sleep`, a short random delay growing to 50 ms) before trying again, until
/// ``operationTimeout``; then it fails with ``ContextStoreError/unavailable(store:reason:)``.
/// A write that gave up wrote nothing. Cancelling the waiting task ends the wait with
/// `CancellationError`.
///
/// The same file holds the queues of durable edges: a ``SQLiteMessageStore`` made from this
/// store uses its connections, so that settling a message and the context writes its
/// handler made is one transaction.
public final class SQLiteContextStore: ContextStore {
    /// The limits this store enforces.
    public let limits: ContextLimits
    /// The database file.
    public let path: String
    /// How long a write may wait for another process to release the file's write lock before
    /// it fails with ``ContextStoreError/unavailable(store:reason:)``.
    public let operationTimeout: Duration
    /// `sqlite:<path>`, as errors name the store (and the message store sharing the file).
    let storeName: String
    /// One read connection per core, so concurrent reads run side by side instead of
    /// queueing (and handing a lock from thread to thread) on one.
    private let readers: [ReaderSlot]
    /// Where the next read starts looking for a free read connection.
    private let nextReader = Atomic<Int>(0)
    private let writer: Mutex<WriteConnection?>
    /// Where this process's writes wait for each other (their tasks suspended, their threads free).
    private let writeQueue = AsyncLock()

    /// Opens the database file at `path`, creating it (and missing parent directories) and its
    /// schema if needed, or migrating an older schema. A write waits up to `operationTimeout`
    /// for another process holding the file's write lock. Throws
    /// ``ContextStoreError/unavailable(store:reason:)`` naming the path when the file cannot
    /// be opened or created, or holds a schema newer than this version knows.
    ///
    /// Opening runs on the calling thread: it may wait up to `operationTimeout` there for a
    /// new file's schema to be created by another process.
    public init(path: String, limits: ContextLimits = ContextLimits(), operationTimeout: Duration = .seconds(5)) throws {
        self.limits = limits
        self.path = path
        self.operationTimeout = operationTimeout
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
            // A directory made here is the owner's only; an existing one is the user's choice.
            // The database files themselves are 0600 (SQLiteDatabase).
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw unavailable("cannot create the directory \(directory.path): \(error.localizedDescription)")
        }
        // Opening and reading wait for a lock on the thread: rare (creating the file, a WAL
        // recovery after a crash) and once per store or short.
        let openingBusyTimeout = Int32(clamping: Self.milliseconds(operationTimeout))
        do {
            let writeDatabase = try SQLiteDatabase(path: path, fsync: false, busyTimeoutMilliseconds: openingBusyTimeout)
            try Schema.migrate(writeDatabase, store: storeName)
            try writeDatabase.execute("PRAGMA busy_timeout=\(Self.writeBusyTimeout)")
            writer = Mutex(try WriteConnection(writeDatabase))
            let readerCount = min(max(ProcessInfo.processInfo.activeProcessorCount, 2), 8)
            readers = try (0..<readerCount).map { _ in
                let readDatabase = try SQLiteDatabase(path: path, fsync: false, busyTimeoutMilliseconds: openingBusyTimeout)
                try readDatabase.execute("PRAGMA query_only=1")
                return ReaderSlot(try ReadConnection(readDatabase))
            }
        } catch let error as SQLiteError {
            throw unavailable("cannot open the database: \(error.message) (SQLite error \(error.code))")
        }
    }

    /// How long a write statement waits on its thread, inside SQLite, for another process's
    /// write lock before it fails with `SQLITE_BUSY` and the write waits asynchronously, in
    /// milliseconds: one sleep of SQLite's busy handler, enough for the usual overlap with
    /// another process's microsecond write. No more, because the thread holds the write `Mutex`
    /// meanwhile and this store's other writers queue behind it on threads of their own: with
    /// 20 ms and four writers waiting out another process's lock, a 2-core machine ran other
    /// tasks up to 130 ms late; with 1 ms, under a millisecond.
    private static let writeBusyTimeout = 1

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
        return try await write { connection in
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
        try await write { connection in
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
        return try await write { connection in
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
        return try await write { connection in
            try connection.transaction { now in
                try connection.increment(key, by: amount, in: scope, ttl: ttl, now: now, maxKeysPerScope: limit)
            }
        }
    }

    /// ``ContextStore/update(_:in:ttl:_:)`` done in one transaction: `transform` runs while this
    /// store holds the file's write lock, so it never conflicts with another writer, however
    /// many contend for the key, and runs once. (Should SQLite report the file locked after
    /// `transform` ran, the transaction is rolled back and the whole update, `transform`
    /// included, runs again.) Keep `transform` quick: every writer of the file waits for it.
    ///
    /// The compare-and-set default (``ContextStore/compareAndSetLoop(_:in:ttl:maxAttempts:_:)``)
    /// can starve a writer: under a fair lock, the writer that just won is always back in the
    /// queue, with a fresh version, before the ones that just lost.
    @discardableResult
    public func update(
        _ key: String, in scope: ContextScope, ttl: Duration?, _ transform: (JSONValue?) throws -> JSONValue?
    ) async throws -> JSONValue? {
        try limits.check(key: key)
        let limits = limits
        /// An error of `transform`'s: rethrown as it is, never taken for SQLite's.
        struct TransformFailed: Error { var error: any Error }
        // Written out rather than with `write` and `transaction`: a closure holding both the
        // connection and the caller's `transform` would tie the connection to the caller.
        return try await waitingForWriteLock {
            try writer.withLock { connection in
                guard let connection else { throw closed(.context) }
                do {
                    let now = try connection.beginTransaction()
                    do {
                        let current = try connection.current(key, in: scope, now: now, readingValue: true)
                        let old = try current.map { current throws(ContextStoreError) in try Self.decode(current.value, key: key) }
                        let next: JSONValue?
                        do { next = try transform(old) } catch { throw TransformFailed(error: error) }
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
                        return .done(next)
                    } catch {
                        connection.rollBackTransaction()
                        throw error
                    }
                } catch let failure as TransformFailed {
                    throw failure.error
                } catch {
                    return .locked(try retryable(error, outsideTransaction: connection.isOutsideTransaction))
                }
            }
        }
    }

    @discardableResult
    public func deleteAll(in scope: ContextScope) async throws -> Int {
        try await write { connection in
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

    /// Whose errors an operation throws: the connections serve this store and the message
    /// store sharing its file (``SQLiteMessageStore``), and each reports SQLite's failures,
    /// a closed store and a lock that stayed held as its own protocol's `unavailable`.
    enum ErrorDomain: Sendable {
        /// ``ContextStoreError/unavailable(store:reason:)``.
        case context
        /// `MessageStoreError.unavailable(store:reason:)`.
        case messages
    }

    /// The `unavailable` error of `domain`, naming this store's file.
    func unavailable(_ reason: String, in domain: ErrorDomain) -> any Error {
        switch domain {
        case .context: ContextStoreError.unavailable(store: storeName, reason: reason)
        case .messages: MessageStoreError.unavailable(store: storeName, reason: reason)
        }
    }

    /// Runs `body` with a free read connection (waiting for one only when all are busy),
    /// turning SQLite's errors into `domain`'s.
    func read<T: Sendable>(in domain: ErrorDomain = .context, _ body: @Sendable (ReadConnection) throws -> T) throws -> T {
        func run(_ connection: inout sending ReadConnection?) throws -> sending T {
            guard let connection else { throw closed(domain) }
            return try translatingErrors(domain) { try body(connection) }
        }
        let start = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
        for offset in 0..<readers.count {
            if let result = try readers[(start &+ offset) % readers.count].connection.withLockIfAvailable(run) {
                return result
            }
        }
        return try readers[start % readers.count].connection.withLock(run)
    }

    /// What one try of a write came to.
    private enum WriteAttempt<T> {
        /// It ran and committed (failures other than the lock are thrown).
        case done(T)
        /// Another process held the file's write lock: nothing was written, no transaction is
        /// left open, so the whole write can be tried again.
        case locked(SQLiteError)
    }

    /// Runs `body` with the write connection, waiting while another process holds the file's
    /// write lock (``waitingForWriteLock(in:_:)``), turning SQLite's errors into `domain`'s.
    /// Errors `body` throws that are not SQLite's come out as they are.
    func write<T: Sendable>(
        in domain: ErrorDomain = .context, _ body: @Sendable (WriteConnection) throws -> T
    ) async throws -> T {
        try await waitingForWriteLock(in: domain) {
            try writer.withLock { connection in
                guard let connection else { throw closed(domain) }
                do {
                    return .done(try body(connection))
                } catch {
                    return .locked(try retryable(error, outsideTransaction: connection.isOutsideTransaction, in: domain))
                }
            }
        }
    }

    /// Runs `attempt` (one try of a write, under the write `Mutex`) until it is done. While it
    /// reports the file locked by another process, sleeps a short random while between tries
    /// (holding no lock, so the thread serves other tasks), until ``operationTimeout`` after
    /// the first try; then throws `domain`'s `unavailable`. A cancelled wait throws
    /// `CancellationError`.
    private func waitingForWriteLock<T: Sendable>(
        in domain: ErrorDomain = .context, _ attempt: () throws -> WriteAttempt<T>
    ) async throws -> T {
        let outcome: Result<T, any Error> = await writeQueue.withLock {
            do {
                return .success(try await retryingWhileLocked(in: domain, attempt))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// ``waitingForWriteLock(in:_:)``'s tries, once this process's earlier writes are done.
    private func retryingWhileLocked<T>(
        in domain: ErrorDomain, _ attempt: () throws -> WriteAttempt<T>
    ) async throws -> T {
        var wait = LockWait(timeout: operationTimeout, start: .now)
        while true {
            switch try attempt() {
            case .done(let result):
                return result
            case .locked(let error):
                guard let delay = wait.nextDelay(now: .now, random: .random(in: 0...1)) else {
                    throw unavailable(
                        "the database file stayed locked by another process for \(Self.describe(operationTimeout)) (\(error.message))",
                        in: domain)
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    /// `error` when it says another process held the file's write lock and the write left no
    /// transaction open (so trying it again from the start is safe); otherwise throws it,
    /// translated.
    private func retryable(_ error: any Error, outsideTransaction: Bool, in domain: ErrorDomain = .context) throws -> SQLiteError {
        if let error = error as? SQLiteError, error.isBusy, outsideTransaction { return error }
        throw translated(error, in: domain)
    }

    /// What operations on a closed store throw, as `domain`'s error.
    private func closed(_ domain: ErrorDomain) -> any Error { unavailable("the store is closed", in: domain) }

    private func translatingErrors<T>(_ domain: ErrorDomain, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw translated(error, in: domain)
        }
    }

    /// `domain`'s `unavailable` for SQLite's errors; other errors as they are.
    private func translated(_ error: any Error, in domain: ErrorDomain = .context) -> any Error {
        guard let error = error as? SQLiteError else { return error }
        return unavailable("\(error.message) (SQLite error \(error.code))", in: domain)
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
    static func integer(_ text: String, key: String) throws(ContextStoreError) -> Int {
        // Integers are stored as plain digits: skip the JSON parser for them.
        if let first = text.utf8.first, first != UInt8(ascii: "+"), let integer = Int(text) { return integer }
        let value = try decode(text, key: key)
        guard case .integer(let integer) = value else { throw .notAnInteger(key: key, found: value.typeName) }
        return integer
    }

    /// The time expiry is measured with, in Unix milliseconds.
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    /// A duration in whole milliseconds (rounded down).
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds > 0 ? .max : .min }
        let (sum, overflow2) = whole.addingReportingOverflow(attoseconds / 1_000_000_000_000_000)
        return overflow2 ? (whole > 0 ? .max : .min) : sum
    }

    /// `5 s`, `300 ms`: a timeout in a message.
    private static func describe(_ duration: Duration) -> String {
        let milliseconds = milliseconds(duration)
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000) s" : "\(milliseconds) ms"
    }

    static func date(_ milliseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    private static func isLive(expiresAt: Int64?, now: Int64) -> Bool {
        expiresAt.map { $0 > now } ?? true
    }

    /// When a key written at `now` with `ttl` expires, in Unix milliseconds (a partial
    /// millisecond rounds up; a time to live beyond the year 292 million saturates).
    static func expiry(now: Int64, ttl: Duration?) -> Int64? {
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
