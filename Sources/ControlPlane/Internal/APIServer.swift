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

    let database: SQLiteDatabase
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

    init(databasePath: String, options: APIServerOptions, logger: Logger) throws {
        database = try SQLiteDatabase(path: databasePath, fsync: options.fsync)
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
    }

    /// Creates the namespaces every cluster has, on a new data directory.
    func seedIfEmpty() {
        guard objects[ResourceRegistry.namespaces.storageKey, default: [:]].isEmpty else { return }
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? create(type: ResourceRegistry.namespaces, version: "v1", namespace: nil,
                            body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]],
                            manager: "tinyflow-control-plane", dryRun: false, fieldValidation: "")
        }
        historyStart = resourceVersion
        history.removeAll()
    }

    func setServerAddress(_ address: String) { serverAddress = address }

    // MARK: Storage

    static func objectKey(namespace: String?, name: String) -> String { (namespace ?? "") + "/" + name }

    static func key(of object: JSONValue) -> String {
        objectKey(namespace: object["metadata"]?["namespace"]?.stringValue, name: object["metadata"]?["name"]?.stringValue ?? "")
    }

    /// Writes `object` (create or update) durably under a new resourceVersion and notifies watchers.
    func commitPut(_ type: ResourceType, _ object: JSONValue, previous: JSONValue?) throws -> JSONValue {
        let next = resourceVersion + 1
        var stored = object
        var metadata = stored["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        stored["metadata"] = .object(metadata)
        let key = Self.key(of: stored)
        let body = stored.jsonString
        do {
            try database.transaction {
                try database.query(
                    "INSERT OR REPLACE INTO objects (storage_key, object_key, resource_version, body) VALUES (?, ?, ?, ?)",
                    [.text(type.storageKey), .text(key), .int(Int64(next)), .text(body)])
                try database.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?)", [.int(Int64(next))])
            }
        } catch {
            throw APIError.internalError("storage write failed: \(error)")
        }
        resourceVersion = next
        objects[type.storageKey, default: [:]][key] = stored
        record(ChangeRecord(resourceVersion: next, type: previous == nil ? "ADDED" : "MODIFIED", storageKey: type.storageKey,
                            key: key, object: stored, previous: previous))
        return stored
    }

    /// Removes `object` durably under a new resourceVersion and notifies watchers.
    func commitDelete(_ type: ResourceType, _ object: JSONValue) throws -> JSONValue {
        let next = resourceVersion + 1
        let key = Self.key(of: object)
        do {
            try database.transaction {
                try database.query("DELETE FROM objects WHERE storage_key = ? AND object_key = ?", [.text(type.storageKey), .text(key)])
                try database.query("INSERT OR REPLACE INTO meta (key, value) VALUES ('resourceVersion', ?)", [.int(Int64(next))])
            }
        } catch {
            throw APIError.internalError("storage write failed: \(error)")
        }
        resourceVersion = next
        objects[type.storageKey, default: [:]][key] = nil
        var final = object
        var metadata = final["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(next))
        final["metadata"] = .object(metadata)
        record(ChangeRecord(resourceVersion: next, type: "DELETED", storageKey: type.storageKey, key: key, object: final, previous: object))
        afterDelete(type, object)
        return final
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
    func compactHistory() {
        history.removeAll()
        historyStart = resourceVersion
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
            for key in (objects[type.storageKey] ?? [:]).keys.sorted() {
                if let object = objects[type.storageKey]?[key], filter.matches(object) {
                    initial.append(.event(type: "ADDED", object: object))
                }
            }
            initial.append(.bookmark(resourceVersion: resourceVersion, initialEventsEnd: true))
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
            for key in (objects[type.storageKey] ?? [:]).keys.sorted() {
                if let object = objects[type.storageKey]?[key], filter.matches(object) {
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
            deliver(.bookmark(resourceVersion: resourceVersion), to: id)
        }
    }

    func shutdown() {
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
        for change in history.reversed() where change.resourceVersion > version {
            if change.storageKey == type.storageKey { state[change.key] = change.previous }
        }
        return state
    }
}
