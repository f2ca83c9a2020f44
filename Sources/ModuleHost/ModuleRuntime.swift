import AsyncPrimitives
import Backoff
public import ModuleHostAPI
public import ComponentKit
import Expressions
import Foundation
public import Logging
import BoundedChannels
public import ServiceLifecycle
import Synchronization

/// The node runtime of a module host: runs a desired set of nodes, each as
/// tasks in one structured task tree, wired by bounded channels within the
/// module and by a ``Transport`` across modules.
///
/// Run it as a `Service` (``run()``); drive it with ``sync(_:)``. Graceful
/// shutdown (or ``shutdown()``) stops source nodes, lets every node drain
/// what is queued, then returns; cancelling ``run()`` stops everything at once.
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

        /// The defaults.
        public init() {}
    }

    private let module: ModuleDefinition
    private let transport: (any Transport)?
    private let election: any SourceElection
    private let logger: Logger
    private let configuration: Configuration
    private let registry = Mutex<[String: NodeInstance]>([:])
    private let syncLock = AsyncLock()
    private let appliedGeneration = Mutex<Int64>(.min)
    /// Told whenever a node's status or the set of nodes changes.
    private let statusChanges = ChangeNotifier()
    private let jobs: BoundedChannel<Job>

    /// A task for ``run()`` to start in its task group.
    private enum Job: Sendable {
        /// Any work.
        case work(@Sendable () async -> Void)
        /// The whole life of a plain one-input node: its consumer, started
        /// directly so that the suspended chain of frames an idle node keeps
        /// is as short as it can be (see ``startTasks(of:)``).
        case consumer(NodeInstance, port: String, channel: BoundedChannel<Delivery>)
    }

    /// Creates a runtime for `module`.
    public init(
        module: ModuleDefinition, transport: (any Transport)? = nil, election: any SourceElection = StandaloneElection(),
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.module = module
        self.transport = transport
        self.election = election
        self.configuration = configuration
        self.logger = logger
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
            for await job in jobs {
                switch job {
                case .work(let work):
                    group.addTask { await work() }
                case .consumer(let node, let port, let channel):
                    group.addTask {
                        await self.consume(port: port, channel: channel, node: node)
                        node.stopped.signal()
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// Stops every node after it drained its queued messages, then ends ``run()``.
    ///
    /// - Returns: the final status of every node that was running.
    @discardableResult
    public func shutdown() async -> [NodeStatusReport] {
        await syncLock.withLock {
            let nodes = registry.withLock { $0 }
            // Names the nodes that have not stopped after 10 s: a node that never stops
            // would otherwise hold the shutdown without a word.
            let watchdog = Task { [logger] in
                try? await Task.sleep(for: .seconds(10))
                guard !Task.isCancelled else { return }
                let stuck = nodes.values.filter { !$0.stopped.hasHappened }.map(\.name).sorted()
                guard !stuck.isEmpty else { return }
                logger.warning("shutdown: \(stuck.count) node(s) not stopped 10 s after they were asked to: \(stuck.prefix(20).joined(separator: ", "))")
            }
            defer { watchdog.cancel() }
            await withDiscardingTaskGroup { group in
                for node in nodes.values { group.addTask { await self.stop(node) } }
            }
            registry.withLock { $0 = [:] }
            statusChanges.notify()
            jobs.finish()
            return nodes.values.map(\.report).sorted { $0.name < $1.name }
        }
    }

    // MARK: ModuleHostControl

    public func catalogue() async -> ModuleCatalogue {
        ModuleCatalogue(module: module.name, version: module.version, components: module.catalogue)
    }

    public func sync(_ desired: DesiredNodes) async -> SyncResult {
        await syncLock.withLock { () async -> SyncResult in
            let applied = appliedGeneration.withLock { $0 }
            guard desired.generation >= applied else {
                return SyncResult(generation: applied, nodes: currentResults())
            }
            appliedGeneration.withLock { $0 = desired.generation }
            await transport?.updateAddresses(desired.moduleAddresses)
            return await apply(desired)
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

    public func recentMessages(node: String) async -> [Message]? {
        guard let instance = registry.withLock({ $0[node] }) else { return nil }
        guard let provider = instance.component as? any RecentMessagesProviding else { return [] }
        return await provider.recentMessages()
    }

    /// The status of every node, sorted by name.
    public func statusReports() -> [NodeStatusReport] {
        registry.withLock { $0.values.map(\.report) }.sorted { $0.name < $1.name }
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
        let deadline = message.deadline ?? Date().addingTimeInterval(configuration.defaultRequestTimeout.seconds)
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
        registry.withLock { $0.values.map(\.syncResult) }
            .sorted { $0.name < $1.name }
    }

    private func apply(_ desired: DesiredNodes) async -> SyncResult {
        let descriptions = Dictionary(desired.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var results: [String: NodeSyncResult] = [:]
        var valid: [String: (NodeDefinition, any Component.Type)] = [:]
        let running = registry.withLock { $0 }
        for definition in desired.nodes {
            guard let componentType = module.components[definition.component] else {
                let names = module.components.keys.sorted().joined(separator: ", ")
                results[definition.name] = NodeSyncResult(
                    name: definition.name, phase: .failed,
                    error: "spec.component: module \"\(module.name)\" has no component \"\(definition.component)\" (components: \(names))")
                continue
            }
            // A node that runs this very definition, with edges to the same components, was
            // validated when it started: a sync of thousands of unchanged nodes stays cheap.
            if let node = running[definition.name], node.definition == definition, node.componentType == componentType,
                definition.edges.allSatisfy({ edge in
                    guard let target = edge.target?.node else { return true }
                    return running[target]?.definition.component == descriptions[target]?.component
                })
            {
                valid[definition.name] = (definition, componentType)
                continue
            }
            let spec = TinyNodeSpec(module: module.name, component: definition.component, ports: definition.ports, edges: definition.edges)
            var validation = spec.validate(component: componentType.componentDescription) { target in
                // Edges to nodes this host does not know are not the node's fault: the
                // operator reports them (EdgesResolved); sends on them fail to the error port.
                guard let local = descriptions[target] else { return .unresolved }
                return module.components[local.component].map { .resolved($0.componentDescription) } ?? .unresolved
            }
            for (index, edge) in definition.edges.enumerated() {
                guard let mapping = edge.mapping else { continue }
                do {
                    _ = try Template(compiling: mapping, at: "spec.edges[\(index)].mapping")
                } catch {
                    validation.edges.append(SchemaViolation(path: error.path, message: error.detail))
                }
            }
            if validation.isValid {
                valid[definition.name] = (definition, componentType)
            } else {
                results[definition.name] = NodeSyncResult(
                    name: definition.name, phase: .failed, error: validation.all.map(\.description).joined(separator: "; "))
            }
        }

        // Stop nodes that are gone, invalid now, or run another component.
        let existing = registry.withLock { $0 }
        let leaving = existing.values.filter { node in
            guard let (_, componentType) = valid[node.name] else { return true }
            return componentType != node.componentType
        }
        await withDiscardingTaskGroup { group in
            for node in leaving { group.addTask { await self.stop(node) } }
        }
        registry.withLock { registry in
            for node in leaving { registry[node.name] = nil }
        }
        statusChanges.notify()

        // Start new nodes and reconfigure changed ones.
        for (name, (definition, componentType)) in valid.sorted(by: { $0.key < $1.key }) {
            if let running = registry.withLock({ $0[name] }) {
                if running.definition != definition {
                    await reconfigure(running, to: definition, componentType: componentType)
                }
            } else {
                await start(definition, componentType: componentType)
            }
        }
        rebuildRoutes(remoteNodes: desired.remoteNodes)
        for node in registry.withLock({ Array($0.values) }) { results[node.name] = node.syncResult }
        return SyncResult(generation: desired.generation, nodes: results.values.sorted { $0.name < $1.name })
    }

    private func effectiveConfigurations(_ definition: NodeDefinition, _ componentType: any Component.Type) -> [String: JSONValue] {
        componentType.componentDescription.effectiveConfigurations(of: definition.ports)
    }

    private func start(_ definition: NodeDefinition, componentType: any Component.Type) async {
        let context = NodeContext(
            node: definition.name, configurations: effectiveConfigurations(definition, componentType), logger: logger)
        let node = NodeInstance(
            definition: definition, componentType: componentType, context: context,
            channelCapacity: configuration.channelCapacity, statusChanges: statusChanges)
        node.setPhase(.running)
        registry.withLock { $0[definition.name] = node }
        statusChanges.notify()
        do {
            // Suspends while `run()` is behind in starting node tasks (it must be running).
            try await jobs.send(.work { await self.startTasks(of: node) })
        } catch {
            nodeNotStarted(node)
        }
    }

    /// Delivers a new node's settings, then hands its long-lived tasks to ``run()``.
    ///
    /// This runs in a short-lived task of its own: a task keeps the memory of
    /// its deepest chain of calls for as long as it lives (the task allocator
    /// keeps its slabs), so the settings handler's frames must not be part of
    /// the task an idle node keeps.
    private func startTasks(of node: NodeInstance) async {
        if let settings = node.context.configuration(of: PortDefinition.settingsName) {
            await deliverSettings(settings, to: node)
        }
        // A plain one-input node's task only ever runs the consumer, whose
        // chain of frames fits the task allocator's first slab; anything else
        // goes through `lifecycle(of:)`.
        let job: Job
        if node.inputs.count == 1, let (port, channel) = node.inputs.first,
            !(node.componentType is any RunningComponent.Type)
        {
            job = .consumer(node, port: port, channel: channel)
        } else {
            job = .work { await self.lifecycle(of: node) }
        }
        do {
            try await jobs.send(job)
        } catch {
            nodeNotStarted(node)
        }
    }

    private func nodeNotStarted(_ node: NodeInstance) {
        node.setPhase(.stopped, error: "the module host is shutting down")
        node.stopped.signal()
    }

    private func reconfigure(_ node: NodeInstance, to definition: NodeDefinition, componentType: any Component.Type) async {
        let before = node.definition
        node.updateStatus { $0.definition = definition }
        let configurations = effectiveConfigurations(definition, componentType)
        node.context.updateConfigurations(configurations)
        let settings = PortDefinition.settingsName
        if before.ports.first(where: { $0.port == settings }) != definition.ports.first(where: { $0.port == settings }),
            let configuration = configurations[settings]
        {
            await deliverSettings(configuration, to: node)
            node.restartRun()
        }
    }

    /// Stops a node: sources are cancelled, queued messages drained, then the node's tasks end.
    private func stop(_ node: NodeInstance) async {
        for channel in node.inputs.values { channel.finish() }
        node.setPhase(.draining)
        node.stopRequested.signal()
        node.restartRun()
        await node.stopped.wait()
        node.setPhase(.stopped)
    }

    private func rebuildRoutes(remoteNodes: [String: String]) {
        let nodes = registry.withLock { $0 }
        for node in nodes.values {
            var routes: [String: [Route]] = [:]
            for (index, edge) in node.definition.edges.enumerated() {
                guard let target = PortAddress(edge.to) else { continue }
                let mapping = edge.mapping.flatMap { try? Template(compiling: $0, at: "spec.edges[\(index)].mapping") }
                let route: Route
                if let local = nodes[target.node] {
                    route = Route(target: .local(local, port: target.port), retryPolicy: edge.retryPolicy, mapping: mapping)
                } else if let module = remoteNodes[target.node] {
                    route = Route(target: .remote(module: module, address: target), retryPolicy: edge.retryPolicy, mapping: mapping)
                } else {
                    route = Route(target: .missing(target), retryPolicy: edge.retryPolicy, mapping: mapping)
                }
                routes[edge.port, default: []].append(route)
            }
            node.replaceRoutes(routes)
        }
    }

    // MARK: Node tasks

    /// A node's tasks: one consumer per input port and, for running
    /// components, the run loop. The first of these runs in the lifecycle task
    /// itself, so an idle node with one input port costs a single task.
    ///
    /// The settings were delivered before (``startTasks(of:)``), and a plain
    /// one-input node runs only its consumer instead (``Job/consumer(_:port:channel:)``).
    private func lifecycle(of node: NodeInstance) async {
        var work: [@Sendable () async -> Void] = node.inputs.map { port, channel in
            { await self.consume(port: port, channel: channel, node: node) }
        }
        if node.componentType is any RunningComponent.Type {
            work.append { await self.runLoop(of: node) }
        }
        if work.count == 1, let only = work.first {
            await only()
        } else if let first = work.first {
            await withDiscardingTaskGroup { group in
                for extra in work.dropFirst() { group.addTask { await extra() } }
                await first()
            }
        }
        node.stopped.signal()
    }

    /// Runs the component's `run` until the node stops, restarting it when
    /// the node's settings change; sources run only while this replica leads.
    @inline(never)
    private func runLoop(of node: NodeInstance) async {
        // `restart.wait()` also returns when this task is cancelled (the host's task tree
        // was cancelled without a graceful shutdown): then stop, do not start `run` again.
        while true {
            // Take the restart event before looking at the stop request: `stop` requests
            // the stop, then signals the current event and installs a fresh one. Looked at
            // the other way round, a stop between the two reads left this loop waiting on
            // the fresh event for ever, and the host's shutdown waiting on this node.
            let restart = node.currentRunRestart
            guard !node.stopRequested.hasHappened, !Task.isCancelled else { return }
            await withDiscardingTaskGroup { runs in
                if node.componentType.isSource {
                    runs.addTask { await self.election.whileLeading { await self.runSource(node) } }
                } else {
                    runs.addTask { await self.runSource(node) }
                }
                await restart.wait()
                runs.cancelAll()
            }
        }
    }

    @inline(never)
    private func deliverSettings(_ settings: JSONValue, to node: NodeInstance) async {
        let message = Message(to: PortAddress(node: node.name, port: PortDefinition.settingsName), payload: settings)
        do {
            try await node.component.handle(
                port: PortDefinition.settingsName, message: message, context: node.context, output: output(of: node))
        } catch {
            logger.error("node \(node.name) rejected its settings: \(error)")
            node.setPhase(.failed, error: "settings rejected: \(error)")
        }
    }

    private func runSource(_ node: NodeInstance) async {
        var schedule = BackoffSchedule(restartBackoff)
        while !Task.isCancelled {
            guard let component = node.component as? any RunningComponent else { return }
            schedule.started(at: .now)
            do {
                try await component.run(context: node.context, output: output(of: node))
                return
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                let delay = schedule.failed(at: .now)
                logger.error("source node \(node.name) failed: \(error); restarting")
                node.updateStatus {
                    $0.restarts += 1
                    $0.phase = .backingOff
                    $0.lastError = "\(error)"
                }
                do { try await Task.sleep(for: delay) } catch { return }
                node.setPhase(.running)
            }
        }
    }

    private func consume(port: String, channel: BoundedChannel<Delivery>, node: NodeInstance) async {
        var batch: [Delivery] = []
        while true {
            // Keep the buffer while full batches arrive; an idle node holds none.
            batch.removeAll(keepingCapacity: batch.count == configuration.batchSize)
            do {
                guard try await channel.next(into: &batch, upTo: configuration.batchSize) else { return }
            } catch {
                return
            }
            await process(batch, port: port, node: node)
        }
    }

    /// Handles a batch in order. A function of its own, so that the consumer's
    /// frame, which an idle node keeps while it waits, holds no delivery.
    @inline(never)
    private func process(_ batch: [Delivery], port: String, node: NodeInstance) async {
        for delivery in batch {
            await process(delivery, port: port, node: node)
        }
    }

    @inline(never)
    private func process(_ delivery: Delivery, port: String, node: NodeInstance) async {
        let message = delivery.message
        if message.isExpired() {
            node.count { $0.expired += 1 }
            let error = DeliveryError.expired(message.id)
            delivery.reply?.fail(error)
            await reportFailure(message, port: port, node: node, error: error)
            return
        }
        let policy = delivery.retryPolicy
        let startedAt = ContinuousClock.now
        var attempt = 1
        while true {
            do {
                let context = DeliveryContext(reply: delivery.reply, deadline: message.deadline, traceparent: message.traceparent)
                try await DeliveryContext.$current.withValue(context) {
                    try await node.component.handle(port: port, message: message, context: node.context, output: output(of: node))
                }
                node.updateStatus {
                    $0.counters.delivered += 1
                    $0.counters.lastMessageTime = Date()
                    $0.consecutiveFailures = 0
                }
                return
            } catch {
                if let policy, shouldRetry(error, policy: policy, attempt: attempt, startedAt: startedAt, deadline: message.deadline) {
                    let wait = retryDelay(policy, attempt: attempt)
                    attempt += 1
                    do { try await Task.sleep(for: wait) } catch { /* cancelled: fall through to failure */ }
                    if !Task.isCancelled { continue }
                }
                node.count { $0.errored += 1 }
                delivery.reply?.fail(error)
                await reportFailure(message, port: port, node: node, error: error)
                await noteFailure(of: node, error: error)
                return
            }
        }
    }

    private func shouldRetry(_ error: any Error, policy: RetryPolicy, attempt: Int, startedAt: ContinuousClock.Instant, deadline: Date?) -> Bool {
        guard attempt < policy.maxAttempts, !(error is CancellationError) else { return false }
        let typeName = String(describing: type(of: error))
        if policy.nonRetryableErrors.contains(typeName) || policy.nonRetryableErrors.contains("\(error)") { return false }
        let wait = retryDelay(policy, attempt: attempt)
        if let timeout = policy.timeout.flatMap({ parseDuration($0) }), ContinuousClock.now + wait - startedAt > timeout {
            return false
        }
        if let deadline, Date().addingTimeInterval(wait.seconds) >= deadline { return false }
        return true
    }

    private func retryDelay(_ policy: RetryPolicy, attempt: Int) -> Duration {
        let backoff = Backoff(
            initial: parseDuration(policy.initialDelay) ?? .milliseconds(100),
            maximum: parseDuration(policy.maxDelay) ?? .seconds(10),
            multiplier: policy.backoffCoefficient, jitter: 0)
        return backoff.delay(attempt: attempt - 1, random: 0.5)
    }

    /// Counts a handler failure; after `failureThreshold` in a row the node is
    /// restarted (a fresh component instance, settings delivered again) after
    /// an exponential backoff, during which its queued messages wait.
    @inline(never)
    private func noteFailure(of node: NodeInstance, error: any Error) async {
        let restarts: Int? = node.updateStatus { status in
            status.lastError = "\(error)"
            status.consecutiveFailures += 1
            guard status.consecutiveFailures >= configuration.failureThreshold else { return nil }
            status.consecutiveFailures = 0
            status.restarts += 1
            status.phase = .backingOff
            return status.restarts
        }
        guard let restarts else { return }
        logger.warning("node \(node.name) failed \(configuration.failureThreshold) times in a row; restarting (restart \(restarts))")
        try? await Task.sleep(for: restartBackoff.delay(attempt: restarts - 1))
        node.recreateComponent()
        if let settings = node.context.configuration(of: PortDefinition.settingsName) {
            await deliverSettings(settings, to: node)
        }
        node.updateStatus { if $0.phase == .backingOff { $0.phase = .running } }
    }

    /// The delays between restarts of a node (its `run`, or a fresh instance after repeated handler failures).
    private var restartBackoff: Backoff {
        Backoff(
            initial: configuration.initialBackoff, maximum: configuration.maxBackoff,
            resetAfter: configuration.healthyRunReset)
    }

    @inline(never)
    private func reportFailure(_ message: Message, port: String, node: NodeInstance, error: any Error) async {
        let report = ErrorMessage(
            error: "\(error)", errorType: String(describing: type(of: error)), node: node.name, port: port,
            message: (try? JSONValue(encoding: message)) ?? message.payload)
        let routes = node.routes(for: PortDefinition.errorName)
        guard !routes.isEmpty, let payload = try? JSONValue(encoding: report) else {
            logger.warning("node \(node.name) failed on port \(port): \(error)", metadata: ["message": "\(message.id)"])
            return
        }
        do {
            try await DeliveryContext.$current.withValue(nil) {
                try await send(Message(payload: payload), from: node, port: PortDefinition.errorName)
            }
        } catch {
            logger.error("node \(node.name) could not report a failure to its error port: \(error)")
        }
    }

    // MARK: Output

    private func output(of node: NodeInstance) -> NodeOutput { NodeOutput(node: node, runtime: self) }

    fileprivate func send(_ message: Message, from node: NodeInstance, port: String) async throws {
        let current = DeliveryContext.current
        var message = message
        message.from = PortAddress(node: node.name, port: port)
        if message.deadline == nil { message.deadline = current?.deadline }
        if message.traceparent == nil { message.traceparent = current?.traceparent }
        node.count { $0.sent += 1 }
        for route in node.routes(for: port) {
            var message = message
            if let mapping = route.mapping {
                message.payload = try mapping.render(root: message.expressionRoot)
            }
            switch route.target {
            case .local(let target, let targetPort):
                var copy = message
                copy.to = PortAddress(node: target.name, port: targetPort)
                try await target.enqueue(Delivery(message: copy, reply: current?.reply, retryPolicy: route.retryPolicy), port: targetPort)
            case .missing(let address):
                throw DeliveryError.unknownNode(address.node)
            case .remote(let module, let address):
                guard let transport else { throw DeliveryError.noTransport(module: module) }
                var copy = message
                copy.to = address
                if let reply = current?.reply {
                    reply.succeed(try await transport.request(copy, toModule: module))
                } else {
                    try await transport.send(copy, toModule: module)
                }
            }
        }
    }

    /// Sends a batch from `port` to every route, in order. Local targets take
    /// the messages one by one (their channels suspend the sender when full);
    /// a remote module gets them in one ``Transport/send(contentsOf:toModule:)``.
    /// Within a request (a reply is pending) every message goes alone, as
    /// ``send(_:from:port:)`` does, so each reply reaches the request. A message
    /// that fails on any route is named in the thrown error; the others were
    /// accepted by every route.
    fileprivate func send(contentsOf messages: [Message], from node: NodeInstance, port: String) async throws(BatchSendError) {
        guard !messages.isEmpty else { return }
        let current = DeliveryContext.current
        var failures: [BatchSendError.Failure] = []
        if current?.reply != nil {
            for (index, message) in messages.enumerated() {
                do {
                    try await send(message, from: node, port: port)
                } catch {
                    failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                }
            }
            if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
            return
        }
        let from = PortAddress(node: node.name, port: port)
        let prepared = messages.map { message in
            var message = message
            message.from = from
            if message.deadline == nil { message.deadline = current?.deadline }
            if message.traceparent == nil { message.traceparent = current?.traceparent }
            return message
        }
        node.count { $0.sent += prepared.count }
        for route in node.routes(for: port) {
            // The messages for this route (mapped) and their indices in the batch.
            var outgoing: [Message] = []
            var indices: [Int] = []
            outgoing.reserveCapacity(prepared.count)
            indices.reserveCapacity(prepared.count)
            for (index, message) in prepared.enumerated() {
                var message = message
                if let mapping = route.mapping {
                    do {
                        message.payload = try mapping.render(root: message.expressionRoot)
                    } catch {
                        failures.append(BatchSendError.Failure(index: index, messageID: message.id, error: error))
                        continue
                    }
                }
                outgoing.append(message)
                indices.append(index)
            }
            switch route.target {
            case .local(let target, let targetPort):
                let to = PortAddress(node: target.name, port: targetPort)
                for (offset, message) in outgoing.enumerated() {
                    var copy = message
                    copy.to = to
                    do {
                        try await target.enqueue(Delivery(message: copy, reply: nil, retryPolicy: route.retryPolicy), port: targetPort)
                    } catch {
                        failures.append(BatchSendError.Failure(index: indices[offset], messageID: message.id, error: error))
                    }
                }
            case .missing(let address):
                for (offset, message) in outgoing.enumerated() {
                    failures.append(BatchSendError.Failure(
                        index: indices[offset], messageID: message.id, error: DeliveryError.unknownNode(address.node)))
                }
            case .remote(let module, let address):
                guard let transport else {
                    for (offset, message) in outgoing.enumerated() {
                        failures.append(BatchSendError.Failure(
                            index: indices[offset], messageID: message.id, error: DeliveryError.noTransport(module: module)))
                    }
                    continue
                }
                for offset in outgoing.indices { outgoing[offset].to = address }
                do {
                    try await transport.send(contentsOf: outgoing, toModule: module)
                } catch {
                    for failure in error.failures where failure.index < indices.count {
                        failures.append(BatchSendError.Failure(
                            index: indices[failure.index], messageID: failure.messageID, error: failure.error))
                    }
                }
            }
        }
        if !failures.isEmpty { throw BatchSendError(count: messages.count, failures: failures) }
    }

    fileprivate func request(_ message: Message, from node: NodeInstance, port: String) async throws -> JSONValue {
        var message = message
        let deadline = message.deadline ?? DeliveryContext.current?.deadline
            ?? Date().addingTimeInterval(configuration.defaultRequestTimeout.seconds)
        message.deadline = deadline
        let slot = ReplySlot()
        let context = DeliveryContext(reply: slot, deadline: deadline, traceparent: message.traceparent ?? DeliveryContext.current?.traceparent)
        try await DeliveryContext.$current.withValue(context) {
            try await send(message, from: node, port: port)
        }
        return try await slot.wait(until: deadline, requestID: message.id)
    }
}

private struct NodeOutput: Output {
    let node: NodeInstance
    let runtime: ModuleRuntime

    func send(_ port: String, _ message: Message) async throws {
        try await runtime.send(message, from: node, port: port)
    }

    func send(_ port: String, contentsOf messages: [Message]) async throws(BatchSendError) {
        try await runtime.send(contentsOf: messages, from: node, port: port)
    }

    func request(_ port: String, _ message: Message) async throws -> JSONValue {
        try await runtime.request(message, from: node, port: port)
    }

    func reply(_ payload: JSONValue) async throws {
        guard let slot = DeliveryContext.current?.reply else {
            throw RequestError.noPendingRequest(node: node.name)
        }
        slot.succeed(payload)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double { self / .seconds(1) }
}
