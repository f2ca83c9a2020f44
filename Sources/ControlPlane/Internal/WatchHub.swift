import JSONSchemaKit

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

/// The open watches: who wants which changes, and the fan-out of committed changes and
/// bookmarks to them.
///
/// Each subscription has its own bounded buffer (its stream's); a watcher that falls more
/// than `bufferSize` events behind is closed rather than buffered without bound (its
/// client resumes from the last resourceVersion it saw). The hub does no timing and no
/// I/O: the API server decides when to publish (after a group commit), sends bookmarks on
/// its timer and ends watches whose time is up.
struct WatchHub {
    /// One open watch.
    struct Subscription {
        /// The resource whose changes it wants (`ResourceType.storageKey`).
        var storageKey: String
        var filter: ObjectFilter
        /// Whether it asked for `BOOKMARK` events (`allowWatchBookmarks=true`).
        var bookmarks: Bool
        var continuation: AsyncStream<WatchItem>.Continuation
        /// Ends the watch when its `timeoutSeconds` are up; cancelled when it ends earlier.
        var timeout: Task<Void, Never>?
    }

    /// How many events beyond its initial ones a watcher may have waiting.
    let bufferSize: Int
    private(set) var subscriptions: [Int: Subscription] = [:]
    private var lastID = 0

    init(bufferSize: Int) {
        self.bufferSize = bufferSize
    }

    /// How many watches are open.
    var count: Int { subscriptions.count }

    /// Whether any open watch wants bookmarks (the API server's bookmark timer runs only then).
    var wantsBookmarks: Bool { subscriptions.values.contains { $0.bookmarks } }

    /// Opens a watch whose stream starts with `initial` (all of it, whatever the buffer
    /// size) and then carries what is published to it. `onTermination` runs with the id
    /// when the client stops reading.
    mutating func subscribe(storageKey: String, filter: ObjectFilter, bookmarks: Bool, initial: [WatchItem],
                            onTermination: @escaping @Sendable (Int) -> Void) -> (id: Int, stream: AsyncStream<WatchItem>) {
        let (stream, continuation) = AsyncStream<WatchItem>.makeStream(
            bufferingPolicy: .bufferingOldest(bufferSize + initial.count))
        for item in initial { continuation.yield(item) }
        lastID += 1
        let id = lastID
        subscriptions[id] = Subscription(storageKey: storageKey, filter: filter, bookmarks: bookmarks, continuation: continuation)
        continuation.onTermination = { _ in onTermination(id) }
        return (id, stream)
    }

    /// Attaches the task that ends watch `id` when its time is up (cancelled if it ends first).
    mutating func setTimeout(_ task: Task<Void, Never>, for id: Int) {
        guard subscriptions[id] != nil else {
            task.cancel()
            return
        }
        subscriptions[id]?.timeout = task
    }

    /// Sends `change` to every watch of its resource whose filter it concerns (as `ADDED`,
    /// `MODIFIED` or `DELETED` as seen through that filter). Returns the watches closed
    /// because they fell too far behind.
    mutating func publish(_ change: ChangeRecord) -> [Int] {
        var closed: [Int] = []
        for (id, subscription) in subscriptions where subscription.storageKey == change.storageKey {
            guard let item = Self.event(for: change, through: subscription.filter) else { continue }
            if !Self.send(item, to: subscription) { closed.append(id) }
        }
        for id in closed { end(id) }
        return closed
    }

    /// Sends a `BOOKMARK` at `resourceVersion` to every watch that wants bookmarks. Returns
    /// the watches closed because they fell too far behind.
    mutating func sendBookmarks(at resourceVersion: Int) -> [Int] {
        var closed: [Int] = []
        for (id, subscription) in subscriptions where subscription.bookmarks {
            if !Self.send(.bookmark(resourceVersion: resourceVersion), to: subscription) { closed.append(id) }
        }
        for id in closed { end(id) }
        return closed
    }

    /// Ends watch `id`: its stream finishes after the events already buffered.
    mutating func end(_ id: Int) {
        guard let subscription = subscriptions.removeValue(forKey: id) else { return }
        subscription.timeout?.cancel()
        subscription.continuation.finish()
    }

    /// Forgets watch `id` whose client has gone (its stream has terminated already).
    mutating func forget(_ id: Int) {
        subscriptions.removeValue(forKey: id)?.timeout?.cancel()
    }

    /// Ends every open watch.
    mutating func endAll() {
        for id in Array(subscriptions.keys) { end(id) }
    }

    /// Whether the item went into the subscription's buffer (false: the buffer is full).
    private static func send(_ item: WatchItem, to subscription: Subscription) -> Bool {
        if case .dropped = subscription.continuation.yield(item) { return false }
        return true
    }

    /// The event a watcher with `filter` sees for `change`: objects moving into the filter
    /// are `ADDED`, moving out `DELETED`; nil if the change concerns it neither before nor after.
    static func event(for change: ChangeRecord, through filter: ObjectFilter) -> WatchItem? {
        switch change.type {
        case .added:
            return filter.matches(change.object) ? .event(type: "ADDED", object: change.object) : nil
        case .deleted:
            return filter.matches(change.previous ?? change.object) ? .event(type: "DELETED", object: change.object) : nil
        case .modified:
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

    /// A stream that carries one `ERROR` event with `status` and ends (e.g. `410 Expired`).
    static func failed(_ status: JSONValue) -> AsyncStream<WatchItem> {
        AsyncStream { continuation in
            continuation.yield(.error(status))
            continuation.finish()
        }
    }
}
