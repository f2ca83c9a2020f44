public import ComponentKit
public import ModuleHostAPI

/// An in-process module host (``ModuleRuntime``) seen as a connection.
public struct LocalModuleHostConnection: ModuleHostConnection {
    /// The runtime calls go to.
    public let runtime: ModuleRuntime

    /// Wraps `runtime`.
    public init(runtime: ModuleRuntime) { self.runtime = runtime }

    /// The runtime's catalogue.
    public func catalogue() async throws -> ModuleCatalogue { await runtime.catalogue() }
    /// Syncs the runtime.
    public func sync(_ desired: DesiredNodes) async throws -> SyncResult { await runtime.sync(desired) }
    /// Watches the runtime's node status.
    public func watchStatus(interval: Duration, _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        try await runtime.watchStatus(interval: interval, body)
    }
    /// The runtime's recent messages of `node`.
    public func recentMessages(node: String) async throws -> [Message]? { await runtime.recentMessages(node: node) }
    /// Reads or writes context in the runtime's store.
    public func context(_ request: ContextRequest) async throws -> ContextResponse { try await runtime.context(request) }
    /// Acts on dead letters or durable queues in the runtime's message store.
    public func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse {
        try await runtime.deadLetters(request)
    }
    /// Delivers into the runtime.
    public func deliver(_ message: Message) async throws { try await runtime.deliver(message) }
}

/// Maps addresses to in-process module hosts (tests, single-process setups).
public struct LocalModuleHostConnector: ModuleHostConnector {
    /// The hosts by address.
    public let hosts: [String: ModuleRuntime]

    /// A connector for `hosts`.
    public init(hosts: [String: ModuleRuntime]) { self.hosts = hosts }

    /// The host at `address`, or ``ModuleHostConnectionError/unknownAddress(_:)``.
    public func connection(to address: String) async throws -> any ModuleHostConnection {
        guard let runtime = hosts[address] else { throw ModuleHostConnectionError.unknownAddress(address) }
        return LocalModuleHostConnection(runtime: runtime)
    }

    /// Nothing to close: the runtimes belong to the caller.
    public func shutdown() async {}
}

/// Why a module host could not be reached.
public enum ModuleHostConnectionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No host is known at the address.
    case unknownAddress(String)

    /// A readable explanation.
    public var description: String {
        switch self {
        case .unknownAddress(let address): "no module host at \"\(address)\""
        }
    }
}
