import Foundation

/// How ``TinyflowOperator`` runs.
public struct OperatorConfiguration: Sendable {
    /// The namespaces to watch; `nil` watches all namespaces.
    public var namespaces: [String]?
    /// Whether to reconcile only while holding the lease.
    public var leaderElection: Bool
    /// The Lease's name.
    public var leaseName: String
    /// The Lease's namespace.
    public var leaseNamespace: String
    /// This replica's identity (the Lease holder and Events' reporting instance).
    public var identity: String
    /// `host:port` to serve `/metrics`, `/healthz` and `/readyz` on; `nil` serves nothing.
    public var metricsAddress: String?
    /// `host:port` to serve the debug endpoint on (``OperatorDebugServer``: debug nodes'
    /// recent messages, for the console through the API server's service proxy); `nil`
    /// serves nothing.
    public var debugAddress: String?
    /// How long after a host reported new counters of a node they are folded into its
    /// status: at most one status write per node and interval for counters alone.
    public var statusInterval: Duration
    /// How often each TinyModule's host is asked for its catalogue again.
    public var moduleResyncInterval: Duration
    /// How long the syncer collects node changes before it sends one `SyncNodes` per module.
    public var syncWindow: Duration
    /// The interval the operator asks module hosts to stream status at.
    public var watchInterval: Duration
    /// Reconcile workers per controller.
    public var workers: Int
    /// How long a flow's node set must stay unchanged before it is recorded as a
    /// revision, so that applying a flow node by node makes one revision, not one
    /// per node.
    public var revisionSettleTime: Duration
    /// The shortest time between two writes of a flow's status that record no revision
    /// (node counts, health, conditions): while a flow of 1,000 nodes starts, its nodes'
    /// readiness changes a thousand times, and each write carries the whole flow object.
    public var flowStatusInterval: Duration = .seconds(1)

    /// A configuration; the defaults suit production.
    public init(
        namespaces: [String]? = nil, leaderElection: Bool = true, leaseName: String = "tinyflow-operator",
        leaseNamespace: String = "default", identity: String = ProcessInfo.processInfo.hostName,
        metricsAddress: String? = nil, statusInterval: Duration = .seconds(2),
        moduleResyncInterval: Duration = .seconds(10), syncWindow: Duration = .milliseconds(50),
        watchInterval: Duration = .milliseconds(250), workers: Int = 4, revisionSettleTime: Duration = .seconds(1),
        debugAddress: String? = nil
    ) {
        self.namespaces = namespaces
        self.leaderElection = leaderElection
        self.leaseName = leaseName
        self.leaseNamespace = leaseNamespace
        self.identity = identity
        self.metricsAddress = metricsAddress
        self.statusInterval = statusInterval
        self.moduleResyncInterval = moduleResyncInterval
        self.syncWindow = syncWindow
        self.watchInterval = watchInterval
        self.workers = workers
        self.revisionSettleTime = revisionSettleTime
        self.debugAddress = debugAddress
    }

    /// `metricsAddress` split into host and port, or `nil` if absent or malformed.
    public var metricsHostAndPort: (host: String, port: Int)? {
        metricsAddress.flatMap(Self.hostAndPort)
    }

    /// `debugAddress` split into host and port, or `nil` if absent or malformed.
    public var debugHostAndPort: (host: String, port: Int)? {
        debugAddress.flatMap(Self.hostAndPort)
    }

    /// `HOST:PORT` (`[::1]:PORT` for IPv6; an empty host means every address) split, or
    /// `nil` if it is not of that form.
    public static func hostAndPort(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }
}
