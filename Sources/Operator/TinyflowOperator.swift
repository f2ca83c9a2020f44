import FlowRevisions
import CRDModels
import ComponentKit
import Foundation
import GRPCTransport
public import KubernetesClient
import KubernetesModels
import KubernetesRuntime
public import Logging
public import ModuleHostAPI
public import Prometheus
public import ServiceLifecycle
import Synchronization

/// The Tinyflow operator: reconciles TinyModules (catalogues), TinyNodes
/// (scheduling onto module hosts, status), TinyFlows (revisions, health) and
/// TinySignals (one delivery each) on the controller runtime.
///
/// One controller per concern, on a ``Manager`` with one shared informer per
/// kind: modules (`ModuleReconciler.swift`), node finalizers and status
/// (`NodeReconciler.swift`), module syncs — a queue keyed by module: plan →
/// `SyncNodes` → record (`ModuleSyncReconciler.swift`) —, flows
/// (`FlowReconciler.swift`) and signals (`SignalReconciler.swift`); the hosts'
/// status reports come in through ``HostStatusFeed`` and feed the queues
/// (`OperatorHostStatus.swift`). Every reconcile path reads informer →
/// predicate or mapper → queue → reconciler → RPC; every long-running piece is
/// a `Service` of the manager.
///
/// Every API call goes through a client that enforces
/// ``OperatorPermissions/rules``, so the chart's RBAC stays exact.
public final class TinyflowOperator: Service, Sendable {
    /// The finalizer that keeps a TinyNode until its module hosts stopped it.
    public static let nodeFinalizer = "tinyflow.dev/node-finalizer"
    /// The finalizer that keeps a TinyFlow until its context is deleted.
    public static let flowFinalizer = "tinyflow.dev/flow-finalizer"
    /// The label naming a node's TinyFlow.
    public static let flowLabel = "tinyflow.dev/flow"
    /// The annotation summarising a change, copied into the flow's revision.
    public static let changeSummaryAnnotation = "tinyflow.dev/change-summary"
    /// The field manager of the operator's writes.
    public static let fieldManager = "tinyflow-operator"

    /// The permission-checked client the controllers use.
    public let client: KubernetesClient
    /// How the operator runs.
    public let configuration: OperatorConfiguration
    /// The registry `/metrics` serves.
    public let registry: PrometheusCollectorRegistry
    let hosts: any ModuleHostConnector
    let logger: Logger
    let state = OperatorState()
    let recorder: EventRecorder
    let manager: Manager
    /// The module syncs.
    let syncs: ModuleSyncQueue
    /// The hosts' status streams.
    let feed: HostStatusFeed
    /// The host addresses whose reports are taken; starting and stopping watches,
    /// recording reports and pruning addresses happen under this lock, so that
    /// none of them brings back an address just forgotten.
    let watchedAddresses = Mutex<Set<String>>([])
    let scopes = Mutex<[String: Scope]>([:])
    /// What the TinyNode cache keeps of each node.
    private let compaction = NodeCacheCompaction()
    /// Reconciles and syncs started, for ``IdleMemoryRelease``.
    let workDone = Atomic<Int>(0)
    /// Per namespace, the validations of the last whole-namespace plan.
    let validationCaches = Mutex<[String: ValidationCache]>([:])
    /// Per flow, a node set not yet recorded as a revision and since when it has been the flow's.
    let unsettledRevisions = Mutex<[ObjectKey: (nodes: [FlowNodeSnapshot], since: ContinuousClock.Instant)]>([:])
    /// Per flow, when its status was last written (for ``OperatorConfiguration/flowStatusInterval``);
    /// forgotten when the flow goes.
    let flowStatusWrites = Mutex<[ObjectKey: ContinuousClock.Instant]>([:])

    /// The informers and controllers of one watched namespace (or of all, keyed `""`).
    struct Scope: Sendable {
        var nodes: Controller<TinyNode>
        var modules: Controller<TinyModule>
        var flows: Controller<TinyFlow>
        var signals: Controller<TinySignal>
    }

