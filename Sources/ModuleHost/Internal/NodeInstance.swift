import AsyncPrimitives
import Backoff
import ModuleHostAPI
import ComponentKit
import Foundation
import BoundedChannels
import Synchronization

/// One message waiting in a node's input channel, with what travels beside it.
struct Delivery: Sendable {
    var message: Message
    var reply: ReplySlot?
    var retryPolicy: RetryPolicy?

    /// Whether nothing travels beside the message: no deadline, trace or pending
    /// reply for a ``DeliveryContext`` to carry, and no retry policy.
    var isPlain: Bool {
        retryPolicy == nil && reply == nil && message.deadline == nil && message.traceparent == nil
    }
}

/// A node running on this host: its component instance, input channels,
/// routes, counters and the supervisor of its lifecycle.
final class NodeInstance: Sendable {
    /// What changes with a sync (definition) or a failure, under one lock. The
    /// message counters, which change with every message, are atomics of their own
    /// (``countReceived(_:)`` and its siblings), so the message path takes no lock for them.
    struct Status: Sendable {
        var definition: NodeDefinition
        var consecutiveFailures = 0
        var lastError: String?
        /// The delays of restarts after repeated handler failures: from the first again
        /// once the node ran healthy for the backoff's `resetAfter` since its last restart.
        var handlerRestarts: BackoffSchedule
    }

    /// The node's name, unique on this host.
    let name: String
    /// The component it runs; a restart makes a fresh instance of it.
    let componentType: any Component.Type
    /// What the component sees of its node: name, configurations, logger.
    let context: NodeContext
    /// One bounded channel per data input port.
    let inputs: [String: BoundedChannel<Delivery>]
    /// The node's lifecycle: its phase and restarts, restart and stop requests, the wait for its tasks to end.
    let supervisor: NodeSupervisor
    /// Its tasks (consumers, run loop, durable consumers) run inside it: a stop that is not
    /// done by its deadline cancels them.
    let tasks = TaskCanceller()
    /// Happens when a stop of the node is over: its tasks ended (or were given up on) and
    /// what its channels still held was counted as dropped.
    let stopCompleted = OneShotEvent()
    /// The run of its counters (``NodeStatusReport/run``): its predecessor's, else a new one.
    let run: String
    /// The instance this one replaced on this host: counted live while it stops, then as its
    /// final counts. This node's counters go on from its predecessor's.
    private let predecessor: Mutex<Predecessor>

    /// What a node counts of the instance it replaced.
    enum Predecessor: Sendable {
        /// It replaced none.
        case none
        /// It replaced this one, which is still stopping.
        case stopping(NodeInstance)
        /// The one it replaced stopped with these counts.
        case stopped(NodeCounters)
    }
    private let componentStorage: Mutex<any Component>
    private let routeTable = Mutex<OutputRoutes>(OutputRoutes())
    private let status: Mutex<Status>
    // The counters of ``NodeCounters`` but `received`, which the input channels
    // keep (``BoundedChannel/acceptedCount``), so that senders do not touch this
    // object; `lastMessageNanos` is `Int64.min` until a handler completed.
    private let delivered = Atomic<Int>(0)
    private let errored = Atomic<Int>(0)
    private let expired = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let sent = Atomic<Int>(0)
    private let lastMessageNanos = Atomic<Int64>(.min)
    /// Durable messages claimed for the node (they count as received), handed out again,
    /// and dead-lettered; the backlog of each durable input port as last seen.
    private let durableReceived = Atomic<Int>(0)
    private let redelivered = Atomic<Int>(0)
    private let deadLettered = Atomic<Int>(0)
    private let durableBacklogs = Mutex<[String: Int]>([:])
    /// Deliveries a consumer had taken out of its channel and not handled when its task was
    /// cancelled (the stop timeout passed), with their ports: the stop counts them as dropped.
    private let setAsideDeliveries = Mutex<[(port: String, delivery: Delivery)]>([])
    /// Hop-limit refusals not yet logged, and when the last log of them was
    /// (``WallClock/coarseNanoseconds()``; `Int64.min`: never): see ``hopLimitRefusalToLog(interval:)``.
    private let refusalsNotLogged = Atomic<Int>(0)
    private let lastRefusalLogNanos = Atomic<Int64>(.min)
    /// Whether `consecutiveFailures` may be non-zero: lets a successful delivery skip the status lock.
    private let mayHaveFailures = Atomic<Bool>(false)
    /// Told after every change of `status`, so status watchers wake only when there is news.
    private let statusChanges: ChangeNotifier

