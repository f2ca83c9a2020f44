import Backoff
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
/// Every API call goes through a client that enforces
/// ``OperatorPermissions/rules``, so the chart's RBAC stays exact.
public final class TinyflowOperator: Service, Sendable {
    /// The finalizer that keeps a TinyNode until its module hosts stopped it.
    public static let nodeFinalizer = "tinyflow.dev/node-finalizer"
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
    private let hosts: any ModuleHostConnector
    private let logger: Logger
    private let state = OperatorState()
    private let recorder: EventRecorder
    private let elector: LeaderElector?
    private let scopes = Mutex<[String: Scope]>([:])
    private let watchers = Mutex<[String: Task<Void, Never>]>([:])
    private let syncerBox = Mutex<ModuleSyncer?>(nil)
    /// What the TinyNode cache keeps of each node.
    private let compaction = NodeCacheCompaction()
    /// Reconciles and syncs started, for ``IdleMemoryRelease``.
    private let workDone = Atomic<Int>(0)
    /// Per namespace, the validations of the last whole-namespace plan.
    private let validationCaches = Mutex<[String: ValidationCache]>([:])
    /// Per flow, a node set not yet recorded as a revision and since when it has been the flow's.
    private let unsettledRevisions = Mutex<[ObjectKey: (nodes: [FlowNodeSnapshot], since: ContinuousClock.Instant)]>([:])

    /// The controllers of one watched namespace (or of all, keyed `""`).
    struct Scope: Sendable {
        var nodes: Controller<TinyNode>
        var modules: Controller<TinyModule>
        var flows: Controller<TinyFlow>
        var signals: Controller<TinySignal>
        var services: [any Service] { [nodes, modules, flows, signals] }
    }

    /// An operator using `client` (wrapped to enforce ``OperatorPermissions/rules``),
    /// reaching module hosts through `hosts`.
    public init(
        client: KubernetesClient, configuration: OperatorConfiguration,
        hosts: any ModuleHostConnector = GRPCModuleHostConnector(), logger: Logger
    ) throws {
        self.client = try client.enforcingOperatorPermissions()
        self.configuration = configuration
        self.hosts = hosts
        self.logger = logger
        self.registry = PrometheusCollectorRegistry()
        self.recorder = EventRecorder(
            client: self.client, reportingController: "tinyflow.dev/operator", reportingInstance: configuration.identity)
        if configuration.leaderElection {
            self.elector = LeaderElector(
                api: self.client.api(Lease.self, namespace: configuration.leaseNamespace),
                leaseName: configuration.leaseName, identity: configuration.identity, logger: logger)
        } else {
            self.elector = nil
        }
        let syncer = ModuleSyncer(window: configuration.syncWindow) { [weak self] key, force in
            await self?.performSync(key, force: force)
        }
        syncerBox.withLock { $0 = syncer }
        for namespace in configuration.namespaces ?? [""] {
            let scope = makeScope(namespace: namespace.isEmpty ? nil : namespace)
            scopes.withLock { $0[namespace] = scope }
        }
    }

    private var syncer: ModuleSyncer? { syncerBox.withLock { $0 } }

    private func controllerConfiguration(_ name: String) -> ControllerConfiguration {
        var controller = ControllerConfiguration(name: name, workers: configuration.workers)
        controller.leadership = elector?.leadership
        controller.metricsFactory = PrometheusMetricsFactory(registry: registry)
        return controller
    }

    private func api<K: KubernetesObject>(_ kind: K.Type, _ namespace: String?) -> Api<K> {
        namespace.map { client.api(K.self, namespace: $0) } ?? client.apiAllNamespaces(K.self)
    }

