public import KubernetesClient
public import Logging
import ServiceLifecycle
import UnixSignals

/// Runs an operator process: one ``TinyflowOperator`` in a `ServiceGroup`
/// that shuts down gracefully on SIGTERM and SIGINT.
public enum OperatorProcess {
    /// Runs the operator against the API server of `clientConfiguration`
    /// until SIGTERM or SIGINT, then closes the API client. Tunes the C
    /// allocator for a large, long-lived cache first (see `MemoryTuning`).
    public static func run(
        clientConfiguration: ClientConfiguration, configuration: OperatorConfiguration, logger: Logger
    ) async throws {
        MemoryTuning.apply()
        let client = try KubernetesClient(configuration: clientConfiguration, logger: logger)
        do {
            let tinyflowOperator = try TinyflowOperator(client: client, configuration: configuration, logger: logger)
            let group = ServiceGroup(
                configuration: .init(services: [tinyflowOperator], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            await close(client, logger: logger)
            throw error
        }
        await close(client, logger: logger)
    }

    /// Closes the client, waiting at most a second: nothing uses it any more, and
    /// async-http-client's shutdown can take seconds to close idle connections,
    /// longer than a supervisor's grace period.
    private static func close(_ client: KubernetesClient, logger: Logger) async {
        let (closed, signal) = AsyncStream<Void>.makeStream()
        Task {
            do {
                try await client.shutdown()
            } catch {
                logger.debug("closing the API client: \(error)")
            }
            signal.finish()
        }
        Task {
            try? await Task.sleep(for: .seconds(1))
            signal.finish()
        }
        for await _ in closed {}
    }
}