    /// An operator using `client` (wrapped to enforce ``OperatorPermissions/rules``),
    /// reaching module hosts through `hosts`; its controllers' metrics go to
    /// `registry` (the process's, from `Observability.bootstrap`, in `main`).
    public init(
        client: KubernetesClient, configuration: OperatorConfiguration,
        hosts: any ModuleHostConnector = GRPCModuleHostConnector(),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) throws {
        self.client = try client.enforcingOperatorPermissions()
        self.configuration = configuration
        self.hosts = hosts
        self.logger = logger
        self.registry = registry
        self.recorder = EventRecorder(
            client: self.client, reportingController: "tinyflow.dev/operator", reportingInstance: configuration.identity)
        let elector =
            configuration.leaderElection
            ? LeaderElector(
                api: self.client.api(Lease.self, namespace: configuration.leaseNamespace),
                leaseName: configuration.leaseName, identity: configuration.identity, logger: logger)
            : nil
        self.manager = Manager(elector: elector, logger: logger)
        // The queue and the feed call back into the operator, which exists only after them.
        let reference = WeakReference<TinyflowOperator>()
        self.syncs = ModuleSyncQueue(window: configuration.syncWindow, workers: max(2, configuration.workers)) { key, force in
            await reference.value?.performSync(key, force: force) ?? .done
        }
        self.feed = HostStatusFeed(hosts: hosts, interval: configuration.watchInterval, logger: logger) { reports, address in
            reference.value?.received(reports, from: address)
        }
        for namespace in configuration.namespaces ?? [""] {
            let scope = makeScope(namespace: namespace.isEmpty ? nil : namespace)
            scopes.withLock { $0[namespace] = scope }
        }
        reference.value = self
        addServices()
    }

    private func controllerConfiguration(_ name: String) -> ControllerConfiguration {
        var controller = ControllerConfiguration(name: name, workers: configuration.workers)
        controller.leadership = manager.leadership
        controller.metricsFactory = PrometheusMetricsFactory(registry: registry)
        return controller
    }

    private func api<K: KubernetesObject>(_ kind: K.Type, _ namespace: String?) -> Api<K> {
        namespace.map { client.api(K.self, namespace: $0) } ?? client.apiAllNamespaces(K.self)
    }

    /// The shared informers of a namespace, what the operator notes of their
    /// changes, and the controllers reading them.
    private func makeScope(namespace: String?) -> Scope {
        let state = self.state
        let nodeInformer = manager.informer(
            api(TinyNode.self, namespace),
            indexers: [
                "target": { node in node.spec.edges.compactMap { $0.target?.node } },
                "flow": { Array(Self.flows(of: $0)) },
            ], transform: { [compaction] in compaction.compact($0) })
        let moduleInformer = manager.informer(api(TinyModule.self, namespace))
        let flowInformer = manager.informer(api(TinyFlow.self, namespace), transform: { FlowHistory.cachedForm(of: $0) })
        let signalInformer = manager.informer(api(TinySignal.self, namespace))

        // What the operator notes of cache changes, before any controller queues a key for them.
        nodeInformer.onChange { changes in
            for change in changes {
                if Self.changesPlans(change.old, change.new) {
                    state.planInputsChanged(in: (change.new ?? change.old)?.metadata.namespace ?? "")
                }
                if change.new == nil, let old = change.old, let name = old.metadata.name {
                    // Gone from the cache (finalizer removed, or it never had one).
                    state.forgetNode(name, of: ModuleKey(namespace: old.metadata.namespace ?? "", module: old.spec.module))
                }
            }
        }
        moduleInformer.onChange { [weak self] changes in
            for change in changes {
                // A catalogue or address in the status changes plans too.
                state.planInputsChanged(in: (change.new ?? change.old)?.metadata.namespace ?? "")
                // A deleted module, or one whose address changed: its old host address may be unused now
                // (the sync its queued nodes ask for moves it to the new address).
                if let old = change.old, let name = old.metadata.name,
                    change.new.flatMap(ClusterPlan.address(of:)) != ClusterPlan.address(of: old)
                {
                    if change.new == nil {
                        self?.moduleDeleted(ModuleKey(namespace: old.metadata.namespace ?? "", module: name))
                    } else {
                        self?.forgetUnusedAddresses()
                    }
                }
            }
        }
        flowInformer.onChange { [weak self] changes in
            // A flow's hop limit, edge delivery and pause are part of its nodes' definitions:
            // their modules sync again (and the nodes' conditions are written again).
            for change in changes where Self.changesNodeDefinitions(change) {
                guard let flow = change.new ?? change.old, let name = flow.metadata.name else { continue }
                let namespace = flow.metadata.namespace ?? ""
                let nodes = nodeInformer.store.byIndex("flow", name).filter { $0.metadata.namespace == namespace }
                state.planInputsChanged(in: namespace)
                self?.flowDefinitionsChanged(name, in: namespace, nodes: nodes)
                // Their `Paused` condition follows the flow: without this, a node whose sync
                // result and host report stay the same (nothing to handle) kept `Paused=True`
                // after a resume.
                self?.enqueueNodes(Set(nodes.compactMap(\.metadata.name)), in: namespace)
            }
            // So are its parameters (and whether the flow exists, for `${param:…}`): the modules
            // sync again and the nodes' conditions are written again.
            for change in changes where change.old?.spec.parameters != change.new?.spec.parameters || (change.old == nil) != (change.new == nil) {
                guard let flow = change.new ?? change.old, let name = flow.metadata.name else { continue }
                let namespace = flow.metadata.namespace ?? ""
                let nodes = nodeInformer.store.byIndex("flow", name).filter { $0.metadata.namespace == namespace }
                state.planInputsChanged(in: namespace)
                self?.flowDefinitionsChanged(name, in: namespace, nodes: nodes)
                self?.enqueueNodes(Set(nodes.compactMap(\.metadata.name)), in: namespace)
            }
        }
        signalInformer.onChange { changes in
            // Once the cache holds a signal that is no longer pending (or none), no reconcile
            // sees it pending, and its delivery can be forgotten.
            for change in changes {
                if let signal = change.new ?? change.old, change.new.map({ ($0.status?.phase ?? .pending) != .pending }) ?? true {
                    state.forgetDelivery(Self.deliveryID(of: signal))
                }
            }
        }

        let modules = Controller(informer: moduleInformer, configuration: controllerConfiguration("tinymodule"), logger: logger) {
            [weak self] module, context in
            guard let self else { return .done }
            return try await self.reconcileModule(module, context)
        }
        let nodePredicate = Predicate<TinyNode> { old, new in Self.changesPlans(old, new) }
        let nodes = Controller(
            informer: nodeInformer, configuration: controllerConfiguration("tinynode"), predicate: nodePredicate, logger: logger
        ) { [weak self] node, context in
            guard let self else { return .done }
            return try await self.reconcileNode(node, context)
        }
        // A module change reconciles the nodes that use it (module changes are rare: a scan
        // of the node cache costs less than an index of every node).
        nodes.watchesChanges(moduleInformer) { change in
            let changed = Set([change.old, change.new].compactMap { $0.map { ObjectKey($0) } })
            return nodeInformer.store.keys(where: {
                changed.contains(ObjectKey(namespace: $0.metadata.namespace, name: $0.spec.module))
            })
        }
        let flows = Controller(informer: flowInformer, configuration: controllerConfiguration("tinyflow"), logger: logger) {
            [weak self] flow, context in
            guard let self else { return .done }
            return try await self.reconcileFlow(flow, context)
        }
        // Every change of a node reconciles its flows, the one it left included.
        flows.watchesChanges(nodeInformer) { change in
            let flowNames = [change.old, change.new].compactMap { $0 }.flatMap { Self.flows(of: $0) }
            return Set(flowNames).map { ObjectKey(namespace: (change.new ?? change.old)?.metadata.namespace, name: $0) }
        }
        let signals = Controller(informer: signalInformer, configuration: controllerConfiguration("tinysignal"), logger: logger) {
            [weak self] signal, context in
            guard let self else { return .done }
            return try await self.reconcileSignal(signal, context)
        }
        return Scope(nodes: nodes, modules: modules, flows: flows, signals: signals)
    }

