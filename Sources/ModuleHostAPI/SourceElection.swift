/// Decides which replica of a module runs source nodes (tickers, servers),
/// so that scaling a module does not multiply its ticks.
public protocol SourceElection: Sendable {
    /// Runs `body` while this replica leads: calls it on becoming leader and
    /// cancels it on losing leadership, repeatedly, until the calling task is
    /// cancelled.
    func whileLeading(_ body: @escaping @Sendable () async -> Void) async
}

/// The election of a module with one replica: it always leads.
public struct StandaloneElection: SourceElection {
    /// Creates the election.
    public init() {}

    public func whileLeading(_ body: @escaping @Sendable () async -> Void) async {
        await body()
    }
}
