public import ComponentKit
import Foundation
public import GRPCTransport
public import ModuleHost
import Synchronization

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
}

/// Finds the module host listening at an address.
public protocol ModuleHostConnector: Sendable {
    /// A connection to the host at `address` (`host:port`).
    func connection(to address: String) async throws -> any ModuleHostConnection
}

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

/// Reaches module hosts over gRPC: one ``ModuleHostClient`` per address (kept
/// open), and a ``GRPCModuleTransport`` for delivering TinySignals.
public final class GRPCModuleHostConnector: ModuleHostConnector {
    private let connections = Mutex<(open: [String: GRPCModuleHostConnection], isShutDown: Bool)>(([:], false))
    private let tls: MutualTLSConfiguration?

    /// A connector; `tls` secures the connections when given.
    public init(tls: MutualTLSConfiguration? = nil) { self.tls = tls }

    /// The (cached) connection to `address`.
    public func connection(to address: String) async throws -> any ModuleHostConnection {
        if let existing = connections.withLock({ $0.open[address] }) { return existing }
        let client = try ModuleHostClient(address: address, tls: tls)
        let transport = GRPCModuleTransport()
        await transport.updateAddresses([address: [address]])
        let created = GRPCModuleHostConnection(client: client, transport: transport, address: address)
        let (connection, isNew) = connections.withLock { connections -> (GRPCModuleHostConnection?, Bool) in
            if connections.isShutDown { return (nil, false) }
            if let existing = connections.open[address] { return (existing, false) }
            connections.open[address] = created
            return (created, true)
        }
        if isNew { created.start() } else { client.shutdown() }
        guard let connection else { throw ModuleHostConnectorError.shutDown(address: address) }
        return connection
    }

    /// Closes every connection; later calls of ``connection(to:)`` throw.
    public func shutdown() {
        let all = connections.withLock { connections in
            defer {
                connections.open.removeAll()
                connections.isShutDown = true
            }
            return Array(connections.open.values)
        }
        for connection in all { connection.stop() }
    }
}

/// A gRPC connection to one module host.
final class GRPCModuleHostConnection: ModuleHostConnection {
    let client: ModuleHostClient
    let transport: GRPCModuleTransport
    let address: String
    private let tasks = Mutex<[Task<Void, Never>]>([])

    init(client: ModuleHostClient, transport: GRPCModuleTransport, address: String) {
        self.client = client
        self.transport = transport
        self.address = address
    }

    func start() {
        let client = self.client
        let transport = self.transport
        tasks.withLock {
            $0.append(Task { try? await client.run() })
            $0.append(Task { try? await transport.run() })
        }
    }

    func stop() {
        client.shutdown()
        for task in tasks.withLock({ $0 }) { task.cancel() }
    }

    func catalogue() async throws -> ModuleCatalogue { try await client.catalogue() }
    func sync(_ desired: DesiredNodes) async throws -> SyncResult { try await client.sync(desired) }
    func watchStatus(interval: Duration, _ body: @escaping @Sendable ([NodeStatusReport]) async throws -> Void) async throws {
        try await client.watchStatus(interval: interval, body)
    }
    func recentMessages(node: String) async throws -> [Message]? { try await client.recentMessages(node: node) }
    func deliver(_ message: Message) async throws { try await transport.send(message, toModule: address) }
}

/// Why a connector gave no connection.
public enum ModuleHostConnectorError: Error, Sendable, CustomStringConvertible {
    /// The operator is shutting down; no new connections are opened.
    case shutDown(address: String)

    public var description: String {
        switch self {
        case .shutDown(let address): "not connecting to the module host at \(address): the operator is shutting down"
        }
    }
}
