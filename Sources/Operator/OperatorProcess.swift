public import GRPCTransport
public import KubernetesClient
public import ModuleHostAPI
public import Logging
public import Prometheus
import ServiceLifecycle
import UnixSignals

/// Runs an operator process: one ``TinyflowOperator`` in a `ServiceGroup`
/// that shuts down gracefully on SIGTERM and SIGINT.
public enum OperatorProcess {
    /// Runs the operator against the API server of `clientConfiguration`
    /// until SIGTERM or SIGINT, then closes the API client. Tunes the C
    /// allocator for a large, long-lived cache first (see `MemoryTuning`).
    /// `hosts` reaches the module hosts (with the installation's credentials).
    public static func run(
        clientConfiguration: ClientConfiguration, configuration: OperatorConfiguration,
        hosts: any ModuleHostConnector = GRPCModuleHostConnector(),
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger
    ) async throws {
        MemoryTuning.apply()
        let client = try KubernetesClient(configuration: clientConfiguration, logger: logger)
        do {
            let tinyflowOperator = try TinyflowOperator(
                client: client, configuration: configuration, hosts: hosts, registry: registry, logger: logger)
            let group = ServiceGroup(
                configuration: .init(services: [tinyflowOperator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await client.shutdown(waitingAtMost: .seconds(1), logger: logger)
            throw error
        }
        // Nothing uses the client any more, and async-http-client's shutdown can take
        // seconds to close idle connections, longer than a supervisor's grace period.
        await client.shutdown(waitingAtMost: .seconds(1), logger: logger)
    }
}
