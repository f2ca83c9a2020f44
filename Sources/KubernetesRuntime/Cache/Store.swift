public import KubernetesModels
import Synchronization

/// Identifies an object: namespace (nil for cluster-scoped) and name.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The namespace, nil for cluster-scoped objects.
    public var namespace: String?
    /// The name.
    public var name: String

    /// Creates a key.
    public init(namespace: String?, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// The key of `object`.
    public init<K: KubernetesObject>(_ object: K) {
        self.init(namespace: object.metadata.namespace, name: object.metadata.name ?? "")
    }

    /// `namespace/name` or `name`.
    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    /// Orders keys by ``description``.
    public static func < (lhs: ObjectKey, rhs: ObjectKey) -> Bool { lhs.description < rhs.description }
}

/// A change the store took in: the object before and after (nil when absent).
public struct StoreChange<K: KubernetesObject>: Sendable {
    /// The key.
    public var key: ObjectKey
    /// The object before the change, if it was cached.
    public var old: K?
    /// The object after the change, nil if deleted.
    public var new: K?
}

/// The reflector's cache: the objects a watcher has seen, by key and by
/// index. A relist replaces everything at once, so readers never see a mix of
/// the old and new lists.
public final class Store<K: KubernetesObject>: Sendable {
    /// Computes the index values of an object, e.g. `spec.module` for TinyNodes.
    public typealias IndexFunction = @Sendable (K) -> [String]

    /// A cached object, boxed: the table then holds a reference per slot instead of
    /// the whole (often several hundred bytes) value, and a hash table keeps a quarter
    /// or more of its slots empty.
    private final class Stored: Sendable {
        let object: K
        init(_ object: K) { self.object = object }
    }

    private struct Contents {
        var objects: [ObjectKey: Stored] = [:]
        var indexes: [String: [String: Set<ObjectKey>]] = [:]
        var ready = false
        var readyWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// Turns an object as served into what the cache keeps of it.
    public typealias Transform = @Sendable (K) -> K

    private let indexers: [String: IndexFunction]
    private let transform: Transform?
    private let contents = Mutex(Contents())

    /// A store maintaining the named indexes. A `transform` (client-go's
    /// `SetTransform`) is applied to every object before it is cached, e.g. to
    /// drop fields the controller never reads and so bound its memory.
    public init(indexers: [String: IndexFunction] = [:], transform: Transform? = nil) {
        self.indexers = indexers
        self.transform = transform
    }

    /// Applies a watcher event; returns what changed (for predicates and mappers).
    @discardableResult
    public func apply(_ event: WatcherEvent<K>) -> [StoreChange<K>] {
        guard let transform else { return store(event) }
        switch event {
        case .restarted(let objects): return store(.restarted(objects.map(transform)))
        case .applied(let object): return store(.applied(transform(object)))
        case .deleted(let object): return store(.deleted(transform(object)))
        }
    }

    private func store(_ event: WatcherEvent<K>) -> [StoreChange<K>] {
        switch event {
        case .restarted(let objects):
            var fresh: [ObjectKey: Stored] = [:]
            for object in objects { fresh[ObjectKey(object)] = Stored(object) }
            var indexes: [String: [String: Set<ObjectKey>]] = [:]
            for (key, stored) in fresh { Self.index(stored.object, key: key, into: &indexes, with: indexers) }
            let (old, waiters) = contents.withLock { state in
                let old = state.objects
                state.objects = fresh
                state.indexes = indexes
                state.ready = true
                let waiters = state.readyWaiters
                state.readyWaiters = []
                return (old, waiters)
            }
            for waiter in waiters { waiter.resume() }
            var changes: [StoreChange<K>] = []
            for (key, stored) in fresh { changes.append(StoreChange(key: key, old: old[key]?.object, new: stored.object)) }
            for (key, stored) in old where fresh[key] == nil { changes.append(StoreChange(key: key, old: stored.object, new: nil)) }
            return changes
        case .applied(let object):
            let key = ObjectKey(object)
            let old = contents.withLock { state in
                let old = state.objects.updateValue(Stored(object), forKey: key)?.object
                if let old { Self.unindex(old, key: key, from: &state.indexes, with: indexers) }
                Self.index(object, key: key, into: &state.indexes, with: indexers)
                return old
            }
            return [StoreChange(key: key, old: old, new: object)]
        case .deleted(let object):
            let key = ObjectKey(object)
            let old = contents.withLock { state in
                let old = state.objects.removeValue(forKey: key)?.object
                if let old { Self.unindex(old, key: key, from: &state.indexes, with: indexers) }
                return old
            }
            return [StoreChange(key: key, old: old ?? object, new: nil)]
        }
    }

    /// The cached object with `key`.
    public func get(_ key: ObjectKey) -> K? { contents.withLock { $0.objects[key]?.object } }

    /// Every cached object.
    public var objects: [K] { contents.withLock { $0.objects.values.map(\.object) } }

    /// Every cached key.
    public var keys: [ObjectKey] { contents.withLock { Array($0.objects.keys) } }

    /// The keys of the cached objects that satisfy `predicate` (a scan, without
    /// copying the objects out).
    public func keys(where predicate: (K) -> Bool) -> [ObjectKey] {
        contents.withLock { state in state.objects.compactMap { key, stored in predicate(stored.object) ? key : nil } }
    }

    /// How many objects are cached.
    public var count: Int { contents.withLock { $0.objects.count } }

    /// The objects whose index `name` contains `value`.
    public func byIndex(_ name: String, _ value: String) -> [K] {
        contents.withLock { state in
            (state.indexes[name]?[value] ?? []).compactMap { state.objects[$0]?.object }
        }
    }

    /// Whether the first list has been stored.
    public var isReady: Bool { contents.withLock { $0.ready } }

    /// Returns once the first list has been stored.
    public func waitUntilReady() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = contents.withLock { state in
                if state.ready { return true }
                state.readyWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private static func index(_ object: K, key: ObjectKey, into indexes: inout [String: [String: Set<ObjectKey>]], with indexers: [String: IndexFunction]) {
        for (name, function) in indexers {
            for value in function(object) { indexes[name, default: [:]][value, default: []].insert(key) }
        }
    }

    private static func unindex(_ object: K, key: ObjectKey, from indexes: inout [String: [String: Set<ObjectKey>]], with indexers: [String: IndexFunction]) {
        for (name, function) in indexers {
            for value in function(object) {
                indexes[name]?[value]?.remove(key)
                if indexes[name]?[value]?.isEmpty == true { indexes[name]?[value] = nil }
            }
        }
    }
}