    private func makeScope(namespace: String?) -> Scope {
        let flows = Controller(
            api: api(TinyFlow.self, namespace), configuration: controllerConfiguration("tinyflow"),
            transform: { FlowHistory.cachedForm(of: $0) }, logger: logger
        ) { [weak self] flow, context in
            guard let self else { return .done }
            return try await self.reconcileFlow(flow, context)
        }
        // The node predicate also queues the flows of every changed node: it
        // runs after the node cache was updated, so flow reconciles see the change.
        let state = self.state
        let nodePredicate = Predicate<TinyNode> { old, new in
            for node in [old, new].compactMap({ $0 }) {
                for flow in Self.flows(of: node) {
                    flows.queue.add(ObjectKey(namespace: node.metadata.namespace, name: flow))
                }
            }
            let relevant = Predicate<TinyNode>.generationChanged.evaluate(old, new)
                || old?.metadata.finalizers != new?.metadata.finalizers
            if relevant { state.planInputsChanged(in: (new ?? old)?.metadata.namespace ?? "") }
            if new == nil, let old, let name = old.metadata.name {
                // Gone from the cache (finalizer removed, or it never had one).
                state.forgetNode(name, of: ModuleKey(namespace: old.metadata.namespace ?? "", module: old.spec.module))
            }
            return relevant
        }
        let nodes = Controller(
            api: api(TinyNode.self, namespace), configuration: controllerConfiguration("tinynode"), predicate: nodePredicate,
            indexers: [
                "target": { node in node.spec.edges.compactMap { $0.target?.node } },
                "flow": { Array(Self.flows(of: $0)) },
            ], transform: { [compaction] in compaction.compact($0) }, logger: logger
        ) { [weak self] node, context in
            guard let self else { return .done }
            return try await self.reconcileNode(node, context)
        }
        // Runs after the module cache took the change, so the node reconciles it queues (and the
        // syncs they ask for) plan with it: a watch of its own would race with that cache.
        let modulePredicate = Predicate<TinyModule> { [weak self] old, new in
            // Module changes are rare: a scan of the cache costs less than an index of every node.
            let changed = Set([old, new].compactMap { $0.map { ObjectKey($0) } })
            let affected = nodes.store.keys(where: { changed.contains(ObjectKey(namespace: $0.metadata.namespace, name: $0.spec.module)) })
            for key in affected { nodes.queue.add(key) }
            // A catalogue or address in the status changes plans too, but only spec changes reconcile the module.
            state.planInputsChanged(in: (new ?? old)?.metadata.namespace ?? "")
            // A deleted module, or one whose address changed: its old host address may be unused now
            // (the sync its queued nodes ask for moves it to the new address).
            if let old, let name = old.metadata.name, new.flatMap(ClusterPlan.address(of:)) != ClusterPlan.address(of: old) {
                if new == nil {
                    self?.moduleDeleted(ModuleKey(namespace: old.metadata.namespace ?? "", module: name))
                } else {
                    self?.forgetUnusedAddresses()
                }
            }
            return Predicate<TinyModule>.generationChanged.evaluate(old, new)
        }
        let modules = Controller(
            api: api(TinyModule.self, namespace), configuration: controllerConfiguration("tinymodule"), predicate: modulePredicate,
            logger: logger
        ) { [weak self] module, context in
            guard let self else { return .done }
            return try await self.reconcileModule(module, context)
        }
        // Runs after the signal cache took the change: once it holds a signal that is no longer
        // pending (or none), no reconcile sees it pending, and its delivery can be forgotten.
        let signalPredicate = Predicate<TinySignal> { old, new in
            if let signal = new ?? old, new.map({ ($0.status?.phase ?? .pending) != .pending }) ?? true {
                state.forgetDelivery(Self.deliveryID(of: signal))
            }
            return Predicate<TinySignal>.generationChanged.evaluate(old, new)
        }
        let signals = Controller(
            api: api(TinySignal.self, namespace), configuration: controllerConfiguration("tinysignal"), predicate: signalPredicate,
            logger: logger
        ) { [weak self] signal, context in
            guard let self else { return .done }
            return try await self.reconcileSignal(signal, context)
        }
        return Scope(nodes: nodes, modules: modules, flows: flows, signals: signals)
    }

    static func flows(of node: TinyNode) -> Set<String> {
        Set([node.metadata.labels?[flowLabel], node.spec.flow].compactMap { $0 }.filter { !$0.isEmpty })
    }

    private func scope(for namespace: String) -> Scope? {
        scopes.withLock { $0[namespace] ?? $0[""] }
    }

    /// Whether every controller's cache has listed once.
    public var isReady: Bool {
        scopes.withLock { scopes in
            scopes.values.allSatisfy { $0.nodes.store.isReady && $0.modules.store.isReady && $0.flows.store.isReady }
        }
    }

