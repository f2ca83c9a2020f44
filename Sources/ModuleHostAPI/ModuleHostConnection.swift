public import ComponentKit

/// The operator's view of one module host: its control API plus message
/// delivery (for TinySignals). Every call may fail (a remote host may be down).
public protocol ModuleHostConnection: Sendable {
    /// The module's components, ports and schemas.
    func catalogue() async throws -> ModuleCatalogue
    /// Makes the host run exactly `desired`.
    func sync(_ desired: DesiredNodes) async throws -> SyncResult
    /// Calls `body` with every node's status now and whenever it changes, at most once per `interval`.
    func watchStatus(interval: Duration, _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void) async throws
    /// What a node kept of its recent messages, or `nil` for an unknown node.
    func recentMessages(node: String) async throws -> [Message]?
    /// Delivers `message` to the node and port in `message.to`.
    func deliver(_ message: Message) async throws
    /// Reads or writes context in the host's context store.
    func context(_ request: ContextRequest) async throws -> ContextResponse
    /// Lists, replays or purges dead letters, or drops a deleted node's durable queues, in the
    /// host's message store; throws ``DeadLetterAccessError/noMessageStore`` when the host has none.
    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse
}

/// Finds the module host listening at an address.
public protocol ModuleHostConnector: Sendable {
    /// A connection to the host at `address` (`host:port`).
    func connection(to address: String) async throws -> any ModuleHostConnection
    /// Closes every connection it opened; later ``connection(to:)`` calls throw.
    func shutdown() async
}
