import Foundation
import JSONSchemaKit
import Logging

/// Tunables of the API server core.
struct APIServerOptions: Sendable {
    var historyCapacity: Int
    var watchBufferSize: Int
    var bookmarkInterval: Duration
    var defaultWatchTimeout: Duration
    var fsync: Bool = true
    /// The largest object stored, as JSON (``ControlPlaneLimits/maxObjectBytes``).
    var maxObjectBytes: Int = ControlPlaneLimits().maxObjectBytes
}

/// The heart of the control plane. It serialises every request and wires the parts,
/// each a value with one job:
///
/// * ``RouteParser`` turns a request into a typed route and options (`APIServer+Requests.swift`);
/// * ``Admission`` computes what a create, update or delete stores (`APIServer+Verbs.swift`
///   commits it and runs the side effects: CRDs, namespaces);
/// * ``ObjectStore`` holds the objects, the global resourceVersion and the change history;
/// * ``WatchHub`` holds the open watches and fans changes out to them;
/// * ``DurableWriter`` puts changes on disk, a group commit at a time.
///
/// Serialising in one actor is what makes read-modify-write, resourceVersion checks and
/// event order exact. Group commit: a change is applied to the store at once; a batch of
/// every change waiting at that moment is written in one transaction off the actor, then
/// its changes are published to the watchers and the requests that made or saw them are
/// answered (see ``handle(_:)``).
actor APIServer {
    /// A request waiting until a change it made or saw is on disk.
    struct DurabilityWaiter {
        let id: Int
        let version: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    let writer: DurableWriter
    let options: APIServerOptions
    let logger: Logger
    var registry = ResourceRegistry()
    var store: ObjectStore
    var hub: WatchHub
    /// Sends bookmarks every `bookmarkInterval` while a watch wants them; nil otherwise.
    var bookmarkTask: Task<Void, Never>?
    var serverAddress = "127.0.0.1:0"
    /// Whether a batch is being written now.
    var flushing = false
    /// Every change up to this resourceVersion has been handed to the writer.
    var submittedVersion: Int
    var durabilityWaiters: [DurabilityWaiter] = []
    /// Names the next durability waiter, so a cancelled one can be found.
    var nextWaiterID = 0
    /// Set when a write to disk failed: memory and disk may differ, so the server stops serving.
    var storageFailure: String?

    init(databasePath: String, options: APIServerOptions, logger: Logger) throws {
        writer = try DurableWriter(path: databasePath, fsync: options.fsync)
        self.options = options
        self.logger = logger
        let (resourceVersion, objects) = try writer.load()
        store = ObjectStore(historyCapacity: options.historyCapacity, resourceVersion: resourceVersion, objects: objects)
        hub = WatchHub(bufferSize: options.watchBufferSize)
        submittedVersion = resourceVersion
        for crd in (objects[ResourceRegistry.customResourceDefinitions.storageKey] ?? [:]).values {
            if let type = ResourceRegistry.resourceType(fromCRD: crd) { registry.register(type) }
        }
    }

    /// Creates the namespaces every cluster has, on a new data directory.
    func seedIfEmpty() async {
        guard store.objects(of: ResourceRegistry.namespaces.storageKey).isEmpty else { return }
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            _ = try? create(type: ResourceRegistry.namespaces, version: "v1", namespace: nil,
                            body: ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]],
                            manager: "tinyflow-control-plane", dryRun: false, fieldValidation: "")
        }
        await waitUntilDurable()
        store.compactHistory()
    }

    func setServerAddress(_ address: String) { serverAddress = address }

    /// The resourceVersion of the latest change (on disk or not).
    var resourceVersion: Int { store.resourceVersion }

    /// Every change up to this resourceVersion is on disk (and has been sent to watchers).
    var durableVersion: Int { store.durableVersion }

    // MARK: Commit

    /// Stores `object` (create or update) under a new resourceVersion. The change is visible
    /// to later requests at once; it reaches disk with the next group commit, and requests
    /// answer only after that (see `handle`), so nothing is acknowledged before it is durable.
    func commitPut(_ type: ResourceType, _ object: JSONValue, previous: JSONValue?) throws(APIError) -> JSONValue {
        if let storageFailure { throw APIError.internalError(storageFailure) }
        if ObjectSize.exceeds(object, options.maxObjectBytes) {
            throw APIError.objectTooLarge(limit: options.maxObjectBytes, resource: type,
                                          name: object["metadata"]?["name"]?.stringValue)
        }
        let stored = store.put(object, storageKey: type.storageKey, previous: previous)
        startFlushIfIdle()
        return stored
    }

    /// Removes `object` under a new resourceVersion (durable as for `commitPut`), then runs
    /// the deletion's side effects.
    func commitDelete(_ type: ResourceType, _ object: JSONValue) throws(APIError) -> JSONValue {
        if let storageFailure { throw APIError.internalError(storageFailure) }
        let final = store.remove(object, storageKey: type.storageKey)
        startFlushIfIdle()
        afterDelete(type, object)
        return final
    }

    // MARK: Group commit

    private func startFlushIfIdle() {
        guard !flushing, storageFailure == nil, store.resourceVersion > submittedVersion else { return }
        let batch = Array(store.undurableChanges(after: submittedVersion))
        flushing = true
        submittedVersion = store.resourceVersion
        Task { await self.flush(batch) }
    }

    /// Writes one batch in one transaction (one fsync) off the actor, then publishes its
    /// changes to the history and the watchers, in resourceVersion order.
    private func flush(_ batch: [ChangeRecord]) async {
        do {
            try await writer.write(batch)
        } catch {
            storageFailure = "storage write failed: \(error)"
            logger.critical("storage write failed; the control plane stops serving", metadata: ["error": "\(error)"])
            for waiter in durabilityWaiters { waiter.continuation.resume() }
            durabilityWaiters.removeAll()
            flushing = false
            return
        }
        if let last = batch.last { store.markDurable(through: last.resourceVersion) }
        for change in batch {
            for id in hub.publish(change) {
                // A watcher that falls this far behind is closed; it resumes from its last resourceVersion.
                logger.debug("closing a watch that fell behind", metadata: ["watch": "\(id)"])
            }
        }
        let durable = store.durableVersion
        var remaining: [DurabilityWaiter] = []
        for waiter in durabilityWaiters {
            if waiter.version <= durable { waiter.continuation.resume() } else { remaining.append(waiter) }
        }
        durabilityWaiters = remaining
        flushing = false
        startFlushIfIdle()
    }

    /// Returns once every change up to `version` (default: the latest) is on disk (or storage
    /// failed), or once the calling task is cancelled (a request past its timeout).
    func waitUntilDurable(_ version: Int? = nil) async {
        let target = version ?? store.resourceVersion
        guard target > store.durableVersion, storageFailure == nil else { return }
        let id = nextWaiterID
        nextWaiterID += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume(); return }
                durabilityWaiters.append(DurabilityWaiter(id: id, version: target, continuation: continuation))
            }
        } onCancel: {
            Task { await self.stopWaiting(id) }
        }
    }

    /// Resumes the durability waiter `id`, if it still waits.
    private func stopWaiting(_ id: Int) {
        guard let index = durabilityWaiters.firstIndex(where: { $0.id == id }) else { return }
        durabilityWaiters.remove(at: index).continuation.resume()
    }

    /// Forgets the retained history so that any watch or continue token older than now gets `410 Gone`.
    func compactHistory() async {
        await waitUntilDurable()
        store.compactHistory()
    }

    // MARK: Watch

    /// Starts a watch of `type`'s objects that pass `filter`. It begins after `from` (replaying
    /// the retained history; `410` as an `ERROR` event if it no longer reaches back), or, with
    /// `from` nil, with synthetic `ADDED` events for every current object; with
    /// `sendInitialEvents`, those are followed by a `BOOKMARK` that marks their end.
    func startWatch(type: ResourceType, filter: ObjectFilter, from: Int?, bookmarks: Bool, timeout: Duration?,
                    sendInitialEvents: Bool = false) -> (id: Int?, stream: AsyncStream<WatchItem>) {
        var initial: [WatchItem] = []
        if sendInitialEvents || from == nil {
            let state = store.durableObjects(of: type.storageKey)
            for key in state.keys.sorted() {
                if let object = state[key], filter.matches(object) {
                    initial.append(.event(type: "ADDED", object: object))
                }
            }
            if sendInitialEvents {
                initial.append(.bookmark(resourceVersion: store.durableVersion, initialEventsEnd: true))
            }
        } else if let from {
            do {
                for change in try store.changes(after: from) where change.storageKey == type.storageKey {
                    if let item = WatchHub.event(for: change, through: filter) { initial.append(item) }
                }
            } catch {
                return (nil, WatchHub.failed(error.status))
            }
        }
        let (id, stream) = hub.subscribe(storageKey: type.storageKey, filter: filter, bookmarks: bookmarks, initial: initial) { [weak self] id in
            Task { await self?.forgetWatch(id) }
        }
        let limit = timeout ?? options.defaultWatchTimeout
        hub.setTimeout(Task { [weak self] in
            try? await Task.sleep(for: limit)
            if !Task.isCancelled { await self?.endWatch(id) }
        }, for: id)
        if bookmarks { startBookmarksIfNeeded() }
        return (id, stream)
    }

    /// Ends watch `id`: its client sees the stream close after the events already sent.
    func endWatch(_ id: Int) {
        hub.end(id)
    }

    private func forgetWatch(_ id: Int) {
        hub.forget(id)
    }

    /// Ends every open watch (clients see their streams close and re-watch).
    func closeAllWatches() {
        hub.endAll()
    }

    var openWatchCount: Int { hub.count }

    /// Starts the bookmark timer unless it runs; it stops itself once no watch wants bookmarks,
    /// so an idle server does not wake up.
    private func startBookmarksIfNeeded() {
        guard bookmarkTask == nil, hub.wantsBookmarks else { return }
        let interval = options.bookmarkInterval
        bookmarkTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { return }
                guard let self, await self.sendBookmarks() else { return }
            }
        }
    }

    /// Sends a bookmark at the durable resourceVersion to every watch that wants one; false
    /// (and the timer forgotten) when none does.
    private func sendBookmarks() -> Bool {
        guard hub.wantsBookmarks else {
            bookmarkTask = nil
            return false
        }
        for id in hub.sendBookmarks(at: store.durableVersion) {
            logger.debug("closing a watch that fell behind", metadata: ["watch": "\(id)"])
        }
        return true
    }

    /// Waits for every change to be on disk, then ends every watch.
    func shutdown() async {
        await waitUntilDurable()
        bookmarkTask?.cancel()
        bookmarkTask = nil
        closeAllWatches()
    }
}
