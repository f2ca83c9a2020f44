import AsyncPrimitives
public import ComponentKit
import Foundation
import Hummingbird
public import Logging
public import ServiceLifecycle

/// Why the debug endpoint cannot answer with a node's recent messages.
public enum DebugLookupError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operator does not watch that namespace (`--namespace`).
    case namespaceNotManaged(String)
    /// The operator's cache has no TinyNode of that name in that namespace.
    case nodeNotFound(namespace: String, node: String)
    /// The node's module host does not run the node (not scheduled yet, or it failed to start).
    case nodeNotRunning(namespace: String, node: String, address: String)
    /// The node's TinyModule is missing or has no host address to ask.
    case noHostAddress(namespace: String, node: String, module: String)
    /// The node's module host could not be asked, or failed.
    case hostFailed(namespace: String, node: String, address: String, error: String)

    /// The HTTP status the debug endpoint answers with: `404` for what the operator does not
    /// know, `502` when the module host cannot answer.
    public var httpStatus: Int {
        switch self {
        case .namespaceNotManaged, .nodeNotFound, .nodeNotRunning: 404
        case .noHostAddress, .hostFailed: 502
        }
    }

    /// A sentence saying what went wrong.
    public var description: String {
        switch self {
        case .namespaceNotManaged(let namespace):
            "the operator does not manage namespace \"\(namespace)\""
        case .nodeNotFound(let namespace, let node):
            "no TinyNode \"\(node)\" in namespace \"\(namespace)\""
        case .nodeNotRunning(let namespace, let node, let address):
            "node \"\(namespace)/\(node)\" does not run on its module host at \(address) (yet)"
        case .noHostAddress(let namespace, let node, let module):
            "node \"\(namespace)/\(node)\": module \"\(module)\" has no TinyModule with a host address"
        case .hostFailed(let namespace, let node, let address, let error):
            "node \"\(namespace)/\(node)\": its module host at \(address) failed: \(error)"
        }
    }
}

/// Where the debug endpoint gets a node's recent messages: the operator, which knows each
/// node's module host (``TinyflowOperator/recentMessages(namespace:node:)``), or a fake in tests.
public protocol RecentMessagesSource: Sendable {
    /// What node `node` of `namespace` kept of its recent messages, oldest first.
    func recentMessages(namespace: String, node: String) async throws(DebugLookupError) -> [Message]
}

/// The operator's debug endpoint as a `Service` (`--debug-address`): one route,
///
///     GET /debug/v1/namespaces/{namespace}/nodes/{node}/messages
///
/// answering `200 {"messages": [Message]}` (as the module host's `RecentMessages` encodes
/// them, oldest first), `404 {"error": "…"}` for a node or namespace the operator does not
/// know, `502` when the module host fails and `504` when it does not answer within the
/// deadline. Nothing else is served (`404`): metrics and probes are on ``OperatorHTTPServer``.
///
/// Module hosts answer only the operator (mutual TLS); this endpoint is how others read
/// what debug nodes kept. It is meant to be reached through the API server's service proxy
/// (`/api/v1/namespaces/NS/services/NAME:debug/proxy/debug/v1/…`), so that the caller's
/// Kubernetes RBAC (`services/proxy`) decides who may: see docs/security.md.
public struct OperatorDebugServer: Service {
    /// The body of a successful answer.
    public struct MessagesResponse: Codable, Sendable, Equatable {
        /// The node's recent messages, oldest first.
        public var messages: [Message]

        /// An answer with `messages`.
        public init(messages: [Message]) { self.messages = messages }
    }

    /// The body of an error answer.
    public struct ErrorResponse: Codable, Sendable, Equatable {
        /// What went wrong.
        public var error: String

        /// An answer saying `error`.
        public init(error: String) { self.error = error }
    }

    /// The route's path, with `{namespace}` and `{node}` as Hummingbird parameters.
    public static let messagesPath = "/debug/v1/namespaces/:namespace/nodes/:node/messages"

    private let application: Application<RouterResponder<BasicRequestContext>>

    /// A server on `host:port` (port 0 picks one; `onServerRunning` gets it) answering from
    /// `source`, giving a module host `deadline` to answer.
    public init(
        host: String, port: Int, source: any RecentMessagesSource, deadline: Duration = .seconds(5),
        logger: Logger = Logger(label: "tinyflow.operator-debug"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        let router = Router()
        router.get(RouterPath(Self.messagesPath)) { _, context -> Response in
            guard let namespace = context.parameters.get("namespace"), let node = context.parameters.get("node") else {
                return Self.json(404, ErrorResponse(error: "not found"))
            }
            let lookup: @Sendable () async -> Result<[Message], DebugLookupError> = {
                do throws(DebugLookupError) {
                    return .success(try await source.recentMessages(namespace: namespace, node: node))
                } catch {
                    return .failure(error)
                }
            }
            let result: Result<[Message], DebugLookupError>
            do {
                result = try await withTimeout(deadline, lookup)
            } catch {
                return Self.json(504, ErrorResponse(
                    error: "node \"\(namespace)/\(node)\": its module host did not answer within \(deadline)"))
            }
            switch result {
            case .success(let messages):
                return Self.json(200, MessagesResponse(messages: messages))
            case .failure(let error):
                if error.httpStatus >= 500 {
                    logger.warning("debug endpoint", metadata: ["namespace": "\(namespace)", "node": "\(node)", "error": "\(error)"])
                }
                return Self.json(error.httpStatus, ErrorResponse(error: error.description))
            }
        }
        application = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tinyflow-operator-debug"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Serves until graceful shutdown.
    public func run() async throws { try await application.run() }

    private static func json(_ status: Int, _ body: some Encodable) -> Response {
        let data = (try? JSONEncoder().encode(body)) ?? Data(#"{"error":"the answer could not be encoded"}"#.utf8)
        return Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
