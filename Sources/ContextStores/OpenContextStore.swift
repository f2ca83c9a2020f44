public import ContextStoreAPI
import ContextStoreMemory
import ContextStorePostgres
import ContextStoreSQLite
public import Logging
public import ServiceLifecycle

/// A context store opened from a location, with the service that keeps its connections
/// (PostgreSQL's pool), which the process runs in its `ServiceGroup`.
public struct OpenedContextStore: Sendable {
    /// The store.
    public var store: any ContextStore
    /// What to run beside the process's other services, if anything.
    public var service: (any Service)?
    /// Where it lives (passwords redacted).
    public var location: ContextStoreLocation

    /// Opens the store `location` names, creating a SQLite file and its directory as needed
    /// (the only step that can fail: a PostgreSQL URL was checked when the location was parsed).
    /// A PostgreSQL server is not contacted here: the first operation (and
    /// ``ContextStore/checkAvailability()``) reports whether it can be reached.
    public static func open(
        _ location: ContextStoreLocation, limits: ContextLimits = ContextLimits(), logger: Logger
    ) throws -> OpenedContextStore {
        switch location {
        case .memory:
            return OpenedContextStore(store: MemoryContextStore(limits: limits), service: nil, location: location)
        case .sqlite(let path):
            return OpenedContextStore(store: try SQLiteContextStore(path: path, limits: limits), service: nil, location: location)
        case .postgres(let configuration):
            let store = PostgresContextStore(configuration: configuration, limits: limits, logger: logger)
            return OpenedContextStore(store: store, service: store, location: location)
        }
    }
}
