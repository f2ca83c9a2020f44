public import KubernetesRuntime
public import ModuleHostAPI

/// Runs source nodes only on the module replica that holds the module's
/// `coordination.k8s.io` Lease, so scaling a module does not multiply its
/// ticks. Leadership comes from a `LeaderElector` running beside the host.
public struct LeaseSourceElection: SourceElection {
    /// The elector's view of leadership.
    public let leadership: LeadershipState

    /// An election that follows `leadership`.
    public init(leadership: LeadershipState) {
        self.leadership = leadership
    }

    public func whileLeading(_ body: @escaping @Sendable () async -> Void) async {
        for await leading in leadership.changes() where leading {
            // Lead: run the sources until leadership is lost (or they return).
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await body() }
                group.addTask {
                    for await stillLeading in leadership.changes() where !stillLeading { return }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }
}
