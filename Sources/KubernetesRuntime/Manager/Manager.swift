public import KubernetesClient
public import KubernetesModels
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs a controller process (controller-runtime's `Manager`): shared
/// informers — one list+watch and one cache per kind and namespace, however
/// many controllers read or watch it —, the controllers, leader election
/// (which gates the controllers' workers, never the caches) and any other
/// long-running piece (a metrics server, a status feed), all as `Service`s in
/// one `ServiceGroup`.
///
/// Set everything up (``informer(_:configuration:indexers:transform:)``,
/// ``add(_:)``) before ``run()``. On graceful shutdown the services stop in
/// the reverse order of their start: first what was added (controllers,
/// feeds), then the elector (releasing its lease), the informers last.
public final class Manager: Service, Sendable {
    /// The elector controllers follow, if leader election is on.
    public let elector: LeaderElector?
    private let informers = Mutex<[InformerKey: any Service]>([:])
    /// The informers in the order they were made, each with whether it has listed once.
    private let informerOrder = Mutex<[(service: any Service, hasSynced: @Sendable () -> Bool)]>([])
    private let services = Mutex<[any Service]>([])
    private let logger: Logger

    private struct InformerKey: Hashable {
        var kind: ObjectIdentifier
        var namespace: String?
    }

    /// A manager; with an `elector`, pass ``leadership`` to the controllers' configurations.
    public init(elector: LeaderElector? = nil, logger: Logger = Logger(label: "tinyflow.manager")) {
        self.elector = elector
        self.logger = logger
    }

    /// What controllers' workers follow: the elector's leadership (nil: always lead).
    public var leadership: LeadershipState? { elector?.leadership }

    /// The shared informer of `api`'s kind and namespace, made at the first
    /// call. Indexers and the transform are those of the first call: ask for
    /// each informer once, where the cache is set up, and hand it around.
    public func informer<K: KubernetesObject>(
        _ api: Api<K>, configuration: WatcherConfiguration = WatcherConfiguration(),
        indexers: [String: Store<K>.IndexFunction] = [:], transform: Store<K>.Transform? = nil
    ) -> Informer<K> {
        let key = InformerKey(kind: ObjectIdentifier(K.self), namespace: api.namespace)
        return informers.withLock { informers in
            if let existing = informers[key] as? Informer<K> { return existing }
            let informer = Informer(api: api, configuration: configuration, indexers: indexers, transform: transform, logger: logger)
            informers[key] = informer
            informerOrder.withLock { $0.append((informer, { informer.store.isReady })) }
            return informer
        }
    }

    /// Adds a controller or any other long-running piece.
    public func add(_ service: any Service) {
        services.withLock { $0.append(service) }
    }

    /// Whether every informer has listed once.
    public var hasSynced: Bool {
        informerOrder.withLock { $0 }.allSatisfy { $0.hasSynced() }
    }

    /// Runs every informer, the elector and every added service until graceful
    /// shutdown or cancellation; a service that throws stops them all.
    public func run() async throws {
        var all: [any Service] = informerOrder.withLock { $0.map(\.service) }
        if let elector { all.append(elector) }
        all += services.withLock { $0 }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: all.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }, logger: logger))
        try await group.run()
    }
}
