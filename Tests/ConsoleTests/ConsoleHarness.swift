import AsyncHTTPClient
import CRDModels
import Console
import ControlPlaneTestSupport
import Foundation
import KubernetesClient
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing

/// A console server on a free port in front of an embedded control plane with the
/// Tinyflow CRDs and the `common` module's catalogue, for the API's HTTP tests.
struct ConsoleHarness: Sendable {
    static let token = "console-test-token"
    let base: String
    let client: KubernetesClient

    /// Runs `body` with a console whose user is `author`.
    static func with(author: String = "alice", _ body: @Sendable (ConsoleHarness) async throws -> Void) async throws {
        try await withPlane { _, client in
            for crd in [TinyNode.customResourceDefinition, TinyFlow.customResourceDefinition,
                        TinyModule.customResourceDefinition, TinySignal.customResourceDefinition] {
                _ = try await client.api(CustomResourceDefinition.self).create(crd)
            }
            try await eventually("the CRDs served", timeout: .seconds(10)) {
                let signals = try? await client.api(TinySignal.self, namespace: "default").list()
                let modules = try? await client.api(TinyModule.self, namespace: "default").list()
                return signals != nil && modules != nil
            }
            let modules = client.api(TinyModule.self, namespace: "default")
            var module = try await modules.create(commonModule())
            module.status = commonModule().status
            _ = try await modules.replaceStatus(module)

            let api = FlowsAPI(client: client, namespace: "default", author: author, operatorService: .standard)
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let server = ConsoleServer(api: api, configuration: .init(port: 0, token: token)) { port in portContinuation.yield(port) }
            let services = ServiceGroup(configuration: .init(services: [server], logger: Logger(label: "console-test")))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await services.run() }
                var iterator = ports.makeAsyncIterator()
                let port = try #require(await iterator.next())
                do {
                    try await body(ConsoleHarness(base: "http://127.0.0.1:\(port)", client: client))
                } catch {
                    await services.triggerGracefulShutdown()
                    throw error
                }
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
    }

    /// An answer: status, headers and body.
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: Data

        func json() throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: body) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(T.self, from: body) }
    }

    /// Sends a request; with the token unless `token` says otherwise.
    func send(
        _ method: HTTPMethod, _ path: String, json: (any Encodable)? = nil, token: String? = Self.token,
        headers: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(json)))
        }
        for (name, value) in headers { request.headers.replaceOrAdd(name: name, value: value) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 16 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(body.readableBytesView))
    }
}
