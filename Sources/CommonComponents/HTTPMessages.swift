public import ComponentKit
import Foundation

/// An HTTP request as it travels through a flow (from `http-server`, to `http-request`).
@Schema
public struct HTTPRequestMessage: Codable, Sendable, Hashable {
    /// The method, e.g. `GET`.
    public var method: String = "GET"
    /// The URL (for `http-request`) or the path with its query (from `http-server`).
    public var url: String
    /// The path without the query.
    public var path: String?
    /// The query parameters.
    public var query: [String: String] = [:]
    /// Header fields, lower-case names.
    public var headers: [String: String] = [:]
    /// The body: parsed JSON when it is JSON, else text; absent when empty.
    public var body: JSONValue?

    /// Creates a request.
    public init(method: String = "GET", url: String, path: String? = nil, query: [String: String] = [:], headers: [String: String] = [:], body: JSONValue? = nil) {
        self.method = method
        self.url = url
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// An HTTP response as it travels through a flow (to `http-response`, from `http-request`).
@Schema
public struct HTTPResponseMessage: Codable, Sendable, Hashable {
    /// The status code.
    @SchemaField(minimum: 100, maximum: 599)
    public var status: Int = 200
    /// Header fields, lower-case names.
    public var headers: [String: String] = [:]
    /// The body: an object or array is sent as JSON, a string as text.
    public var body: JSONValue?

    /// Creates a response.
    public init(status: Int = 200, headers: [String: String] = [:], body: JSONValue? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

enum HTTPBody {
    /// Bytes as JSON if they parse as JSON, else as text; `nil` when empty.
    static func decode(_ bytes: [UInt8]) -> JSONValue? {
        guard !bytes.isEmpty else { return nil }
        if let value = try? JSONValue(parsing: Data(bytes)) { return value }
        return .string(String(decoding: bytes, as: UTF8.self))
    }

    /// A body value as bytes with its content type.
    static func encode(_ body: JSONValue?) -> (bytes: [UInt8], contentType: String?) {
        switch body {
        case nil, .null?: return ([], nil)
        case .string(let text)?: return (Array(text.utf8), "text/plain; charset=utf-8")
        case let value?: return (Array((try? value.jsonData()) ?? Data()), "application/json")
        }
    }
}