    init(
        definition: NodeDefinition, componentType: any Component.Type, context: NodeContext, channelCapacity: Int,
        restartBackoff: Backoff, statusChanges: ChangeNotifier, replacing predecessor: NodeInstance? = nil
    ) {
        self.name = definition.name
        self.run = predecessor?.run ?? UUID().uuidString
        self.predecessor = Mutex(predecessor.map { .stopping($0) } ?? .none)
        self.componentType = componentType
        self.context = context
        self.componentStorage = Mutex(componentType.init())
        var handlerRestarts = BackoffSchedule(restartBackoff)
        handlerRestarts.started(at: .now)
        self.status = Mutex(Status(definition: definition, handlerRestarts: handlerRestarts))
        self.statusChanges = statusChanges
        self.supervisor = NodeSupervisor(statusChanges: statusChanges)
        var inputs: [String: BoundedChannel<Delivery>] = [:]
        for port in componentType.ports where port.direction == .input && port.role == .data {
            inputs[port.name] = BoundedChannel(capacity: channelCapacity)
        }
        self.inputs = inputs
    }

    /// The current component instance.
    var component: any Component { componentStorage.withLock { $0 } }

    /// The definition the node runs.
    var definition: NodeDefinition { status.withLock { $0.definition } }

    /// Replaces the component instance with a fresh one (a restart).
    func recreateComponent() {
        let fresh = componentType.init()
        componentStorage.withLock { $0 = fresh }
    }

    /// Where the output ports send (``RouteTable``), resolved for sending: one lock to take the current set.
    var outputRoutes: OutputRoutes { routeTable.withLock { $0 } }

    /// Where the output port `port` sends, in the order of the node's edges.
    func routes(for port: String) -> [NodeRoute] { outputRoutes.port(port)?.routes.map(\.route) ?? [] }

    /// Installs the routes of a sync, by output port, and the hop limit of what the node sends
    /// (the definition's `maxHops`, else ``Message/defaultMaxHops``).
    func replaceRoutes(_ routes: [String: [NodeRoute]]) {
        let resolved = OutputRoutes(node: name, routes: routes, maxHops: definition.maxHops ?? Message.defaultMaxHops)
        routeTable.withLock { $0 = resolved }
    }

    /// Changes the node's status and tells the status watchers.
    func updateStatus<Result>(_ update: (inout Status) -> Result) -> Result {
        let result = status.withLock { update(&$0) }
        statusChanges.notify()
        return result
    }

    // MARK: Counting
    //
    // Each counter is an atomic, changed without a lock; the status watchers are
    // told after every change (``ChangeNotifier/notify()`` is one atomic load
    // while they have not yet looked at the previous one).

    /// Counts messages the node sent from its output ports.
    func countSent(_ count: Int = 1) {
        sent.wrappingAdd(count, ordering: .releasing)
        statusChanges.notify()
    }

    /// Counts durable messages claimed for the node, `again` of them handed out before.
    func countClaimed(_ count: Int, again: Int) {
        durableReceived.wrappingAdd(count, ordering: .releasing)
        if again > 0 { redelivered.wrappingAdd(again, ordering: .releasing) }
        statusChanges.notify()
    }

    /// Counts a durable message that was dead-lettered.
    func countDeadLettered(_ count: Int = 1) {
        deadLettered.wrappingAdd(count, ordering: .releasing)
        statusChanges.notify()
    }

    /// Records the backlog of the durable input port `port` as the store just said; the
    /// node reports the sum over its durable input ports.
    func recordBacklog(_ backlog: Int, port: String) {
        let changed = durableBacklogs.withLock { backlogs in
            defer { backlogs[port] = backlog }
            return backlogs[port] != backlog
        }
        if changed { statusChanges.notify() }
    }

    /// Whether the node's flow is paused.
    var isPaused: Bool { definition.paused == true }

    /// Counts a message whose deadline had passed before its handler ran.
    func countExpired() {
        expired.wrappingAdd(1, ordering: .releasing)
        statusChanges.notify()
    }

    /// Counts messages the node's channels still held when it stopped: not handled, not
    /// failed — dropped.
    func countDropped(_ count: Int) {
        guard count > 0 else { return }
        dropped.wrappingAdd(count, ordering: .releasing)
        statusChanges.notify()
    }

    /// Counts a message whose handler failed (after its retries).
    func countErrored() {
        errored.wrappingAdd(1, ordering: .releasing)
        statusChanges.notify()
    }

