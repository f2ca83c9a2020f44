public import KubernetesClient
public import KubernetesModels
public import Logging
public import ServiceLifecycle
import Synchronization

/// One list+watch and one cache of a kind, shared by every controller that
/// reads or watches it (client-go's shared informer).
///
/// Controllers subscribe with ``onChange(_:)`` before it runs; each handler is
/// called with the changes of every event after the ``store`` took them, in
/// watch order, so a handler that reads the cache sees the change. Handlers
/// run on the informer's task: they must be quick (queue keys, nothing more).
/// Failures of the watch are logged, and the watch goes on.
public final class Informer<K: KubernetesObject>: Service, Sendable {
    /// Called with the changes of one watch event (a relist gives many).
    public typealias Handler = @Sendable ([StoreChange<K>]) -> Void

    /// The API listed and watched.
    public let api: Api<K>
    /// The cache every subscriber reads.
    public let store: Store<K>
    /// How the collection is watched.
    public let configuration: WatcherConfiguration
    private let handlers = Mutex<[Handler]>([])
    private let logger: Logger

    /// An informer of `api`'s objects; `transform` is applied to objects before
    /// they are cached (and before handlers see them).
    public init(
        api: Api<K>, configuration: WatcherConfiguration = WatcherConfiguration(),
        indexers: [String: Store<K>.IndexFunction] = [:], transform: Store<K>.Transform? = nil,
        logger: Logger = Logger(label: "tinyflow.informer")
    ) {
        self.api = api
        self.configuration = configuration
        self.store = Store(indexers: indexers, transform: transform)
        var logger = logger
        logger[metadataKey: "resource"] = "\(K.plural)"
        self.logger = logger
    }

    /// Calls `handler` with every change from now on. Subscribe before ``run()``:
    /// a later subscriber misses the changes before it (it can read ``store``).
    public func onChange(_ handler: @escaping Handler) {
        handlers.withLock { $0.append(handler) }
    }

    /// Lists and watches until cancelled or gracefully shut down.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await Watcher(api: self.api, configuration: self.configuration, logger: self.logger).drive { event in
                let changes = self.store.apply(event)
                guard !changes.isEmpty else { return }
                for handler in self.handlers.withLock({ $0 }) { handler(changes) }
            }
        }
    }
}
