import ComponentKit
public import ModuleHostAPI
import Synchronization

/// Reaches module hosts over gRPC: one ``ModuleHostClient`` per address (kept
/// open), and a ``GRPCModuleTransport`` for delivering TinySignals.
public final class GRPCModuleHostConnector: ModuleHostConnector {
    private let connections = Mutex<(open: [String: GRPCModuleHostConnection], isShutDown: Bool)>(([:], false))
    private let tls: MutualTLSConfiguration?
    private let token: String?

    /// A connector; `tls` secures the connections and `token` is sent with every call when given.
    public init(tls: MutualTLSConfiguration? = nil, token: String? = nil) {
        self.tls = tls
        self.token = token
    }

    /// The (cached) connection to `address`.
    public func connection(to address: String) async throws -> any ModuleHostConnection {
        if let existing = connections.withLock({ $0.open[address] }) { return existing }
        let client = try ModuleHostClient(address: address, tls: tls, token: token)
        let transport = GRPCModuleTransport(configuration: .init(tls: tls, token: token))
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
    func context(_ request: ContextRequest) async throws -> ContextResponse { try await client.context(request) }
    func deadLetters(_ request: DeadLetterRequest) async throws -> DeadLetterResponse { try await client.deadLetters(request) }
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
