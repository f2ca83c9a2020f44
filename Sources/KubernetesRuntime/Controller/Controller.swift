public import KubernetesClient
public import KubernetesModels
public import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization

/// What a reconcile asks for next.
public enum ReconcileAction: Sendable, Hashable {
    /// Nothing until the object (or something mapped to it) changes.
    case done
    /// Reconcile again after this delay (e.g. to poll external state).
    case requeue(after: Duration)
}

/// What a reconcile is told besides the object.
public struct ReconcileContext: Sendable {
    /// The object's key.
    public var key: ObjectKey
    /// How many times in a row this key failed before.
    public var failures: Int
    /// A logger with the key in its metadata.
    public var logger: Logger
}

/// How a ``Controller`` runs.
public struct ControllerConfiguration: Sendable {
    /// The name in logs and metrics (`controller` label).
    public var name: String
    /// How many keys are reconciled at once (never the same key twice).
    public var workers: Int = 2
    /// How the primary resource is watched.
    public var watcher: WatcherConfiguration = WatcherConfiguration()
    /// The first per-key retry delay after a failed reconcile.
    public var baseRetryDelay: Duration = .milliseconds(5)
    /// The largest per-key retry delay.
    public var maxRetryDelay: Duration = .seconds(1000)
    /// The overall rate of retries, keys per second.
    public var retryRate: Double = 10
    /// The burst of the overall retry bucket.
    public var retryBurst: Int = 100
    /// Only reconcile while this says the process leads (nil: always).
    public var leadership: LeadershipState?
    /// Where metrics go (nil: the bootstrapped `MetricsSystem`).
    public var metricsFactory: (any MetricsFactory)?

    /// A configuration named `name`.
    public init(name: String, workers: Int = 2) {
        self.name = name
        self.workers = workers
    }
}

/// Reconciles objects of kind `K`: takes the changes of an ``Informer`` (and
/// of mapped secondary informers), queues the keys of changes that pass the
/// predicate, and runs `reconcile` on N workers — never two at once for one
/// key, retrying failures with per-key exponential backoff. Only reconciles
/// while its ``ControllerConfiguration/leadership`` (if any) says it leads;
/// losing leadership cancels in-flight reconciles and stops taking keys.
///
/// The reconcile path is informer → predicate or mapper → queue → reconciler:
/// predicates and mappers only decide which keys to queue, they never act.
/// In a ``Manager`` the informers are shared and run by the manager; a
/// controller made from an `Api` has informers of its own and runs them.
public final class Controller<K: KubernetesObject>: Service {
    /// Reconciles one object.
    public typealias Reconciler = @Sendable (K, ReconcileContext) async throws -> ReconcileAction

    /// The primary API.
    public let api: Api<K>
    /// The primary cache (the informer's).
    public let store: Store<K>
    /// The queue of keys to reconcile.
    public let queue: WorkQueue<ObjectKey>
    /// How the controller runs.
    public let configuration: ControllerConfiguration
    private let reconcile: Reconciler
    private let logger: Logger
    private let metrics: ControllerMetrics
    /// Informers this controller made itself and runs in ``run()``.
    private let ownInformers = Mutex<[any Service]>([])

