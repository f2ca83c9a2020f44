public import ContextStoreAPI
import ContextStoreMemory
import ContextStorePostgres
import ContextStoreSQLite
public import Logging
public import MessageStoreAPI
public import ServiceLifecycle

/// A context store opened from a location, with the message store of durable edges that
/// shares its database (none for `memory`), and the services that keep their connections
/// (PostgreSQL's pool and `LISTEN`, SQLite's doorbell), which the process runs in its
/// `ServiceGroup`.
public struct OpenedContextStore: Sendable {
    /// The store.
    public var store: any ContextStore
    /// Where durable edges keep their messages: the same database, so a handler's context
    /// writes commit with its message's acknowledgement. `nil` for the memory store, which
    /// survives nothing.
    public var messageStore: (any MessageStore)?
    /// What to run beside the process's other services, in this order (first to start, last to stop).
    public var services: [any Service]
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
            return OpenedContextStore(store: MemoryContextStore(limits: limits), messageStore: nil, services: [], location: location)
        case .sqlite(let path):
            let store = try SQLiteContextStore(path: path, limits: limits)
            let messages = SQLiteMessageStore(sharing: store)
            let relay = DoorbellRelay(signals: messages.signals, sharing: path, logger: logger)
            return OpenedContextStore(store: store, messageStore: messages, services: [relay], location: location)
        case .postgres(let configuration):
            let store = PostgresContextStore(configuration: configuration, limits: limits, logger: logger)
            let messages = PostgresMessageStore(contextStore: store, logger: logger)
            return OpenedContextStore(store: store, messageStore: messages, services: [store, messages], location: location)
        }
    }
}
