import Foundation
public import KubernetesClient

/// An API call outside ``OperatorPermissions/rules``.
public struct PermissionDenied: Error, Sendable, Hashable, CustomStringConvertible {
    /// The RBAC verb.
    public var verb: String
    /// The API group (`""` for core).
    public var group: String
    /// The resource, with `/subresource`.
    public var resource: String

    /// A readable explanation.
    public var description: String {
        "the operator's RBAC rules do not allow \(verb) on \(resource) in API group \"\(group)\""
    }
}

/// Wraps an ``HTTPTransport`` so that every request the operator sends is
/// checked against ``OperatorPermissions/rules`` first: a call the chart's
/// Role would not allow never reaches the server and is answered `403
/// Forbidden` (reason `Forbidden`, the ``PermissionDenied`` text as message),
/// exactly as an API server enforcing that Role would answer — so the client
/// surfaces it as a `KubernetesError` and does not retry it. Shutting it down
/// leaves the wrapped transport alone (its owner closes it).
public struct PermissionCheckingTransport: HTTPTransport {
    /// The transport requests go to once allowed.
    public let base: any HTTPTransport

    /// Wraps `base`.
    public init(_ base: any HTTPTransport) { self.base = base }

    /// Sends `request` if the rules allow it; else answers `403 Forbidden`.
    public func execute(_ request: TransportRequest) async throws -> TransportResponse {
        guard let denied = Self.check(method: request.method, url: request.url) else {
            return try await base.execute(request)
        }
        let status: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": denied.description,
        ]
        let body = (try? JSONSerialization.data(withJSONObject: status, options: [.sortedKeys])) ?? Data()
        return TransportResponse(
            status: 403, headers: [(name: "content-type", value: "application/json")], body: ResponseBody(data: body))
    }

    /// Does nothing: the wrapped transport belongs to the client it came from.
    public func shutdown() async throws {}

    /// The RBAC attributes of a request (`nil` for non-resource paths such as `/version`).
    public static func attributes(method: String, url: String) -> (verb: String, group: String, resource: String)? {
        guard let components = URLComponents(string: url) else { return nil }
        let segments = components.path.split(separator: "/").map(String.init)
        var rest: ArraySlice<String>
        let group: String
        if segments.first == "api", segments.count >= 2 {
            group = ""
            rest = segments.dropFirst(2)
        } else if segments.first == "apis", segments.count >= 3 {
            group = segments[1]
            rest = segments.dropFirst(3)
        } else {
            return nil
        }
        if rest.first == "namespaces", rest.count >= 3 { rest = rest.dropFirst(2) }
        guard let resource = rest.first else { return nil }
        let name = rest.dropFirst().first
        let subresource = rest.dropFirst(2).first
        let isWatch = components.queryItems?.contains { $0.name == "watch" && ($0.value == "true" || $0.value == "1") } ?? false
        let verb: String
        switch method.uppercased() {
        case "GET": verb = isWatch ? "watch" : (name == nil ? "list" : "get")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = name == nil ? "deletecollection" : "delete"
        default: verb = method.lowercased()
        }
        return (verb, group, subresource.map { "\(resource)/\($0)" } ?? resource)
    }

    /// The denial for a request the rules do not allow, else `nil`.
    public static func check(method: String, url: String) -> PermissionDenied? {
        guard let attributes = attributes(method: method, url: url) else { return nil }
        guard !OperatorPermissions.allows(group: attributes.group, resource: attributes.resource, verb: attributes.verb) else {
            return nil
        }
        return PermissionDenied(verb: attributes.verb, group: attributes.group, resource: attributes.resource)
    }
}

extension KubernetesClient {
    /// This client's configuration over a transport that enforces ``OperatorPermissions/rules``.
    public func enforcingOperatorPermissions() throws -> KubernetesClient {
        try KubernetesClient(
            configuration: configuration, transport: PermissionCheckingTransport(transport), retryPolicy: retryPolicy,
            logger: logger)
    }
}