    /// Whether a node change changes what is planned for its module: its spec
    /// (generation), finalizers, creation or deletion.
    static func changesPlans(_ old: TinyNode?, _ new: TinyNode?) -> Bool {
        Predicate<TinyNode>.generationChanged.evaluate(old, new) || old?.metadata.finalizers != new?.metadata.finalizers
    }

    static func flows(of node: TinyNode) -> Set<String> {
        Set([node.metadata.labels?[flowLabel], node.spec.flow].compactMap { $0 }.filter { !$0.isEmpty })
    }

    func scope(for namespace: String) -> Scope? {
        scopes.withLock { $0[namespace] ?? $0[""] }
    }

    /// Whether every informer has listed once.
    public var isReady: Bool { manager.hasSynced }

    // MARK: Running

    /// The manager's services besides the informers: the host status feed and
    /// the sync queue, the controllers, memory release and the HTTP endpoints
    /// (metrics and probes; the debug endpoint when configured).
    /// On graceful shutdown they stop in reverse order: first the host
    /// connections are closed (so that no reconcile or sync waits on a module
    /// host that is going away too: in local mode every child gets SIGTERM at
    /// once), then the controllers, the syncs, the feed.
    private func addServices() {
        manager.add(feed)
        manager.add(syncs)
        for scope in scopes.withLock({ Array($0.values) }) {
            for controller: any Service in [scope.modules, scope.nodes, scope.flows, scope.signals] { manager.add(controller) }
        }
        manager.add(IdleMemoryRelease(
            workDone: { [weak self] in self?.workDone.load(ordering: .relaxed) ?? 0 },
            // Validations are reused by the plans of a burst of changes; at rest they only take memory.
            dropCaches: { [weak self] in self?.validationCaches.withLock { $0.removeAll() } }))
        if let address = configuration.metricsHostAndPort {
            let ready: @Sendable () -> Bool = { [weak self] in self?.isReady ?? false }
            manager.add(OperatorHTTPServer(
                host: address.host, port: address.port, registry: registry, isReady: ready, logger: logger))
        }
        if let address = configuration.debugHostAndPort {
            let reference = WeakReference<TinyflowOperator>()
            reference.value = self
            manager.add(OperatorDebugServer(
                host: address.host, port: address.port, source: WeakRecentMessagesSource(reference: reference), logger: logger))
        }
        manager.add(ConnectionsClosingService(hosts: hosts))
    }