    /// Counts a completed handler at `now` (``WallClock/coarseNanoseconds()``) and ends
    /// the node's run of consecutive failures: the last error no longer explains its state.
    func countDelivered(now: Int64) {
        delivered.wrappingAdd(1, ordering: .releasing)
        lastMessageNanos.store(now, ordering: .releasing)
        if mayHaveFailures.load(ordering: .relaxed) {
            status.withLock { status in
                status.consecutiveFailures = 0
                status.lastError = nil
                mayHaveFailures.store(false, ordering: .relaxed)
            }
        }
        statusChanges.notify()
    }

    /// Notes a hop-limit refusal that no error port took; returns how many
    /// refusals the log has not told of yet (this one included) when it is time
    /// to log — the first, then at most one per `interval` — else `nil`.
    func hopLimitRefusalToLog(interval: Duration, now: Int64 = WallClock.coarseNanoseconds()) -> Int? {
        refusalsNotLogged.wrappingAdd(1, ordering: .relaxed)
        let last = lastRefusalLogNanos.load(ordering: .relaxed)
        let (seconds, attoseconds) = interval.components
        let intervalNanos = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        guard last == .min || now - last >= intervalNanos else { return nil }
        // Of racing refusals, the one that moves the time logs.
        guard lastRefusalLogNanos.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return nil }
        return refusalsNotLogged.exchange(0, ordering: .relaxed)
    }

    /// The wait before a restart after repeated handler failures, which grows with each
    /// restart unless the node ran healthy for a while since the last one.
    func handlerRestartDelay(now: ContinuousClock.Instant = .now) -> Duration {
        status.withLock { $0.handlerRestarts.failed(at: now) }
    }

    /// The node runs again after a restart: the time it runs healthy counts from `now`.
    func handlerRestarted(now: ContinuousClock.Instant = .now) {
        status.withLock { $0.handlerRestarts.started(at: now) }
    }

    /// Records a handler failure: the node's last error, one more consecutive failure;
    /// returns whether that made `threshold` in a row (the run then starts again at 0).
    func noteFailure(_ error: String, threshold: Int) -> Bool {
        updateStatus { status -> Bool in
            status.lastError = error
            status.consecutiveFailures += 1
            mayHaveFailures.store(true, ordering: .relaxed)
            guard status.consecutiveFailures >= threshold else { return false }
            status.consecutiveFailures = 0
            return true
        }
    }

    /// The instance this one replaced stopped: its final counts are kept, not the instance.
    func predecessorStopped() {
        predecessor.withLock { predecessor in
            if case .stopping(let instance) = predecessor { predecessor = .stopped(instance.counters) }
        }
    }

    /// The counters as they are now, those of the instance it replaced included.
    var counters: NodeCounters {
        let inherited: NodeCounters? = predecessor.withLock { predecessor in
            switch predecessor {
            case .none: nil
            case .stopping(let instance): instance.counters
            case .stopped(let counters): counters
            }
        }
        guard let inherited else { return ownCounters }
        return ownCounters.continuing(inherited)
    }

    /// This instance's own counters.
    private var ownCounters: NodeCounters {
        var counters = NodeCounters(
            received: inputs.values.reduce(0) { $0 + $1.acceptedCount } + durableReceived.load(ordering: .acquiring),
            delivered: delivered.load(ordering: .acquiring),
            errored: errored.load(ordering: .acquiring), expired: expired.load(ordering: .acquiring),
            sent: sent.load(ordering: .acquiring))
        let nanos = lastMessageNanos.load(ordering: .acquiring)
        if nanos != .min { counters.lastMessageTime = WallClock.date(nanoseconds: nanos) }
        let dropped = dropped.load(ordering: .acquiring)
        if dropped > 0 { counters.dropped = dropped }
        if !inputs.isEmpty {
            counters.queued = inputs.values.reduce(0) { $0 + $1.count }
            counters.queueCapacity = inputs.values.reduce(0) { $0 + $1.capacity }
        }
        if let backlog = durableBacklogs.withLock({ $0.isEmpty ? nil : $0.values.reduce(0, +) }) {
            counters.backlog = backlog
            counters.redelivered = redelivered.load(ordering: .acquiring)
            counters.deadLettered = deadLettered.load(ordering: .acquiring)
        }
        return counters
    }

    /// Records the error that explains the node's state.
    func setLastError(_ error: String) { updateStatus { $0.lastError = error } }

    /// Forgets the last error: the node runs again (a source restarted after its backoff).
    func clearLastError() {
        updateStatus { $0.lastError = nil }
    }

    /// Keeps `deliveries` of `port`, taken out of its channel and not handled (the consumer
    /// was cancelled), for ``takeUnhandled()``.
    func setAside(_ deliveries: some Collection<Delivery>, port: String) {
        guard !deliveries.isEmpty else { return }
        setAsideDeliveries.withLock { $0.append(contentsOf: deliveries.map { (port, $0) }) }
    }

    /// Takes every delivery the node holds and will not handle: those set aside and what its
    /// finished input channels still hold. Call once its tasks ended (or were given up on).
    func takeUnhandled() async -> [(port: String, delivery: Delivery)] {
        var unhandled = setAsideDeliveries.withLock { taken in
            defer { taken = [] }
            return taken
        }
        for (port, channel) in inputs where channel.isFinished {
            var batch: [Delivery] = []
            // A finished channel hands out what it holds without waiting, then says it is drained.
            while (try? await channel.next(into: &batch, upTo: 1024)) == true {
                unhandled.append(contentsOf: batch.map { (port, $0) })
                batch.removeAll(keepingCapacity: true)
            }
        }
        return unhandled
    }

    /// Puts `delivery` into the input port's channel; returns when accepted.
    func enqueue(_ delivery: Delivery, port: String) async throws {
        guard let channel = inputs[port] else {
            throw DeliveryError.unknownPort(node: name, port: port)
        }
        try await Self.enqueue(delivery, into: channel, node: name)
        statusChanges.notify()
    }

    /// Puts `delivery` into `channel`, an input channel of the node `node`; returns when
    /// accepted. The channel counts it as received; the caller tells the status watchers.
    ///
    /// Takes the channel's lock once and does not suspend while the channel has room; waits
    /// (backpressure) only when it is full.
    @inline(__always)
    static func enqueue(_ delivery: consuming Delivery, into channel: BoundedChannel<Delivery>, node: String) async throws {
        switch channel.trySend(delivery) {
        case .enqueued:
            return
        case .finished:
            throw DeliveryError.nodeStopping(node)
        case .full:
            do {
                try await channel.send(delivery)
            } catch is BoundedChannelClosedError {
                throw DeliveryError.nodeStopping(node)
            }
        }
    }

    /// The node's status as the host reports it: generation, phase and restarts, counters, last error.
    var report: NodeStatusReport {
        let (phase, restarts) = supervisor.snapshot
        let counters = self.counters
        return status.withLock { status in
            NodeStatusReport(
                name: name, generation: status.definition.generation, phase: phase,
                restarts: restarts, counters: counters, lastError: status.lastError, run: run)
        }
    }

    /// What a sync answers for this node: its phase, last error and the generation it runs.
    var syncResult: NodeSyncResult {
        let phase = supervisor.snapshot.phase
        return status.withLock { status in
            NodeSyncResult(name: name, phase: phase, error: status.lastError, generation: status.definition.generation)
        }
    }
}

