import AsyncPrimitives
public import ContextStoreAPI
import ContextStoreMemory
public import MessageStoreAPI
public import ModuleHostAPI
public import ComponentKit
import Foundation
public import Logging
import BoundedChannels
public import ConfigurationReferences
public import ServiceLifecycle
import Synchronization

/// The node runtime of a module host: runs a desired set of nodes, each as
/// tasks in one structured task tree, wired by bounded channels within the
/// module and by a ``Transport`` across modules.
///
/// Run it as a `Service` (``run()``); drive it with ``sync(_:)``. Graceful
/// shutdown (or ``shutdown()``) stops source nodes, lets every node drain
/// what is queued within its stop timeout, then returns; cancelling ``run()``
/// stops everything at once.
///
/// A node that leaves (deleted, replaced, moved) stops in the background: its channels
/// refuse new messages at once, it handles what they hold for at most
/// ``Configuration/stopTimeout`` — without retry waits or restart backoffs — then its tasks
/// are cancelled and what is left is counted as `dropped`. Its stop holds neither the sync
/// nor any other node's start; only a new instance of the same node waits for it.
public final class ModuleRuntime: ModuleHostControl, MessageSink, Service, Sendable {
    /// Tunables of the runtime.
    public struct Configuration: Sendable {
        /// Messages an input port queues before senders suspend.
        public var channelCapacity = 64
        /// Messages a port's consumer takes per wake-up; a port holds at most
        /// `channelCapacity + batchSize` messages (queued plus taken).
        public var batchSize = 32
        /// Consecutive handler failures after which a node is restarted.
        public var failureThreshold = 5
        /// First wait before a restart; doubles per restart up to `maxBackoff`.
        public var initialBackoff: Duration = .milliseconds(100)
        /// Longest wait before a restart.
        public var maxBackoff: Duration = .seconds(30)
        /// A source whose `run` went on this long before failing was healthy:
        /// its next restart waits `initialBackoff` again.
        public var healthyRunReset: Duration = .seconds(10)
        /// Deadline of a request whose message carries none.
        public var defaultRequestTimeout: Duration = .seconds(30)
        /// How long a claimed durable message stays invisible to other consumers: extended
        /// while its handler runs, so it expires only when this host stops extending it (it died).
        public var durableLease: Duration = .seconds(30)
        /// How long a node being stopped may go on handling what it holds; then its tasks
        /// are cancelled and its queued messages dropped (counted, answered, reported).
        public var stopTimeout: Duration = .seconds(5)

        /// The defaults.
        public init() {}
    }

    /// The module whose components the nodes run.
    let module: ModuleDefinition
    /// Reaches other modules' hosts (addresses are updated at every sync).
    private let transport: (any Transport)?
    /// Decides whether this replica runs source nodes.
    let election: any SourceElection
    /// Where the nodes' context lives (``NodeContext/store(_:)``).
    public let contextStore: any ContextStore
    /// Where durable edges keep their messages (the context store's database); without
    /// one, nodes with durable edges are refused (``NodeRejection/durableStoreUnavailable``).
    public let messageStore: (any MessageStore)?
    /// The consumers of the nodes' durable input ports.
    let durableConsumers = DurableConsumers()
    /// Where the Secrets and ConfigMaps the nodes' configurations refer to are read.
    let referencedValues: any ReferencedValueSource
    /// The secret values the nodes were given: redacted from everything the runtime
    /// shows (recent messages, errors, status reports) and logs.
    public let redaction: SecretRedaction
    let logger: Logger
    let configuration: Configuration
    /// Sends what the nodes' components send.
    let router: Router
    private let registry = Mutex<[String: NodeInstance]>([:])
    /// Nodes that left the registry and whose stop is not over, by name: a new instance of
    /// the same node starts after them, and shutdown waits for them.
    let stoppingNodes = Mutex<[String: [NodeInstance]]>([:])
    /// How long a node's tasks have to end once cancelled at its stop timeout, before its
    /// stop is over without them (a handler that ignores cancellation is left behind).
    static let cancellationGrace: Duration = .seconds(1)
    private let syncLock = AsyncLock()
    /// The last desired state applied (under `syncLock`), applied again when a referenced
    /// Secret or ConfigMap changes; nil before the first sync and after shutdown.
    private let lastDesired = Mutex<DesiredNodes?>(nil)
    /// Desired nodes whose references did not resolve, as reported (phase failed).
    private let unresolved = Mutex<[String: NodeStatusReport]>([:])
    /// The term and generation of the last sync applied; older ones are ignored.
    private let appliedVersion = Mutex<SyncVersion?>(nil)
    /// Told whenever a node's status or the set of nodes changes.
    private let statusChanges: ChangeNotifier
    /// The tasks ``run()`` starts in its task group: node starts and node tasks.
    let jobs: BoundedChannel<Job>

