public import ComponentKit
public import JSONSchemaKit

/// The control API a module host serves to the operator.
public protocol ModuleHostControl: Sendable {
    /// The module's components, ports and schemas.
    func catalogue() async -> ModuleCatalogue
    /// Makes the running node set equal to `desired`; idempotent.
    func sync(_ desired: DesiredNodes) async -> SyncResult
    /// Calls `body` with the status of every node now and then whenever
    /// something changed, at most once per `interval`, until `body` throws or
    /// the calling task is cancelled.
    func watchStatus(interval: Duration, _ body: @Sendable ([NodeStatusReport]) async throws -> Void) async throws
    /// What a node kept of its recent messages (debug nodes), or `nil` for an unknown node.
    func recentMessages(node: String) async -> [Message]?
    /// Reads or writes context in the host's context store (``ContextRequest``); throws the
    /// store's ``ContextStoreError``.
    func context(_ request: ContextRequest) async throws -> ContextResponse
    /// Lists, replays or purges dead letters, or drops a deleted node's durable queues, in the
    /// host's message store (``DeadLetterRequest``); throws
    /// ``DeadLetterAccessError/noMessageStore`` when the host has none, else the store's
    /// ``MessageStoreError``.
    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse
}

/// Where messages arriving from other modules' hosts are delivered.
public protocol MessageSink: Sendable {
    /// Delivers `message` to the local node and port in `message.to`; returns
    /// when the node accepted it (which may suspend: backpressure).
    func deliver(_ message: Message) async throws
    /// Delivers a request and returns the reply of the chain it starts,
    /// bounded by the message deadline.
    func request(_ message: Message) async throws -> JSONValue
}
