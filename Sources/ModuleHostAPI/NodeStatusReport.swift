/// A node's state and counters, as `WatchNodeStatus` streams them.
public struct NodeStatusReport: Codable, Sendable, Hashable {
    /// The node's name.
    public var name: String
    /// The node's generation the host runs.
    public var generation: Int64
    /// Where the node is in its life.
    public var phase: NodePhase
    /// How often the node was restarted after failures.
    public var restarts: Int
    /// Messages received, delivered, errored, expired and sent.
    public var counters: NodeCounters
    /// The last error, if any.
    public var lastError: String?
    /// Why the node failed, when there is a reason the operator shows as such (``NodeRejection``).
    public var reason: String?
    /// The run of the node's counters: a host gives a node a new one when it starts counting
    /// from zero (a host that started, a node it had not run); a node replaced on the same
    /// host keeps it, its counters going on. Counters of one run never decrease; the
    /// operator adds up runs (absent from hosts that do not say).
    public var run: String?

    /// Creates a report.
    public init(
        name: String, generation: Int64, phase: NodePhase, restarts: Int = 0, counters: NodeCounters = NodeCounters(),
        lastError: String? = nil, reason: String? = nil, run: String? = nil
    ) {
        self.reason = reason
        self.run = run
        self.name = name
        self.generation = generation
        self.phase = phase
        self.restarts = restarts
        self.counters = counters
        self.lastError = lastError
    }
}