    /// A task for ``run()`` to start in its task group.
    enum Job: Sendable {
        /// Any work.
        case work(@Sendable () async -> Void)
        /// The whole life of a plain one-input node: its consumer, started
        /// directly so that the suspended chain of frames an idle node keeps
        /// is as short as it can be (see ``startTasks(of:)``).
        case consumer(NodeInstance, port: String, channel: BoundedChannel<Delivery>)
    }

    /// Creates a runtime for `module`; its nodes keep their context in `contextStore` (by
    /// default in this process's memory) and read the Secrets and ConfigMaps their
    /// configurations refer to from `referencedValues` (by default none: such nodes fail).
    /// The values read from Secrets are added to `redaction`, and the runtime's logs go
    /// through it.
    public init(
        module: ModuleDefinition, transport: (any Transport)? = nil, election: any SourceElection = StandaloneElection(),
        contextStore: any ContextStore = MemoryContextStore(), messageStore: (any MessageStore)? = nil,
        referencedValues: any ReferencedValueSource = NoReferencedValues(), redaction: SecretRedaction = SecretRedaction(),
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.module = module
        self.messageStore = messageStore
        self.transport = transport
        self.election = election
        self.contextStore = contextStore
        self.referencedValues = referencedValues
        self.redaction = redaction
        self.configuration = configuration
        self.logger = logger.redacting(redaction)
        let statusChanges = ChangeNotifier()
        self.statusChanges = statusChanges
        self.router = Router(
            transport: transport, messageStore: messageStore, defaultRequestTimeout: configuration.defaultRequestTimeout,
            statusChanges: statusChanges)
        self.jobs = BoundedChannel(capacity: 1024)
    }

    // MARK: Service

