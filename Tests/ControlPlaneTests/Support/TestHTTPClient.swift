import Foundation
import JSONSchemaKit
import NIOCore
import NIOHTTP1
import NIOPosix

struct TestClientError: Error, CustomStringConvertible { var description: String }

/// A response read by ``TestHTTPClient``.
struct TestResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data
    var json: JSONValue { (try? JSONValue(parsing: body)) ?? .null }
}

/// A small HTTP/1.1 client over SwiftNIO for talking to an in-process control plane:
/// one connection per request, and watch streams read line by line as they arrive.
struct TestHTTPClient: Sendable {
    var host: String
    var port: Int
    var token: String?

    init(baseURL: URL, token: String?) {
        host = baseURL.host ?? "127.0.0.1"
        port = baseURL.port ?? 80
        self.token = token
    }

    private func connect() async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    private func head(_ method: String, _ path: String, bodyLength: Int, contentType: String, headers extra: [String: String]) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "User-Agent", value: "tinyflow-tests/1.0")
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if bodyLength > 0 { headers.add(name: "Content-Type", value: contentType) }
        headers.add(name: "Content-Length", value: String(bodyLength))
        for (name, value) in extra { headers.replaceOrAdd(name: name, value: value) }
        return HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)
    }

    /// Sends one request and collects the whole response.
    func send(_ method: String, _ path: String, json body: JSONValue? = nil, raw: Data? = nil,
              contentType: String = "application/json", headers: [String: String] = [:]) async throws -> TestResponse {
        let payload = try raw ?? body.map { try $0.jsonData() } ?? Data()
        let channel = try await connect()
        var phase = "connected"
        do {
        return try await channel.executeThenClose { inbound, outbound in
            phase = "write"
            // One write for the whole request: the server may answer and close (Connection: close)
            // as soon as it has the body, before a separately written (empty) end part.
            var parts: [HTTPClientRequestPart] = [.head(head(method, path, bodyLength: payload.count, contentType: contentType, headers: headers))]
            if !payload.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: payload)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
            phase = "read"
            var response = TestResponse(status: 0, headers: [:], body: Data())
            for try await part in inbound {
                switch part {
                case .head(let head):
                    response.status = Int(head.status.code)
                    for (name, value) in head.headers { response.headers[name.lowercased()] = value }
                case .body(let buffer):
                    response.body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    return response
                }
            }
            return response
        }
        } catch {
            throw TestClientError(description: "\(method) \(path) failed in phase \(phase): \(error)")
        }
    }

    /// Opens a watch (or any streaming GET) and yields each newline-delimited JSON document.
    /// The first element is the response status wrapped as `{"status": N}`.
    func stream(_ path: String, headers: [String: String] = [:]) -> AsyncThrowingStream<JSONValue, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let channel = try await connect()
                    try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(contentsOf: [.head(head("GET", path, bodyLength: 0, contentType: "", headers: headers)), .end(nil)])
                        var pending = Data()
                        for try await part in inbound {
                            switch part {
                            case .head(let head):
                                continuation.yield(["status": .integer(Int(head.status.code))])
                            case .body(let buffer):
                                pending.append(contentsOf: buffer.readableBytesView)
                                while let newline = pending.firstIndex(of: 0x0a) {
                                    let line = pending[pending.startIndex..<newline]
                                    pending = Data(pending[pending.index(after: newline)...])
                                    if !line.isEmpty { continuation.yield(try JSONValue(parsing: Data(line))) }
                                }
                            case .end:
                                if !pending.isEmpty, let last = try? JSONValue(parsing: pending) { continuation.yield(last) }
                                return
                            }
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
