import Foundation
import Hummingbird
public import KubernetesClient
import KubernetesModels

/// A failure of the flows API, answered as JSON:
/// `{"error": "…", "reason": "…", "details": [{"node", "field", "message"}]}`.
public struct ConsoleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One problem with one field of one node.
    public struct Detail: Codable, Sendable, Hashable {
        /// The node, when the problem is one node's.
        public var node: String?
        /// The field path, as the operator reports it (`spec.ports[0].configuration.interval`).
        public var field: String?
        /// What is wrong.
        public var message: String

        /// A detail.
        public init(node: String? = nil, field: String? = nil, message: String) {
            self.node = node
            self.field = field
            self.message = message
        }
    }

    /// The HTTP status code.
    public var status: Int
    /// A machine-readable reason (`Invalid`, `Forbidden`, `NotFound`, …).
    public var reason: String
    /// What went wrong, for people.
    public var message: String
    /// Field-level problems.
    public var details: [Detail]

    /// An error answered with `status`.
    public init(status: Int, reason: String, message: String, details: [Detail] = []) {
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details
    }

    public var description: String { message }

    static func badRequest(_ message: String) -> ConsoleError { ConsoleError(status: 400, reason: "BadRequest", message: message) }
    static func notFound(_ message: String) -> ConsoleError { ConsoleError(status: 404, reason: "NotFound", message: message) }
    static func invalid(_ message: String, details: [Detail]) -> ConsoleError {
        ConsoleError(status: 422, reason: "Invalid", message: message, details: details)
    }

    /// The error a failed Kubernetes call means for the console's caller: the API
    /// server's status and message (403 stays 403, so the page shows "forbidden"), and
    /// 502 for a server that could not be reached or answered nonsense.
    public init(_ error: KubernetesError) {
        let message = error.status?.message ?? error.underlying ?? error.description
        let causes = error.status?.details?.causes ?? []
        let details = causes.map { Detail(field: $0.field, message: $0.message ?? $0.reason ?? "invalid") }
        switch error.code {
        case let code? where (400..<500).contains(code):
            self.init(status: code, reason: error.reason ?? "Failed", message: message, details: details)
        default:
            self.init(status: 502, reason: "BadGateway", message: "the Kubernetes API server failed: \(message)")
        }
    }

    /// Any error as a console error; unknown ones are a 500 that names them.
    static func from(_ error: any Error) -> ConsoleError {
        switch error {
        case let error as ConsoleError: error
        case let error as KubernetesError: ConsoleError(error)
        case let error as DecodingError: .badRequest("the request body is not what this endpoint takes: \(decodingErrorText(error))")
        default: ConsoleError(status: 500, reason: "InternalError", message: "\(error)")
        }
    }

    /// The JSON body.
    struct Body: Codable {
        var error: String
        var reason: String
        var details: [Detail]?
    }

    var body: Body { Body(error: message, reason: reason, details: details.isEmpty ? nil : details) }
}

/// A decoding error as a path and a reason, without Swift's type dump.
private func decodingErrorText(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let text = context.codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        return text.isEmpty ? "the body" : String(text.drop { $0 == "." })
    }
    switch error {
    case .keyNotFound(let key, let context): return "\(path(context)): missing field \"\(key.stringValue)\""
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}