/// Why a message could not be delivered to a node on this host.
public enum DeliveryError: DeadlineReporting, Sendable, Hashable, CustomStringConvertible {
    /// The target node does not run on this host.
    case unknownNode(String)
    /// The target node has no such input port.
    case unknownPort(node: String, port: String)
    /// The target node is stopping and accepts no more messages.
    case nodeStopping(String)
    /// The message's deadline passed before delivery.
    case expired(String)
    /// The message has no `to` address.
    case unaddressed(String)
    /// The edge leads to another module but the host has no transport.
    case noTransport(module: String)
    /// The edge is durable but the host keeps no persistent store.
    case noDurableStore(node: String)
    /// A request was sent on a durable edge: its reply could not wait with it.
    case requestOnDurableEdge(to: PortAddress)
    /// The node was stopped before it handled the message, and its stop timeout passed.
    case dropped(node: String, stopTimeout: Duration)

    public var isDeadlineExceeded: Bool {
        if case .expired = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unknownNode(let node): "no node \"\(node)\" on this host"
        case .unknownPort(let node, let port): "node \"\(node)\" has no input port \"\(port)\""
        case .nodeStopping(let node): "node \"\(node)\" is stopping"
        case .expired(let id): "message \(id) expired before delivery"
        case .unaddressed(let id): "message \(id) has no destination"
        case .noTransport(let module): "no transport to reach module \"\(module)\""
        case .noDurableStore(let node):
            "node \"\(node)\" has durable edges, but its module host keeps no persistent store (its --context-store is memory)"
        case .dropped(let node, let stopTimeout):
            "node \"\(node)\" was stopped and did not handle the message within its stop timeout of \(stopTimeout): dropped"
        case .requestOnDurableEdge(let address):
            "a request cannot be sent on a durable edge (to \(address)): its reply waits in memory; use a memory edge for request/reply"
        }
    }
}
