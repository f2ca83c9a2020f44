import ContextStoreAPI
import ContextStorePostgres
import MessageStoreAPI
import PostgresTestSupport

/// Opens a PostgreSQL message store and the context store it shares its database with, on a
/// new, empty database of the test process's server (``PostgresServer/shared()``), for the
/// conformance suite. Both services run (the pool, and the `LISTEN` connection) until the
/// stores are closed.
func makePostgresMessageStores() async throws -> (messages: any MessageStore, context: any ContextStore) {
    let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
    let stores = startedPostgresStores(configuration)
    return (stores.messages, stores.context)
}

/// Opens another view of the database `stores` use — what a second process (another replica of
/// a module) sees: a new context store (a pool of its own) and a new message store (its own
/// signals and `LISTEN` connection) on the same database. The caller closes both.
func makeSecondPostgresView(
    of stores: (messages: any MessageStore, context: any ContextStore)
) async throws -> (messages: any MessageStore, context: any ContextStore) {
    guard let context = stores.context as? PostgresContextStore else {
        struct NotPostgres: Error, CustomStringConvertible {
            var description: String { "the stores to open another view of are not PostgreSQL stores" }
        }
        throw NotPostgres()
    }
    let view = startedPostgresStores(context.configuration)
    // Connected (SCRAM in a debug build takes a while) and the schema checked before the test
    // uses it: the view's first operation then takes as long as the main store's, which tests
    // of short leases rely on.
    try await view.messages.checkAvailability()
    return (view.messages, view.context)
}

/// A context store and a message store on `configuration` whose `run()`s go on in tasks of
/// their own until the stores are closed.
func startedPostgresStores(
    _ configuration: PostgresContextStore.Configuration, limits: MessageStoreLimits = MessageStoreLimits()
) -> (messages: PostgresMessageStore, context: PostgresContextStore) {
    let context = PostgresContextStore(configuration: configuration)
    let messages = PostgresMessageStore(contextStore: context, limits: limits)
    Task { try await context.run() }  // returns when the context store is closed
    Task { try await messages.run() }  // returns when either store is closed
    return (messages, context)
}

/// The configuration of `url` with deadlines for semantics, not speed: dozens of tests share a
/// busy machine, each creating its schema on first use.
func patientConfiguration(url: String) throws -> PostgresContextStore.Configuration {
    var configuration = try PostgresContextStore.Configuration(url: url)
    configuration.operationTimeout = .seconds(20)
    configuration.availabilityTimeout = .seconds(20)
    return configuration
}
