import Dispatch
import Foundation
import JSONSchemaKit
import Logging

/// What a watch stream carries before it is rendered for the client.
enum WatchItem: Sendable {
    /// A change, with the object in storage form.
    case event(type: String, object: JSONValue)
    /// All changes up to this resourceVersion have been sent. `initialEventsEnd` marks the
    /// end of the initial state of a `sendInitialEvents=true` watch.
    case bookmark(resourceVersion: Int, initialEventsEnd: Bool = false)
    /// An `ERROR` event carrying a `Status`.
    case error(JSONValue)
}

/// One committed change, kept in the bounded in-memory history for resuming watches
/// and for consistent paginated lists.
struct ChangeRecord: Sendable {
    var resourceVersion: Int
    var type: String
    var storageKey: String
    var key: String
    var object: JSONValue
    var previous: JSONValue?
}

/// Tunables of the API server core.
struct APIServerOptions: Sendable {
    var historyCapacity: Int
    var watchBufferSize: Int
    var bookmarkInterval: Duration
    var defaultWatchTimeout: Duration
    var fsync: Bool = true
}

/// The heart of the control plane: the object store (write-through to SQLite, with an
/// in-memory copy for reads), the single global resourceVersion, the watch history
/// window, watch fan-out and every request's semantics. Serialising all of that in one
/// actor is what makes read-modify-write, resourceVersion checks and event order exact.
actor APIServer {
    struct Watcher {
        var storageKey: String
        var filter: ObjectFilter
        var bookmarks: Bool
        var continuation: AsyncStream<WatchItem>.Continuation
        var timeout: Task<Void, Never>?
    }

    let writer: DurableWriter
    let options: APIServerOptions
    let logger: Logger
    var registry = ResourceRegistry()
    /// storageKey → "namespace/name" → object.
    var objects: [String: [String: JSONValue]] = [:]
    var resourceVersion: Int = 0
    var history: [ChangeRecord] = []
    /// Watches from resourceVersions below this one get `410 Gone`.
    var historyStart: Int = 0
    var watchers: [Int: Watcher] = [:]
    var nextWatcherID = 0
    var bookmarkTask: Task<Void, Never>?
    var serverAddress = "127.0.0.1:0"
    /// Changes applied in memory but not yet on disk, oldest first (group commit).
    var pending: [PendingWrite] = []
    var flushing = false
    /// Every change up to this resourceVersion is on disk (and has been sent to watchers).
    var durableVersion = 0
    var durabilityWaiters: [(version: Int, continuation: CheckedContinuation<Void, Never>)] = []
    /// Set when a write to disk failed: memory and disk may differ, so the server stops serving.
    var storageFailure: String?

    init(databasePath: String, options: APIServerOptions, logger: Logger) throws {
        let database = try SQLiteDatabase(path: databasePath, fsync: options.fsync)
        writer = DurableWriter(database: database)
        self.options = options
        self.logger = logger
        try database.execute("""
            CREATE TABLE IF NOT EXISTS objects (
                storage_key TEXT NOT NULL, object_key TEXT NOT NULL, resource_version INTEGER NOT NULL,
                body TEXT NOT NULL, PRIMARY KEY (storage_key, object_key));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
            """)
        let stored = try database.query("SELECT value FROM meta WHERE key = 'resourceVersion'")
        resourceVersion = Int(stored.first?.first?.int ?? 0)
        var crds: [JSONValue] = []
        for row in try database.query("SELECT storage_key, object_key, body FROM objects") {
            guard let storageKey = row[0].text, let key = row[1].text, let body = row[2].text,
                  let object = try? JSONValue(parsing: Data(body.utf8)) else { continue }
            objects[storageKey, default: [:]][key] = object
            if storageKey == ResourceRegistry.customResourceDefinitions.storageKey { crds.append(object) }
        }
        for crd in crds { if let type = ResourceRegistry.resourceType(fromCRD: crd) { registry.register(type) } }
        historyStart = resourceVersion
        durableVersion = resourceVersion
    }

    /// Creates the namespaces every cluster has, on a new data directory.
    func seedIfEmpty() async {
        guard objects[ResourceRegistry.namespaces.storageKey, default: [:]].isEmpty else { return }
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? create(type: ResourceRegistry.namespaces, version: "v1", namespace: nil,
                            body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]],
                            manager: "tinyflow-control-plane", dryRun: false, fieldValidation: "")
        }
        await waitUntilDurable()
        historyStart = resourceVersion
        history.removeAll()
    }

    func setServerAddress(_ address: String) { serverAddress = address }

    // MARK: Storage

    static func objectKey(namespace: String?, name: String) -> String { (namespace ?? "") + "/" + name }

    static func key(of object: JSONValue) -> String {
        objectKey(namespace: object["metadata"]?["namespace"]?.stringValue, name: object["metadata"]?["name"]?.stringValue ?? "")
    }

    /// Stores `object` (create or update) under a new resourceVersion. The change is visible
    /// to later requests at once; it reaches disk with the next group commit, and requests
    /// answer only after that (see `handle`), so nothing is acknowledged before it is durable.
    func commitPut(_ type: ResourceType, _ object: JSONValue, previous: JSONValue?) throws -> JSONValue {
        if let storageFailure { throw APIError.internalError(storageFailure) }
        let next = resourceVersion + 1
        var stored = object
        var metadata = stored["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        stored["metadata"] = .object(metadata)
        let key = Self.key(of: stored)
        resourceVersion = next
        objects[type.storageKey, default: [:]][key] = stored
        enqueue(PendingWrite(
            operation: .put(storageKey: type.storageKey, key: key, resourceVersion: next, body: stored.jsonString),
            change: ChangeRecord(resourceVersion: next, type: previous == nil ? "ADDED" : "MODIFIED", storageKey: type.storageKey,
                                 key: key, object: stored, previous: previous)))
        return stored
    }

    /// Removes `object` under a new resourceVersion (durable as for `commitPut`).
    func commitDelete(_ type: ResourceType, _ object: JSONValue) throws -> JSONValue {
        if let storageFailure { throw APIError.internalError(storageFailure) }
        let next = resourceVersion + 1
        let key = Self.key(of: object)
        resourceVersion = next
        objects[type.storageKey, default: [:]][key] = nil
        var final = object
        var metadata = final["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        final["metadata"] = .object(metadata)
        enqueue(PendingWrite(
            operation: .delete(storageKey: type.storageKey, key: key, resourceVersion: next),
            change: ChangeRecord(resourceVersion: next, type: "DELETED", storageKey: type.storageKey, key: key, object: final, previous: object)))
        afterDelete(type, object)
        return final
    }

    // MARK: Group commit

    private func enqueue(_ write: PendingWrite) {
        pending.append(write)
        startFlushIfIdle()
    }

    private func startFlushIfIdle() {
        guard !flushing, !pending.isEmpty, storageFailure == nil else { return }
        flushing = true
        let batch = pending
        pending.removeAll()
        Task { await self.flush(batch) }
    }

    /// Writes one batch in one transaction (one fsync) off the actor, then publishes its
    /// changes to the history and the watchers, in resourceVersion order.
    private func flush(_ batch: [PendingWrite]) async {
        do {
            try await writer.write(batch.map(\.operation))
        } catch {
            storageFailure = "storage write failed: \(error)"
            logger.critical("storage write failed; the control plane stops serving", metadata: ["error": "\(error)"])
            for waiter in durabilityWaiters { waiter.continuation.resume() }
            durabilityWaiters.removeAll()
            flushing = false
            return
        }
        for write in batch { record(write.change) }
        durableVersion = batch.last?.change.resourceVersion ?? durableVersion
        var remaining: [(version: Int, continuation: CheckedContinuation<Void, Never>)] = []
        for waiter in durabilityWaiters {
            if waiter.version <= durableVersion { waiter.continuation.resume() } else { remaining.append(waiter) }
        }
        durabilityWaiters = remaining
        flushing = false
        startFlushIfIdle()
    }

    /// Returns once every change up to `version` is on disk (or storage failed).
    func waitUntilDurable(_ version: Int? = nil) async {
        let target = version ?? resourceVersion
        guard target > durableVersion, storageFailure == nil else { return }
        await withCheckedContinuation { continuation in
            durabilityWaiters.append((target, continuation))
        }
    }

    /// The objects of `type` as of `durableVersion`: memory without the changes not yet on disk.
    func durableObjects(_ type: ResourceType) -> [String: JSONValue] {
        var state = objects[type.storageKey] ?? [:]
        for write in pending.reversed() where write.change.storageKey == type.storageKey {
            state[write.change.key] = write.change.previous
        }
        return state
    }

    private func record(_ change: ChangeRecord) {
        history.append(change)
        if history.count > options.historyCapacity + max(16, options.historyCapacity / 4) {
            let drop = history.count - options.historyCapacity
            historyStart = history[drop - 1].resourceVersion
            history.removeFirst(drop)
        }
        for (id, watcher) in watchers where watcher.storageKey == change.storageKey {
            guard let item = Self.filtered(change, watcher.filter) else { continue }
            deliver(item, to: id)
        }
    }

    /// Forgets the retained history so that any watch or continue token older than now gets `410 Gone`.
    func compactHistory() async {
        await waitUntilDurable()
        history.removeAll()
        historyStart = durableVersion
    }

    // MARK: Watch

    static func filtered(_ change: ChangeRecord, _ filter: ObjectFilter) -> WatchItem? {
        switch change.type {
        case "ADDED":
            return filter.matches(change.object) ? .event(type: "ADDED", object: change.object) : nil
        case "DELETED":
            return filter.matches(change.previous ?? change.object) ? .event(type: "DELETED", object: change.object) : nil
        default:
            let was = change.previous.map(filter.matches) ?? false
            let now = filter.matches(change.object)
            switch (was, now) {
            case (true, true): return .event(type: "MODIFIED", object: change.object)
            case (false, true): return .event(type: "ADDED", object: change.object)
            case (true, false): return .event(type: "DELETED", object: change.object)
            case (false, false): return nil
            }
        }
    }

    private func deliver(_ item: WatchItem, to id: Int) {
        guard let watcher = watchers[id] else { return }
        if case .dropped = watcher.continuation.yield(item) {
            // A watcher that falls this far behind is closed; it resumes from its last resourceVersion.
            logger.debug("closing a watch that fell behind", metadata: ["watch": "\(id)"])
            endWatch(id)
        }
    }

    /// Starts a watch. `from` nil means "now, with synthetic ADDED events for every current object".
    func startWatch(type: ResourceType, filter: ObjectFilter, from: Int?, bookmarks: Bool, timeout: Duration?,
                    sendInitialEvents: Bool = false) -> AsyncStream<WatchItem> {
        var initial: [WatchItem] = []
        if sendInitialEvents {
            let state = durableObjects(type)
            for key in state.keys.sorted() {
                if let object = state[key], filter.matches(object) {
                    initial.append(.event(type: "ADDED", object: object))
                }
            }
            initial.append(.bookmark(resourceVersion: durableVersion, initialEventsEnd: true))
        } else if let from {
            if from < historyStart {
                let status = APIError.gone("too old resource version: \(from) (\(historyStart))").status
                return AsyncStream { continuation in
                    continuation.yield(.error(status))
                    continuation.finish()
                }
            }
            for change in history where change.resourceVersion > from && change.storageKey == type.storageKey {
                if let item = Self.filtered(change, filter) { initial.append(item) }
            }
        } else {
            let state = durableObjects(type)
            for key in state.keys.sorted() {
                if let object = state[key], filter.matches(object) {
                    initial.append(.event(type: "ADDED", object: object))
                }
            }
        }
        let (stream, continuation) = AsyncStream<WatchItem>.makeStream(
            bufferingPolicy: .bufferingOldest(options.watchBufferSize + initial.count))
        for item in initial { continuation.yield(item) }
        nextWatcherID += 1
        let id = nextWatcherID
        let limit = timeout ?? options.defaultWatchTimeout
        let timeoutTask = Task { [weak self] in
            try? await Task.sleep(for: limit)
            if !Task.isCancelled { await self?.endWatch(id) }
        }
        watchers[id] = Watcher(storageKey: type.storageKey, filter: filter, bookmarks: bookmarks, continuation: continuation, timeout: timeoutTask)
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeWatcher(id) }
        }
        startBookmarksIfNeeded()
        return stream
    }

    func endWatch(_ id: Int) {
        guard let watcher = watchers.removeValue(forKey: id) else { return }
        watcher.timeout?.cancel()
        watcher.continuation.finish()
    }

    private func removeWatcher(_ id: Int) {
        if let watcher = watchers.removeValue(forKey: id) { watcher.timeout?.cancel() }
    }

    /// Ends every open watch (clients see their streams close and re-watch).
    func closeAllWatches() {
        for id in Array(watchers.keys) { endWatch(id) }
    }

    var openWatchCount: Int { watchers.count }

    private func startBookmarksIfNeeded() {
        guard bookmarkTask == nil else { return }
        let interval = options.bookmarkInterval
        bookmarkTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                await self.sendBookmarks()
            }
        }
    }

    private func sendBookmarks() {
        for (id, watcher) in watchers where watcher.bookmarks {
            deliver(.bookmark(resourceVersion: durableVersion), to: id)
        }
    }

    func shutdown() async {
        await waitUntilDurable()
        bookmarkTask?.cancel()
        bookmarkTask = nil
        closeAllWatches()
    }

    // MARK: Lists

    /// The objects of `type` as they were at `version`, rebuilt from the history window.
    func snapshot(_ type: ResourceType, at version: Int) throws -> [String: JSONValue] {
        var state = objects[type.storageKey] ?? [:]
        guard version < resourceVersion else { return state }
        guard version >= historyStart else {
            throw APIError.gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
        }
        for change in (history + pending.map(\.change)).reversed() where change.resourceVersion > version {
            if change.storageKey == type.storageKey { state[change.key] = change.previous }
        }
        return state
    }
}