    // MARK: Running

    /// Runs the controllers (and the lease, and the HTTP endpoints) until
    /// graceful shutdown or cancellation.
    public func run() async throws {
        var services: [any Service] = scopes.withLock { $0.values.flatMap(\.services) }
        if let elector { services.append(elector) }
        services.append(IdleMemoryRelease(
            workDone: { [weak self] in self?.workDone.load(ordering: .relaxed) ?? 0 },
            // Validations are reused by the plans of a burst of changes; at rest they only take memory.
            dropCaches: { [weak self] in self?.validationCaches.withLock { $0.removeAll() } }))
        if let address = configuration.metricsHostAndPort {
            let ready: @Sendable () -> Bool = { [weak self] in self?.isReady ?? false }
            services.append(OperatorHTTPServer(
                host: address.host, port: address.port, registry: registry, isReady: ready, logger: logger))
        }
        let runnable = services
        defer { stopBackgroundWork() }
        // On graceful shutdown the controllers finish their reconciles; stop the host
        // connections and the syncer first, so that none of them waits on a module host
        // that is going away too (in local mode every child gets SIGTERM at once).
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in runnable { group.addTask { try await service.run() } }
                try await group.waitForAll()
            }
        } onGracefulShutdown: { [weak self] in
            self?.stopBackgroundWork()
        }
    }

    private func stopBackgroundWork() {
        let tasks = watchers.withLock { watchers in
            defer { watchers.removeAll() }
            return Array(watchers.values)
        }
        for task in tasks { task.cancel() }
        let syncer = self.syncer
        let hosts = self.hosts
        Task {
            await syncer?.shutdown()
            await hosts.shutdown()
        }
    }

    // MARK: Caches

    private func cachedNodes(in namespace: String) -> [TinyNode] {
        (scope(for: namespace)?.nodes.store.objects ?? []).filter { $0.metadata.namespace == namespace }
    }

    private func cachedModules(in namespace: String) -> [TinyModule] {
        (scope(for: namespace)?.modules.store.objects ?? []).filter { $0.metadata.namespace == namespace }
    }

    private func enqueueNodes(_ names: Set<String>, in namespace: String, after delay: Duration = .zero) {
        guard let scope = scope(for: namespace) else { return }
        for name in names {
            let key = ObjectKey(namespace: namespace, name: name)
            if scope.nodes.store.get(key) != nil { scope.nodes.queue.add(key, after: delay) }
        }
    }

    // MARK: TinyModule

    private func reconcileModule(_ module: TinyModule, _ context: ReconcileContext) async throws -> ReconcileAction {
        guard let namespace = module.metadata.namespace, let name = module.metadata.name else { return .done }
        let generation = module.metadata.generation
        var status = module.status ?? TinyModuleStatus()
        status.observedGeneration = generation
        let now = Timestamp.now()
        var failure: (any Error)?
        if let address = ClusterPlan.address(of: module) {
            do {
                let catalogue = try await hosts.connection(to: address).catalogue()
                status.components = catalogue.components
                status.address = address
                status.readyReplicas = 1
                status.conditions.set(Condition(
                    type: "Ready", status: .true, reason: "CatalogueReceived",
                    message: "\(catalogue.components.count) components from \(address)", observedGeneration: generation,
                    lastTransitionTime: now))
                status.conditions.set(Condition(
                    type: "Available", status: .true, reason: "HostReachable", message: "the host at \(address) answers",
                    observedGeneration: generation, lastTransitionTime: now))
                watchHost(address)
            } catch {
                failure = error
                status.readyReplicas = 0
                status.conditions.set(Condition(
                    type: "Ready", status: .false, reason: "HostUnreachable", message: "\(address): \(error)",
                    observedGeneration: generation, lastTransitionTime: now))
                status.conditions.set(Condition(
                    type: "Available", status: .false, reason: "HostUnreachable", message: "\(address): \(error)",
                    observedGeneration: generation, lastTransitionTime: now))
            }
        } else {
            status.readyReplicas = 0
            for type in ["Ready", "Available"] {
                status.conditions.set(Condition(
                    type: type, status: .false, reason: "NoAddress", message: "neither spec.address nor status.address is set",
                    observedGeneration: generation, lastTransitionTime: now))
            }
        }
        if status != module.status {
            _ = try await client.api(TinyModule.self, namespace: namespace).patchStatus(
                name, .merge(["status": try JSONValue(encoding: status)]))
        }
        if let failure { throw failure }
        return .requeue(after: configuration.moduleResyncInterval)
    }

    // MARK: Host status

    /// The host addresses of the cached TinyModules.
    private func addressesInUse() -> Set<String> {
        let scopes = self.scopes.withLock { Array($0.values) }
        return Set(scopes.flatMap { $0.modules.store.objects.compactMap(ClusterPlan.address(of:)) })
    }

    /// Stops the status watch of every host address no cached TinyModule has, and
    /// forgets its reports and owners. Under the `watchers` lock, like
    /// ``watchHost(_:)`` and ``received(_:from:)``, so that neither brings back an
    /// address just forgotten.
    private func forgetUnusedAddresses() {
        let stopped = watchers.withLock { watchers in
            let used = addressesInUse()
            state.retainAddresses(used)
            return watchers.keys.filter { !used.contains($0) }.compactMap { watchers.removeValue(forKey: $0) }
        }
        for task in stopped { task.cancel() }
    }

    /// Forgets what the operator keeps about module `key`, which is gone (or has
    /// no address), but for the syncer's entry.
    private func forgetModuleState(_ key: ModuleKey) {
        state.forgetModule(key)
        if cachedModules(in: key.namespace).isEmpty {
            _ = validationCaches.withLock { $0.removeValue(forKey: key.namespace) }
        }
        forgetUnusedAddresses()
    }

    /// A TinyModule left the cache: forgets it now, and, on the leader, once more
    /// after any sync of it in flight (which would record it again).
    private func moduleDeleted(_ key: ModuleKey) {
        forgetModuleState(key)
        let leading = elector?.leadership.isLeader ?? true
        let syncer = self.syncer
        Task {
            // The sync finds the module gone, forgets it and drops the syncer's entry.
            if leading { await syncer?.schedule(key) } else { await syncer?.forget(key) }
        }
    }

    /// How much the operator keeps in memory about modules, nodes, hosts and
    /// signals (not the caches of the API's objects): everything is zero once
    /// none exist any more.
    struct Retained: Equatable, Sendable, CustomStringConvertible {
        var state: OperatorState.Counts
        /// The host addresses with a status watch.
        var watchedAddresses: Set<String>
        var validationCaches: Int
        var syncerEntries: Int

        var isEmpty: Bool { state.isEmpty && watchedAddresses.isEmpty && validationCaches == 0 && syncerEntries == 0 }

        var description: String {
            "\(state); watches of \(watchedAddresses.sorted()), \(validationCaches) validation caches, \(syncerEntries) syncer entries"
        }
    }

    /// What the operator keeps now.
    func retained() async -> Retained {
        Retained(
            state: state.counts, watchedAddresses: Set(watchers.withLock { $0.keys }),
            validationCaches: validationCaches.withLock { $0.count }, syncerEntries: await syncer?.count ?? 0)
    }

    private func watchHost(_ address: String) {
        watchers.withLock { watchers in
            // An address whose last module went meanwhile is not watched again.
            guard watchers[address] == nil, addressesInUse().contains(address) else { return }
            watchers[address] = Task { [weak self] in
                var schedule = BackoffSchedule(Backoff(initial: .milliseconds(100), maximum: .seconds(5), resetAfter: .seconds(5)))
                while !Task.isCancelled {
                    guard let self else { return }
                    schedule.started(at: .now)
                    do {
                        let connection = try await self.hosts.connection(to: address)
                        try await connection.watchStatus(interval: self.configuration.watchInterval) { [weak self] reports in
                            self?.received(reports, from: address)
                        }
                    } catch {
                        if Task.isCancelled { return }
                        self.logger.debug("status watch of \(address) ended: \(error)")
                    }
                    try? await Task.sleep(for: schedule.failed(at: .now))
                }
            }
        }
    }

    private func received(_ reports: [NodeStatusReport], from address: String) {
        // Reports of a watch being stopped are dropped with the address.
        let recorded = watchers.withLock { watchers in
            watchers[address] == nil ? nil : state.recordReports(address: address, reports)
        }
        guard let recorded else { return }
        let (changed, countersChanged) = recorded
        checkForLostNodes(at: address)
        guard !changed.isEmpty || !countersChanged.isEmpty else { return }
        for key in state.owners(of: address) {
            enqueueNodes(changed, in: key.namespace)
            // Counters change with every message: folded in at most once per statusInterval.
            enqueueNodes(countersChanged, in: key.namespace, after: configuration.statusInterval)
        }
    }

    /// Syncs again the modules whose host at `address` no longer reports nodes it
    /// accepted (it restarted). A report reflects every sync older than a few report
    /// intervals; if a more recent sync may explain the difference, looks again once
    /// that sync is old enough, since a host sends its reports only when they change.
    private func checkForLostNodes(at address: String) {
        let settling = max(configuration.watchInterval * 4, .seconds(1))
        let now = ContinuousClock.now
        let missing = state.modulesMissingNodes(at: address, syncedBefore: now)
        let lost = missing.filter { (state.lastSync($0)?.at ?? now) < now - settling }
        if !lost.isEmpty, let syncer {
            logger.info("the host at \(address) lost nodes it had accepted (it restarted?); syncing \(lost.map(\.description).sorted()) again")
            Task { for key in lost { await syncer.schedule(key, force: true) } }
        }
        if missing.count > lost.count {
            Task { [weak self] in
                try? await Task.sleep(for: settling)
                self?.checkForLostNodes(at: address)
            }
        }
    }

    // MARK: Syncing

    private func performSync(_ key: ModuleKey, force: Bool) async {
        workDone.add(1, ordering: .relaxed)
        // Read before the caches: a change while planning counts for the next sync.
        let inputs = state.planInputs(key.namespace)
        let modules = cachedModules(in: key.namespace)
        guard let module = modules.first(where: { $0.metadata.name == key.module }),
            let address = ClusterPlan.address(of: module)
        else {
            // Deleted, or without an address: it has no host.
            forgetModuleState(key)
            await syncer?.forget(key)
            return
        }
        let last = state.lastSync(key)
        // A recent sync to this address may be the one to keep (re-sent after 30 s regardless).
        let recent = !force && (last.map { $0.address == address && ContinuousClock.now - $0.at < .seconds(30) } ?? false)
        // Nothing the plan is made from changed: it would give what was sent.
        if recent, last?.inputs == inputs { return }
        let cache = validationCaches.withLock { caches in
            if let cache = caches[key.namespace] { return cache }
            let cache = ValidationCache()
            caches[key.namespace] = cache
            return cache
        }
        let plan = ClusterPlan(nodes: cachedNodes(in: key.namespace), modules: modules, cache: cache)
        let desired = plan.modules[key.module] ?? DesiredNodes(generation: 0, nodes: [])
        if recent, last?.desiredHash == desired.hashValue {
            state.notePlanned(key, inputs: inputs)
            return
        }
        let milliseconds = Int64(Date().timeIntervalSince1970 * 1000)
        let generation = max((last?.generation ?? 0) + 1, milliseconds)
        var sent = desired
        sent.generation = generation
        do {
            let result = try await hosts.connection(to: address).sync(sent)
            let results = Dictionary(result.nodes.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
            let changed = state.recordSync(
                key, OperatorState.SentSync(
                    desiredHash: desired.hashValue, address: address, generation: generation, at: .now, results: results,
                    inputs: inputs))
            watchHost(address)
            // The module moved: its old address may be unused now.
            if let last, last.address != address { forgetUnusedAddresses() }
            enqueueNodes(changed, in: key.namespace)
        } catch {
            logger.warning("sync of module \(key) at \(address) failed: \(error)")
            state.forgetSync(key)
            let syncer = self.syncer
            Task {
                try? await Task.sleep(for: .seconds(1))
                await syncer?.schedule(key)
            }
        }
    }

    // MARK: TinyNode

    private struct NodeStillRunning: Error, CustomStringConvertible {
        var node: String
        var description: String { "module host still runs node \"\(node)\"" }
    }

    private func reconcileNode(_ node: TinyNode, _ context: ReconcileContext) async throws -> ReconcileAction {
        workDone.add(1, ordering: .relaxed)
        guard let namespace = node.metadata.namespace, node.metadata.name != nil else { return .done }
        let api = client.api(TinyNode.self, namespace: namespace)
        do {
            return try await reconcileNode(node, in: namespace, api: api)
        } catch let error as KubernetesError where error.isNotFound && node.metadata.deletionTimestamp != nil {
            return .done  // the cache lagged behind: the node is already gone
        }
    }

    private func reconcileNode(_ node: TinyNode, in namespace: String, api: Api<TinyNode>) async throws -> ReconcileAction {
        try await finalizer(api: api, name: Self.nodeFinalizer, object: node) { event in
            switch event {
            case .apply(let node):
                await scheduleSyncs(for: node, in: namespace)
                try await writeStatus(of: node, in: namespace)
                return .done  // queued again when the node, its sync result or its host's report changes
            case .cleanup(let node):
                try await cleanUp(node, in: namespace)
                return .done
            }
        }
    }

    private func scheduleSyncs(for node: TinyNode, in namespace: String) async {
        guard let syncer, let name = node.metadata.name, let scope = scope(for: namespace) else { return }
        var modules: Set<String> = [node.spec.module]
        for source in scope.nodes.store.byIndex("target", name) where source.metadata.namespace == namespace {
            modules.insert(source.spec.module)
        }
        for module in modules { await syncer.schedule(ModuleKey(namespace: namespace, module: module)) }
    }

    private func cleanUp(_ node: TinyNode, in namespace: String) async throws {
        guard let name = node.metadata.name else { return }
        let key = ModuleKey(namespace: namespace, module: node.spec.module)
        guard let module = cachedModules(in: namespace).first(where: { $0.metadata.name == node.spec.module }),
            let address = ClusterPlan.address(of: module)
        else { return }
        let requested = ContinuousClock.now
        await syncer?.syncNow(key)
        guard let sync = state.lastSync(key), sync.at >= requested else {
            throw NodeStillRunning(node: name)  // the sync failed: the host may still run it
        }
        // Modules with edges to the node drop them too.
        if let scope = scope(for: namespace) {
            for source in Set(scope.nodes.store.byIndex("target", name).map(\.spec.module)) where source != node.spec.module {
                await syncer?.schedule(ModuleKey(namespace: namespace, module: source))
            }
        }
        if state.syncResult(key, node: name) != nil {
            throw NodeStillRunning(node: name)
        }
        if let report = state.report(address: address, node: name), report.phase != .stopped {
            throw NodeStillRunning(node: name)
        }
        logger.debug("node \(namespace)/\(name) stopped; removing its finalizer")
    }

    private func writeStatus(of node: TinyNode, in namespace: String) async throws {
        guard let name = node.metadata.name else { return }
        // A node's status depends on itself, its edges' targets and the modules: plan just those.
        let targets = Set(node.spec.edges.compactMap { $0.target?.node }).subtracting([name])
        let targetNodes = targets.compactMap { scope(for: namespace)?.nodes.store.get(ObjectKey(namespace: namespace, name: $0)) }
        let modules = cachedModules(in: namespace)
        let plan = ClusterPlan(nodes: targetNodes + [node], modules: modules)
        guard let nodePlan = plan.nodes[name] else { return }
        let key = ModuleKey(namespace: namespace, module: node.spec.module)
        let address = modules.first { $0.metadata.name == node.spec.module }.flatMap(ClusterPlan.address(of:))
        let report = address.flatMap { state.report(address: $0, node: name) }
        let status = NodeStatusBuilder.status(
            for: nodePlan, sync: state.syncResult(key, node: name), report: report, now: .now())
        guard status != node.status else { return }
        var patch = try JSONValue(encoding: status)
        if case .object(var fields) = patch {
            for field in ["module", "component", "error", "metrics"] where fields[field] == nil { fields[field] = .null }
            patch = .object(fields)
        }
        _ = try await client.api(TinyNode.self, namespace: namespace).patchStatus(name, .merge(["status": patch]))
        let wasReady = node.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false
        if status.conditions.isTrue(TinyNodeCondition.ready), !wasReady {
            _ = try? await recorder.publish(reason: "Ready", action: "Schedule", note: "the node runs", regarding: node)
        }
        let oldValid = node.status?.conditions[type: TinyNodeCondition.configValid]
        if let valid = status.conditions[type: TinyNodeCondition.configValid], valid.status == .false,
            oldValid?.status != .false || oldValid?.message != valid.message
        {
            _ = try? await recorder.publish(.warning, reason: "ValidationFailed", action: "Validate", note: valid.message, regarding: node)
        }
    }

    // MARK: TinyFlow

    private func reconcileFlow(_ flow: TinyFlow, _ context: ReconcileContext) async throws -> ReconcileAction {
        workDone.add(1, ordering: .relaxed)
        guard let namespace = flow.metadata.namespace, let name = flow.metadata.name else { return .done }
        let nodes = (scope(for: namespace)?.nodes.store.byIndex("flow", name) ?? []).filter { $0.metadata.namespace == namespace }
        var status = flow.status ?? TinyFlowStatus()
        let current = status.revisions.first { $0.number == status.currentRevision }
        let before = Dictionary((current?.nodes ?? []).map { ($0.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let changed = nodes.filter { node in
            node.metadata.name.map { before[$0] != node.spec } ?? false
        }.sorted { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }
        let summary =
            flow.metadata.annotations?[Self.changeSummaryAnnotation]
            ?? changed.compactMap { $0.metadata.annotations?[Self.changeSummaryAnnotation] }.first
        let author = changed.compactMap(Self.lastManager(of:)).first
        var recorded: Int?
        var settlesIn: Duration?
        let key = ObjectKey(namespace: namespace, name: name)
        if let updated = FlowHistory.record(
            nodes, in: status, author: author, summary: summary, now: .now(), limit: flow.spec.revisionHistoryLimit)
        {
            settlesIn = unsettledTime(of: key, nodes: updated.revisions.last?.nodes ?? [], in: namespace)
            if settlesIn == nil {
                status = updated
                recorded = updated.currentRevision
            }
        }
        if settlesIn == nil { _ = unsettledRevisions.withLock { $0.removeValue(forKey: key) } }
        let live = nodes.filter { $0.metadata.deletionTimestamp == nil }
        status.observedGeneration = flow.metadata.generation
        status.nodeCount = live.count
        status.readyNodes = live.filter { $0.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false }.count
        status.health = live.isEmpty ? .unknown : (status.readyNodes == live.count ? .healthy : .degraded)
        let now = Timestamp.now()
        switch status.health {
        case .healthy:
            status.conditions.set(Condition(
                type: "Ready", status: .true, reason: "AllNodesReady", message: "\(live.count) of \(live.count) nodes are Ready",
                observedGeneration: flow.metadata.generation, lastTransitionTime: now))
        case .degraded:
            status.conditions.set(Condition(
                type: "Ready", status: .false, reason: "NodesNotReady",
                message: "\(status.readyNodes) of \(live.count) nodes are Ready", observedGeneration: flow.metadata.generation,
                lastTransitionTime: now))
        case .unknown:
            status.conditions.set(Condition(
                type: "Ready", status: .unknown, reason: "NoNodes", message: "the flow has no nodes",
                observedGeneration: flow.metadata.generation, lastTransitionTime: now))
        }
        if status != flow.status {
            let patch = try FlowHistory.statusPatch(from: flow.status, to: status)
            _ = try await client.api(TinyFlow.self, namespace: namespace).patchStatus(name, .json(patch))
            if let recorded {
                let text = status.revisions.last?.summary ?? ""
                _ = try? await recorder.publish(
                    reason: "RevisionRecorded", action: "Record", note: "revision \(recorded): \(text)", regarding: flow)
            }
        }
        // Queued again whenever one of its nodes changes; until a new node set settles, when it may have.
        return settlesIn.map { .requeue(after: $0) } ?? .done
    }

    /// How long until the flow's node set `nodes` has been unchanged for
    /// `revisionSettleTime`; `nil` once it has.
    private func unsettledTime(of flow: ObjectKey, nodes: [FlowNodeSnapshot], in namespace: String) -> Duration? {
        let now = ContinuousClock.now
        var since = unsettledRevisions.withLock { table in table[flow].flatMap { $0.nodes == nodes ? $0.since : nil } }
        if since == nil {
            let liveFlows = Set(scope(for: namespace)?.flows.store.keys ?? [])
            unsettledRevisions.withLock { table in
                table = table.filter { liveFlows.contains($0.key) }  // forget deleted flows
                table[flow] = (nodes, now)
            }
            since = now
        }
        let remaining = configuration.revisionSettleTime - (now - (since ?? now))
        return remaining > .zero ? remaining : nil
    }

    /// The manager of the most recent `metadata.managedFields` entry of a write to
    /// the node itself (status writes are the operator's).
    static func lastManager(of node: TinyNode) -> String? {
        NodeCacheCompaction.mostRecent(node.metadata.managedFields ?? [])?["manager"]?.stringValue
    }

    // MARK: TinySignal

    private struct SignalNotDeliverable: Error, CustomStringConvertible {
        var reason: String
        var description: String
    }

    private func reconcileSignal(_ signal: TinySignal, _ context: ReconcileContext) async throws -> ReconcileAction {
        guard let namespace = signal.metadata.namespace, let name = signal.metadata.name else { return .done }
        if let phase = signal.status?.phase, phase != .pending { return .done }
        let uid = Self.deliveryID(of: signal)
        let api = client.api(TinySignal.self, namespace: namespace)
        if state.wasDelivered(uid) {
            try await writeSignal(api, name, .delivered, "Delivered", "delivered to \(signal.spec.node):\(signal.spec.port)", signal)
            return .done
        }
        // A delivery is forgotten once the cache holds the signal's final status; `signal` may predate it.
        let cached = scope(for: namespace)?.signals.store.get(ObjectKey(namespace: namespace, name: name))
        if let phase = cached?.status?.phase, phase != .pending { return .done }
        let node = scope(for: namespace)?.nodes.store.get(ObjectKey(namespace: namespace, name: signal.spec.node))
            .flatMap { $0.metadata.deletionTimestamp == nil ? $0 : nil }
        let module = node.flatMap { node in cachedModules(in: namespace).first { $0.metadata.name == node.spec.module } }
        guard let node, let module, let address = ClusterPlan.address(of: module),
            node.status?.conditions.isTrue(TinyNodeCondition.ready) ?? false
        else {
            let problem =
                node == nil
                ? SignalNotDeliverable(reason: "NodeNotFound", description: "no TinyNode \"\(signal.spec.node)\"")
                : SignalNotDeliverable(reason: "NodeNotReady", description: "node \"\(signal.spec.node)\" is not Ready")
            if context.failures < 8 { throw problem }
            try await writeSignal(api, name, .failed, problem.reason, problem.description, signal)
            return .done
        }
        do {
            let message = Message(to: PortAddress(node: signal.spec.node, port: signal.spec.port), payload: signal.spec.payload)
            guard state.markDelivered(uid) else { return .requeue(after: .milliseconds(10)) }
            try await hosts.connection(to: address).deliver(message)
        } catch {
            try await writeSignal(api, name, .failed, "DeliveryFailed", "\(error)", signal)
            _ = try? await recorder.publish(.warning, reason: "DeliveryFailed", action: "Deliver", note: "\(error)", regarding: signal)
            return .done
        }
        let note = "delivered to \(node.metadata.name ?? ""):\(signal.spec.port)"
        try await writeSignal(api, name, .delivered, "Delivered", note, signal)
        _ = try? await recorder.publish(reason: "Delivered", action: "Deliver", note: note, regarding: signal)
        return .done
    }

    /// What identifies a signal's delivery: its uid.
    static func deliveryID(of signal: TinySignal) -> String {
        signal.metadata.uid ?? "\(signal.metadata.namespace ?? "")/\(signal.metadata.name ?? "")"
    }

    private func writeSignal(
        _ api: Api<TinySignal>, _ name: String, _ phase: SignalPhase, _ reason: String, _ message: String, _ signal: TinySignal
    ) async throws {
        var status = signal.status ?? TinySignalStatus()
        status.observedGeneration = signal.metadata.generation
        status.phase = phase
        status.reason = reason
        status.message = message
        status.completionTime = .now()
        _ = try await api.patchStatus(name, .merge(["status": try JSONValue(encoding: status)]))
    }
}