    /// A controller of a shared informer's objects: the informer runs elsewhere
    /// (in a ``Manager``). The default predicate, ``Predicate/generationChanged``,
    /// skips status-only writes (including the controller's own).
    public init(
        informer: Informer<K>, configuration: ControllerConfiguration, predicate: Predicate<K> = .generationChanged,
        logger: Logger = Logger(label: "tinyflow.controller"), reconcile: @escaping Reconciler
    ) {
        self.api = informer.api
        self.store = informer.store
        self.configuration = configuration
        self.reconcile = reconcile
        var logger = logger
        logger[metadataKey: "controller"] = "\(configuration.name)"
        self.logger = logger
        let metrics = ControllerMetrics(name: configuration.name, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.metrics = metrics
        let queue = WorkQueue<ObjectKey>(
            baseDelay: configuration.baseRetryDelay, maxDelay: configuration.maxRetryDelay, rate: configuration.retryRate,
            burst: configuration.retryBurst, onDepthChange: { metrics.depth.record($0) })
        self.queue = queue
        informer.onChange { changes in
            for change in changes where predicate.evaluate(change.old, change.new) { queue.add(change.key) }
        }
    }

    /// A controller of `api`'s objects with an informer of its own, which
    /// ``run()`` runs. `transform` is applied to objects before they are cached
    /// (and before predicates and reconcilers see them).
    public convenience init(
        api: Api<K>, configuration: ControllerConfiguration, predicate: Predicate<K> = .generationChanged,
        indexers: [String: Store<K>.IndexFunction] = [:], transform: Store<K>.Transform? = nil,
        logger: Logger = Logger(label: "tinyflow.controller"), reconcile: @escaping Reconciler
    ) {
        let informer = Informer(
            api: api, configuration: configuration.watcher, indexers: indexers, transform: transform, logger: logger)
        self.init(informer: informer, configuration: configuration, predicate: predicate, logger: logger, reconcile: reconcile)
        ownInformers.withLock { $0.append(informer) }
    }

    /// Also reconciles the primary keys `mapper` returns for each change of a
    /// shared informer's objects that passes `predicate`. Call before the informer runs.
    public func watches<S: KubernetesObject>(
        _ informer: Informer<S>, predicate: Predicate<S> = .always, mapper: @escaping @Sendable (S) -> [ObjectKey]
    ) {
        let queue = self.queue
        informer.onChange { changes in
            for change in changes where predicate.evaluate(change.old, change.new) {
                guard let object = change.new ?? change.old else { continue }
                for key in mapper(object) { queue.add(key) }
            }
        }
    }

    /// Also reconciles the primary keys `map` returns for each change of a
    /// shared informer's objects, given both states (a changed label may move
    /// an object from one primary to another). Call before the informer runs.
    public func watchesChanges<S: KubernetesObject>(
        _ informer: Informer<S>, map: @escaping @Sendable (StoreChange<S>) -> [ObjectKey]
    ) {
        let queue = self.queue
        informer.onChange { changes in
            for change in changes {
                for key in map(change) { queue.add(key) }
            }
        }
    }

    /// Also watches `secondary` objects (with an informer of this controller's
    /// own) and reconciles the primary keys `mapper` returns for each change.
    /// Call before ``run()``.
    public func watches<S: KubernetesObject>(
        _ secondary: Api<S>, configuration watcherConfiguration: WatcherConfiguration = WatcherConfiguration(),
        predicate: Predicate<S> = .always, mapper: @escaping @Sendable (S) -> [ObjectKey]
    ) {
        let informer = Informer(api: secondary, configuration: watcherConfiguration, logger: logger)
        watches(informer, predicate: predicate, mapper: mapper)
        ownInformers.withLock { $0.append(informer) }
    }

    /// Also watches `owned` objects and reconciles their controlling owner of kind `K`.
    public func owns<S: KubernetesObject>(
        _ owned: Api<S>, configuration watcherConfiguration: WatcherConfiguration = WatcherConfiguration(),
        predicate: Predicate<S> = .always
    ) {
        watches(owned, configuration: watcherConfiguration, predicate: predicate, mapper: Self.owners(of:))
    }

    /// Also reconciles the controlling owner of kind `K` of every changed object of a shared informer.
    public func owns<S: KubernetesObject>(_ informer: Informer<S>, predicate: Predicate<S> = .always) {
        watches(informer, predicate: predicate, mapper: Self.owners(of:))
    }

    /// The keys of `object`'s owners of kind `K`: an owner mapper.
    public static func owners<S: KubernetesObject>(of object: S) -> [ObjectKey] {
        (object.metadata.ownerReferences ?? [])
            .filter { $0.kind == K.kind && $0.apiVersion == K.apiVersion }
            .map { ObjectKey(namespace: K.isNamespaced ? object.metadata.namespace : nil, name: $0.name) }
    }

    /// Runs until cancelled or gracefully shut down: the workers while leading,
    /// and the controller's own informers, if it has any. Shutdown cancels
    /// in-flight reconciles (they see `Task.isCancelled`).
    public func run() async throws {
        let informers = self.ownInformers.withLock { $0 }
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for informer in informers { group.addTask { try? await informer.run() } }
                group.addTask { await self.runWorkersWhileLeading() }
                await group.waitForAll()
            }
        }
        queue.shutdown()
    }

    private func runWorkersWhileLeading() async {
        // Keys only arrive once the first list is stored (a relist enqueues every object),
        // so workers need not wait for the cache.
        guard let leadership = configuration.leadership else {
            await runWorkers()
            return
        }
        var workers: Task<Void, Never>?
        for await leading in leadership.changes() {
            if leading, workers == nil {
                logger.info("leading: reconciling")
                workers = Task { await self.runWorkers() }
            } else if !leading, let running = workers {
                logger.info("lost leadership: stopping reconciles")
                running.cancel()
                await running.value
                workers = nil
            }
            if Task.isCancelled { break }
        }
        workers?.cancel()
        await workers?.value
    }

    private func runWorkers() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, configuration.workers) {
                group.addTask { await self.work() }
            }
        }
    }

    private func work() async {
        while let key = await queue.next() {
            if Task.isCancelled || (configuration.leadership.map { !$0.isLeader } ?? false) {
                queue.add(key)
                queue.done(key)
                return
            }
            await process(key)
            queue.done(key)
        }
    }

    private func process(_ key: ObjectKey) async {
        guard let object = store.get(key) else {
            queue.forget(key)  // deleted: nothing to reconcile (finalizers handle cleanup)
            return
        }
        var logger = self.logger
        logger[metadataKey: "object"] = "\(key)"
        let context = ReconcileContext(key: key, failures: queue.failureCount(key), logger: logger)
        let start = ContinuousClock.now
        do {
            let action = try await reconcile(object, context)
            metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - start))
            queue.forget(key)
            switch action {
            case .done:
                metrics.count(.success)
            case .requeue(let delay):
                metrics.count(.requeue)
                queue.add(key, after: delay)
            }
        } catch {
            metrics.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - start))
            if Task.isCancelled {
                queue.add(key)  // interrupted by losing leadership or shutdown: not a failure
                return
            }
            metrics.count(.error)
            let delay = queue.addRateLimited(key)
            logger.warning("reconcile failed", metadata: ["error": "\(error)", "retryIn": "\(delay)"])
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
    }
}

/// The controller-runtime metric set for one controller.
struct ControllerMetrics: Sendable {
    enum Result: String { case success, error, requeue }

    let success: Counter
    let error: Counter
    let requeue: Counter
    let duration: Metrics.Timer
    let depth: Gauge

    init(name: String, factory: any MetricsFactory) {
        success = Counter(label: "tinyflow_reconcile_total", dimensions: [("controller", name), ("result", "success")], factory: factory)
        error = Counter(label: "tinyflow_reconcile_total", dimensions: [("controller", name), ("result", "error")], factory: factory)
        requeue = Counter(label: "tinyflow_reconcile_total", dimensions: [("controller", name), ("result", "requeue")], factory: factory)
        duration = Metrics.Timer(label: "tinyflow_reconcile_time_seconds", dimensions: [("controller", name)], factory: factory)
        depth = Gauge(label: "tinyflow_workqueue_depth", dimensions: [("name", name)], factory: factory)
    }

    func count(_ result: Result) {
        switch result {
        case .success: success.increment()
        case .error: error.increment()
        case .requeue: requeue.increment()
        }
    }
}