/// A change waiting for the next group commit.
struct PendingWrite: Sendable {
    var operation: DurableWriter.Operation
    var change: ChangeRecord
}

/// Owns the SQLite connection after start-up and writes batches on its own thread, so the
/// API server keeps serving (and collecting the next batch) while a commit is fsynced.
///
/// `@unchecked Sendable`: the connection is used only inside `queue.async` blocks, and
/// the API server never starts a batch before the previous one finished (`flushing`), so
/// SQLite is never entered from two threads at once.
final class DurableWriter: @unchecked Sendable {
    enum Operation: Sendable {
        case put(storageKey: String, key: String, resourceVersion: Int, body: String)
        case delete(storageKey: String, key: String, resourceVersion: Int)
    }

    private let database: SQLiteDatabase
    private let queue = DispatchQueue(label: "tinyflow.control-plane.sqlite")

    init(database: SQLiteDatabase) {
        self.database = database
    }

    func write(_ operations: [Operation]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async {
                do {
                    let database = self.database
                    var last = 0
                    try database.transaction {
                        for operation in operations {
                            switch operation {
                            case .put(let storageKey, let key, let version, let body):
                                try database.query(
                                    "INSERT OR REPLACE INTO objects (storage_key, object_key, resource_version, body) VALUES (?, ?, ?, ?)",
                                    [.text(storageKey), .text(key), .int(Int64(version)), .text(body)])
                                last = version
                            case .delete(let storageKey, let key, let version):
                                try database.query("DELETE FROM objects WHERE storage_key = ? AND object_key = ?", [.text(storageKey), .text(key)])
                                last = version
                            }
                        }
                        try database.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?)", [.int(Int64(last))])
                    }
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
