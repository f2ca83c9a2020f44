import AsyncPrimitives
public import ConfigurationReferences
public import KubernetesClient
import KubernetesModels
import KubernetesRuntime
public import Logging
public import ModuleHostAPI
public import ServiceLifecycle
import Synchronization

/// The Secrets and ConfigMaps a module host's nodes refer to, read from the Kubernetes
/// API and watched: one list+watch per object named by a node (field selector
/// `metadata.name=NAME`, so the host holds the objects its nodes use and no other), in
/// the host's own namespace only. Needs `get`, `list` and `watch` on `secrets` and
/// `configmaps` in that namespace (the module chart's Role).
///
/// A `Service`: ``run()`` runs the watches as child tasks until a graceful shutdown;
/// ``track(_:)`` starts and stops them as the nodes' references change. It owns its
/// client and closes it when ``run()`` ends.
public final class KubernetesReferencedValues: ReferencedValueSource, Service {
    private struct Entry: Sendable {
        /// nil until the first answer.
        var state: ReferencedObjectState?
        /// Signalled at the first answer (or failure).
        let read = OneShotEvent()
        /// Signalled when the object is no longer followed.
        let stop = OneShotEvent()
    }

    private let client: KubernetesClient
    /// The namespace the host serves; objects of other namespaces are not read.
    private let servedNamespace: String?
    private let initialReadTimeout: Duration
    private let logger: Logger
    private let entries = Mutex<[ReferencedObject: Entry]>([:])
    private let starts: AsyncStream<ReferencedObject>
    private let startContinuation: AsyncStream<ReferencedObject>.Continuation
    private let changes = ChangeNotifier()

    /// Reads through `client`, only in `servedNamespace` when given; ``track(_:)`` waits at
    /// most `initialReadTimeout` for new objects' first answers.
    public init(
        client: KubernetesClient, servedNamespace: String?, initialReadTimeout: Duration = .seconds(3), logger: Logger
    ) {
        self.client = client
        self.servedNamespace = servedNamespace
        self.initialReadTimeout = initialReadTimeout
        self.logger = logger
        (starts, startContinuation) = AsyncStream.makeStream(of: ReferencedObject.self)
    }

    /// Runs the watches until cancelled or gracefully shut down, then closes the client.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await object in self.starts {
                    group.addTask { await self.follow(object) }
                }
            }
        }
        await client.shutdown(waitingAtMost: .seconds(1), logger: logger)
    }

    public func track(_ objects: Set<ReferencedObject>) async {
        let (new, reads) = entries.withLock { entries -> ([ReferencedObject], [OneShotEvent]) in
            for (object, entry) in entries where !objects.contains(object) {
                entry.stop.signal()
                entries[object] = nil
            }
            var new: [ReferencedObject] = []
            var reads: [OneShotEvent] = []
            for object in objects.sorted() where entries[object] == nil {
                var entry = Entry()
                if let servedNamespace, object.namespace != servedNamespace {
                    entry.state = .unavailable("this module host reads its own namespace \"\(servedNamespace)\" only")
                    entry.read.signal()
                } else {
                    new.append(object)
                    reads.append(entry.read)
                }
                entries[object] = entry
            }
            return (new, reads)
        }
        for object in new {
            logger.debug("following \(object)")
            startContinuation.yield(object)
        }
        guard !reads.isEmpty else { return }
        _ = try? await withTimeout(initialReadTimeout) {
            for read in reads { await read.wait() }
        }
    }

    public func state(of object: ReferencedObject) -> ReferencedObjectState {
        entries.withLock { $0[object] }.map { entry in
            entry.state ?? .unavailable("the Kubernetes API did not answer within \(initialReadTimeout)")
        } ?? .unavailable("not followed")
    }

    public func whenChanged(_ body: @Sendable () async -> Void) async {
        let subscription = changes.subscribe()
        defer { subscription.cancel() }
        // The first `next()` returns at once: nothing changed yet.
        await subscription.next()
        while !Task.isCancelled {
            await subscription.next()
            if Task.isCancelled { return }
            await body()
        }
    }

    // MARK: Watching

    private func follow(_ object: ReferencedObject) async {
        guard let stop = entries.withLock({ $0[object]?.stop }) else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await stop.wait() }
            group.addTask {
                switch object.kind {
                case .secret: await self.watch(Secret.self, object, stop: stop) { $0.decodedData }
                case .configMap: await self.watch(ConfigMap.self, object, stop: stop) { $0.data ?? [:] }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func watch<K: KubernetesObject>(
        _ type: K.Type, _ object: ReferencedObject, stop: OneShotEvent, data: (K) -> [String: String]
    ) async {
        let api = Api<K>(client: client, namespace: object.namespace)
        let watcher = Watcher(
            api: api, configuration: WatcherConfiguration(fieldSelector: "metadata.name=\(object.name)"), logger: logger)
        for await result in watcher {
            switch result {
            case .success(.restarted(let objects)):
                update(object, stop: stop, to: objects.first { $0.metadata.name == object.name }.map { .found(data($0)) } ?? .notFound)
            case .success(.applied(let changed)):
                guard changed.metadata.name == object.name else { continue }
                update(object, stop: stop, to: .found(data(changed)))
            case .success(.deleted(let deleted)):
                guard deleted.metadata.name == object.name else { continue }
                update(object, stop: stop, to: .notFound)
            case .failure(let failure):
                logger.warning("cannot read \(object): \(failure)")
                update(object, stop: stop, failure: "\(failure.error)")
            }
        }
    }

    /// Records an answer about `object` (unless it is no longer followed by this watch)
    /// and tells ``whenChanged(_:)`` if it changed.
    private func update(_ object: ReferencedObject, stop: OneShotEvent, to state: ReferencedObjectState? = nil, failure: String? = nil) {
        let (changed, read) = entries.withLock { entries -> (Bool, OneShotEvent?) in
            guard var entry = entries[object], entry.stop === stop else { return (false, nil) }
            let new: ReferencedObjectState
            if let state {
                new = state
            } else if entry.state == nil, let failure {
                // A failure before any answer: the nodes learn why; later failures keep the last answer.
                new = .unavailable(failure)
            } else {
                return (false, entry.read)
            }
            guard entry.state != new else { return (false, entry.read) }
            entry.state = new
            entries[object] = entry
            return (true, entry.read)
        }
        read?.signal()
        if changed {
            logger.debug("\(object) changed")
            changes.notify()
        }
    }
}