    /// Hosts the node tasks until ``shutdown()``, a graceful shutdown of the
    /// surrounding `ServiceGroup`, or cancellation.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                do {
                    try await gracefulShutdown()
                    await self.shutdown()
                } catch {
                    // Cancelled without a graceful shutdown: node tasks are cancelled with the group.
                }
            }
            // A changed Secret or ConfigMap: the last desired state again, so that the nodes that
            // use it are reconfigured (and those whose key is gone fail); the others are unchanged.
            group.addTask {
                await self.referencedValues.whenChanged { await self.reapply() }
            }
            for await job in jobs {
                switch job {
                case .work(let work):
                    group.addTask { await work() }
                case .consumer(let node, let port, let channel):
                    group.addTask {
                        await node.tasks.run { await self.consume(port: port, channel: channel, node: node) }
                        node.supervisor.drained()
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Stops every node after it drained its queued messages (each within its stop
    /// timeout), then ends ``run()``.
    ///
    /// - Returns: the final status of every node that was running.
    @discardableResult
    public func shutdown() async -> [NodeStatusReport] {
        await syncLock.withLock {
            let nodes = registry.withLock { $0 }
            // Durable consumers' messages stay stored: they stop after their batch.
            let consumers = durableConsumers.removeAll()
            askToStop(consumers)
            for node in nodes.values { askToStop(node) }
            await finishStops(consumers: consumers, nodes: Array(nodes.values))
            // And the stops earlier syncs began.
            for node in stoppingNodes.withLock({ $0.values.joined() }) { await node.stopCompleted.wait() }
            registry.withLock { $0 = [:] }
            lastDesired.withLock { $0 = nil }
            unresolved.withLock { $0 = [:] }
            statusChanges.notify()
            jobs.finish()
            return nodes.values.map { redacted($0.report) }.sorted { $0.name < $1.name }
        }
    }

    // MARK: ModuleHostControl

    public func catalogue() async -> ModuleCatalogue {
        ModuleCatalogue(module: module.name, version: module.version, components: module.catalogue)
    }

    public func sync(_ desired: DesiredNodes) async -> SyncResult {
        await syncLock.withLock { () async -> SyncResult in
            let version = SyncVersion(desired)
            let applied = appliedVersion.withLock { $0 }
            if let applied, version < applied {
                return SyncResult(generation: applied.generation, nodes: currentResults())
            }
            appliedVersion.withLock { $0 = version }
            lastDesired.withLock { $0 = desired }
            await transport?.updateAddresses(desired.moduleAddresses)
            return await apply(desired)
        }
    }

    /// Applies the last desired state again (a referenced Secret or ConfigMap changed).
    func reapply() async {
        await syncLock.withLock {
            guard let desired = lastDesired.withLock({ $0 }) else { return }
            let result = await apply(desired)
            let failed = result.nodes.filter { $0.phase == .failed }.map(\.name)
            logger.info(
                "a referenced Secret or ConfigMap changed: nodes applied again",
                metadata: failed.isEmpty ? [:] : ["failed": "\(failed.joined(separator: ", "))"])
        }
    }

    /// Pushed on change: sleeps while nothing changes (no periodic work at
    /// rest); while nodes are busy, reports at most once per `interval`.
    public func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        let changes = statusChanges.subscribe()
        defer { changes.cancel() }
        var last: [NodeStatusReport]?
        while true {
            await changes.next()
            try Task.checkCancellation()
            let reports = statusReports()
            if reports != last {
                try await body(reports)
                last = reports
            }
            try await Task.sleep(for: interval)
        }
    }

    /// Reads or writes context in this host's store.
    public func context(_ request: ContextRequest) async throws -> ContextResponse {
        try await contextStore.perform(request)
    }

    /// What a debug node kept, with secret values shown as `***`.
    public func recentMessages(node: String) async -> [Message]? {
        guard let instance = registry.withLock({ $0[node] }) else { return nil }
        guard let provider = instance.component as? any RecentMessagesProviding else { return [] }
        let messages = await provider.recentMessages()
        let redactor = redaction.redactor
        guard !redactor.isEmpty else { return messages }
        return messages.map { message in
            var message = message
            message.payload = redactor.redact(message.payload)
            return message
        }
    }

    /// The status of every node, sorted by name (nodes whose references did not resolve
    /// as failed), errors with secret values shown as `***`.
    public func statusReports() -> [NodeStatusReport] {
        var reports = registry.withLock { $0.values.map(\.report) }
        let failed = unresolved.withLock { $0 }
        if !failed.isEmpty {
            let running = Set(reports.map(\.name))
            reports += failed.values.filter { !running.contains($0.name) }
        }
        return reports.map(redacted).sorted { $0.name < $1.name }
    }

    private func redacted(_ report: NodeStatusReport) -> NodeStatusReport {
        guard let error = report.lastError else { return report }
        var report = report
        report.lastError = redaction.redact(error)
        return report
    }

    /// The component instance of a node, to inspect it in tests and tools.
    public func component(of node: String) -> (any Component)? {
        registry.withLock { $0[node] }?.component
    }

    // MARK: MessageSink

    public func deliver(_ message: Message) async throws {
        try await enqueue(Delivery(message: message, reply: nil, retryPolicy: nil))
    }

    public func request(_ message: Message) async throws -> JSONValue {
        var message = message
        let deadline = router.requestDeadline(of: message, context: nil)
        message.deadline = deadline
        let slot = ReplySlot()
        try await enqueue(Delivery(message: message, reply: slot, retryPolicy: nil))
        return try await slot.wait(until: deadline, requestID: message.id)
    }

    private func enqueue(_ delivery: Delivery) async throws {
        guard let address = delivery.message.to else { throw DeliveryError.unaddressed(delivery.message.id) }
        guard let node = registry.withLock({ $0[address.node] }) else { throw DeliveryError.unknownNode(address.node) }
        try await node.enqueue(delivery, port: address.port)
    }

    // MARK: Sync

    private func currentResults() -> [NodeSyncResult] {
        var results = registry.withLock { $0.values.map(\.syncResult) }
        let running = Set(results.map(\.name))
        for report in unresolved.withLock({ $0.values }) where !running.contains(report.name) {
            results.append(NodeSyncResult(name: report.name, phase: .failed, error: report.lastError, reason: report.reason))
        }
        return results.map(redacted).sorted { $0.name < $1.name }
    }

    private func redacted(_ result: NodeSyncResult) -> NodeSyncResult {
        guard let error = result.error else { return result }
        var result = result
        result.error = redaction.redact(error)
        return result
    }

    /// Executes the plan of `desired`: stops the nodes that leave, starts and
    /// reconfigures the others, rebuilds every node's routes.
    private func apply(_ desired: DesiredNodes) async -> SyncResult {
        // References first: the plan compares and validates the definitions as the nodes run them.
        await referencedValues.track(ReferenceResolution.objects(of: desired.nodes))
        let resolution = ReferenceResolution(desired: desired.nodes, state: referencedValues.state(of:))
        redaction.add(resolution.secretValues)
        let generations = Dictionary(desired.nodes.map { ($0.name, $0.generation) }, uniquingKeysWith: { first, _ in first })
        unresolved.withLock { reports in
            reports = resolution.failures.reduce(into: [:]) { reports, entry in
                reports[entry.key] = NodeStatusReport(
                    name: entry.key, generation: generations[entry.key] ?? 0, phase: .failed, lastError: entry.value.error,
                    reason: entry.value.reason)
            }
        }

        // Durable edges need a persistent store: without one, their nodes are refused.
        var desiredNodes = resolution.nodes
        var durableFailures: [String: NodeSyncResult] = [:]
        if messageStore == nil {
            for definition in desiredNodes where definition.usesDurableEdges {
                durableFailures[definition.name] = NodeSyncResult(
                    name: definition.name, phase: .failed, error: DeliveryError.noDurableStore(node: definition.name).description,
                    reason: NodeRejection.durableStoreUnavailable)
            }
            desiredNodes.removeAll { durableFailures[$0.name] != nil }
        }

        let running = registry.withLock { $0 }
        let plan = SyncPlan(
            desired: desiredNodes,
            running: running.mapValues { SyncPlan.RunningNode(definition: $0.definition, componentType: $0.componentType) },
            module: module)

        let leaving = plan.stops.compactMap { running[$0] }
        // Consumers of queues no longer wanted, or of leaving nodes, and the leaving nodes
        // are asked to stop now (their channels refuse new messages); their stops end in
        // the background, each by its timeout.
        let consumable = desiredNodes.filter { plan.failures[$0.name] == nil }
        var desiredQueues = DurableConsumers.desiredQueues(of: consumable)
        desiredQueues.formUnion(await strandedQueues(of: consumable, changed: Set(plan.changes.map(\.name)), wanted: desiredQueues))
        let stopping = Set(plan.stops)
        let unwantedConsumers = durableConsumers.removeUnwanted(desired: desiredQueues) { name in
            stopping.contains(name) ? nil : running[name]
        }
        askToStop(unwantedConsumers)
        for node in leaving { askToStop(node) }
        registry.withLock { registry in
            for node in leaving { registry[node.name] = nil }
        }
        statusChanges.notify()
        if !unwantedConsumers.isEmpty || !leaving.isEmpty {
            await inBackground { await self.finishStops(consumers: unwantedConsumers, nodes: leaving) }
        }

        // Every node's routes are in place before any new node runs or a reconfigured
        // one restarts: a source that started sending before would send into nothing.
        var starting: [NodeInstance] = []
        var restarting: [(node: NodeInstance, settings: JSONValue)] = []
        var pauseToggled: [NodeInstance] = []
        for change in plan.changes {
            switch change {
            case .start(let start):
                starting.append(register(start))
            case .reconfigure(let reconfiguration):
                guard let node = registry.withLock({ $0[reconfiguration.definition.name] }) else { continue }
                let wasPaused = node.isPaused
                if let settings = reconfigure(node, to: reconfiguration) {
                    restarting.append((node, settings))
                } else if wasPaused != node.isPaused {
                    pauseToggled.append(node)
                }
            }
        }
        rebuildRoutes(remoteNodes: desired.remoteNodes)
        durableConsumers.register(desired: desiredQueues) { name in registry.withLock { $0[name] } }
        for node in starting { await launch(node) }
        for (node, settings) in restarting {
            await deliverSettings(settings, to: node)
            node.supervisor.requestRestart()
        }
        // A source of a flow paused or resumed: its run loop looks again.
        for node in pauseToggled { node.supervisor.requestRestart() }
        // New nodes start their durable consumers once they took their settings; the others now.
        let new = Set(starting.map(\.name))
        for node in registry.withLock({ Array($0.values) }) where !new.contains(node.name) {
            await startDurableConsumers(of: node)
        }
        // Paused or resumed consumers look again.
        messageStore?.signals.wakeLocally(durableConsumers.queues.map { .work($0) })

        var results: [String: NodeSyncResult] = [:]
        for (name, error) in plan.failures {
            results[name] = NodeSyncResult(name: name, phase: .failed, error: error)
        }
        for (name, failure) in resolution.failures {
            results[name] = NodeSyncResult(name: name, phase: .failed, error: failure.error, reason: failure.reason)
        }
        results.merge(durableFailures) { _, durable in durable }
        for node in registry.withLock({ Array($0.values) }) { results[node.name] = node.syncResult }
        statusChanges.notify()
        return SyncResult(generation: desired.generation, nodes: results.values.map(redacted).sorted { $0.name < $1.name })
    }

    /// Makes a node to start and registers it; ``launch(_:)`` starts it.
    private func register(_ start: SyncPlan.Start) -> NodeInstance {
        let definition = start.definition
        let context = NodeContext(
            node: definition.name, namespace: definition.namespace ?? "default", flow: definition.flow,
            configurations: start.configurations, contextStore: contextStore, logger: logger)
        // A node replaced on this host (another component) counts on from the instance that
        // is stopping: one run of counters.
        let predecessor = stoppingNodes.withLock { $0[definition.name]?.last }
        let node = NodeInstance(
            definition: definition, componentType: start.componentType, context: context,
            channelCapacity: configuration.channelCapacity, restartBackoff: restartBackoff, statusChanges: statusChanges,
            replacing: predecessor)
        registry.withLock { $0[definition.name] = node }
        statusChanges.notify()
        return node
    }

    /// Starts a registered node's tasks.
    private func launch(_ node: NodeInstance) async {
        do {
            // Suspends while `run()` is behind in starting node tasks (it must be running).
            try await jobs.send(.work { await node.tasks.run { await self.startTasks(of: node) } })
        } catch {
            nodeNotStarted(node)
        }
    }

    /// Moves a running node to a new definition: the configuration is visible
    /// at once. Returns the changed settings, if any, which the caller delivers
    /// again (then `run` restarts) once the routes are rebuilt.
    private func reconfigure(_ node: NodeInstance, to reconfiguration: SyncPlan.Reconfiguration) -> JSONValue? {
        node.updateStatus { $0.definition = reconfiguration.definition }
        node.context.updateConfigurations(reconfiguration.configurations)
        return reconfiguration.newSettings
    }


    /// Starts the registered consumers of `node`'s durable input ports that have not started.
    func startDurableConsumers(of node: NodeInstance) async {
        guard let store = messageStore else { return }
        for (queue, entry) in durableConsumers.startable(of: node) {
            do {
                try await jobs.send(.work {
                    await entry.tasks.run { await self.consumeDurable(queue, node: node, store: store, stop: entry.stop) }
                    entry.stopped.signal()
                })
            } catch {
                entry.stopped.signal()
            }
        }
    }


    private func rebuildRoutes(remoteNodes: [String: String]) {
        let nodes = registry.withLock { $0 }
        let table = RouteTable(definitions: nodes.values.map(\.definition), local: { nodes[$0] }, remoteNodes: remoteNodes)
        for node in nodes.values {
            node.replaceRoutes(table.routes(of: node.name))
        }
    }
}
