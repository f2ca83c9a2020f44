public import Logging
import Metrics
public import Prometheus
import Synchronization

/// The process-wide logging and metrics setup, done once, in each
/// executable's `main` (libraries take a `Logger` and use swift-metrics types
/// only): log lines to standard error at a level, and every swift-metrics
/// metric into one Prometheus registry, which `/metrics` endpoints serve.
public enum Observability {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Installs the log handler (standard error, `logLevel`) and the metrics
    /// factory; returns the registry the metrics go to. Later calls change
    /// nothing and return the same registry (swift-log and swift-metrics allow
    /// one bootstrap per process).
    @discardableResult
    public static func bootstrap(logLevel: Logger.Level) -> PrometheusCollectorRegistry {
        bootstrapped.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = logLevel
                return handler
            }
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }
}