    /// Runs the manager: informers, lease, controllers, syncs, host status and
    /// HTTP endpoints, until graceful shutdown or cancellation.
    public func run() async throws {
        do {
            try await manager.run()
        } catch {
            await hosts.shutdown()
            throw error
        }
        await hosts.shutdown()
    }

    // MARK: Caches

    func cachedNodes(in namespace: String) -> [TinyNode] {
        (scope(for: namespace)?.nodes.store.objects ?? []).filter { $0.metadata.namespace == namespace }
    }

    func cachedModules(in namespace: String) -> [TinyModule] {
        (scope(for: namespace)?.modules.store.objects ?? []).filter { $0.metadata.namespace == namespace }
    }

    /// Whether a flow change touches what its nodes' definitions carry: the hop limit, the edge
    /// delivery or the pause. (A function of its own: the same comparisons inline in the
    /// `onChange` closure crash the Swift 6.3.1 optimizer, CopyPropagation, in release builds.)
    static func changesNodeDefinitions(_ change: StoreChange<TinyFlow>) -> Bool {
        let old = change.old?.spec
        let new = change.new?.spec
        return old?.maxHops != new?.maxHops || old?.delivery != new?.delivery || old?.paused != new?.paused
    }

    /// A flow's hop limit changed (or the flow came or went): on the leader, the
    /// modules of its nodes sync again, which hands the nodes the new limit.
    func flowDefinitionsChanged(_ flow: String, in namespace: String, nodes: [TinyNode]) {
        guard manager.leadership?.isLeader ?? true else { return }
        for module in Set(nodes.filter { $0.metadata.namespace == namespace }.map(\.spec.module)) {
            syncs.schedule(ModuleKey(namespace: namespace, module: module))
        }
    }

    /// The parameters (`spec.parameters`) of every cached TinyFlow of `namespace`, by name.
    func flowParameters(in namespace: String) -> [String: [FlowParameter]] {
        var parameters: [String: [FlowParameter]] = [:]
        for flow in scope(for: namespace)?.flows.store.objects ?? [] where flow.metadata.namespace == namespace {
            if let name = flow.metadata.name { parameters[name] = flow.spec.parameters }
        }
        return parameters
    }

    /// The hop limit (`spec.maxHops`) of every cached TinyFlow of `namespace`, by name.
    func flowHopLimits(in namespace: String) -> [String: Int] {
        var limits: [String: Int] = [:]
        for flow in scope(for: namespace)?.flows.store.objects ?? [] where flow.metadata.namespace == namespace {
            if let name = flow.metadata.name { limits[name] = flow.spec.maxHops }
        }
        return limits
    }

    /// The default edge delivery (`spec.delivery`) of every cached TinyFlow of `namespace` that sets one, by name.
    func flowDeliveries(in namespace: String) -> [String: EdgeDelivery] {
        var deliveries: [String: EdgeDelivery] = [:]
        for flow in scope(for: namespace)?.flows.store.objects ?? [] where flow.metadata.namespace == namespace {
            if let name = flow.metadata.name, let delivery = flow.spec.delivery { deliveries[name] = delivery }
        }
        return deliveries
    }

    /// The cached TinyFlows of `namespace` that are paused (`spec.paused`).
    func pausedFlows(in namespace: String) -> Set<String> {
        Set((scope(for: namespace)?.flows.store.objects ?? []).compactMap { flow in
            flow.metadata.namespace == namespace && flow.spec.paused ? flow.metadata.name : nil
        })
    }

    func enqueueNodes(_ names: Set<String>, in namespace: String, after delay: Duration = .zero) {
        guard let scope = scope(for: namespace) else { return }
        for name in names {
            let key = ObjectKey(namespace: namespace, name: name)
            if scope.nodes.store.get(key) != nil { scope.nodes.queue.add(key, after: delay) }
        }
    }
}

/// Closes the operator's module-host connections when graceful shutdown
/// begins: the last service of the manager, so the first to stop.
private struct ConnectionsClosingService: Service {
    let hosts: any ModuleHostConnector

    func run() async throws {
        // Cancelled instead: the manager's run closes the connections after the group.
        do { try await gracefulShutdown() } catch { return }
        await hosts.shutdown()
    }
}
