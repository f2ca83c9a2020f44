import CRDModels
import ComponentKit
import Foundation
import KubernetesClient
import KubernetesModels
import Operator
import Synchronization
import TestSupport
import Testing

/// One GET without credentials; status and body.
private func get(_ url: String, with client: KubernetesClient) async throws -> (status: Int, body: Data) {
    let response = try await client.transport.execute(TransportRequest(method: "GET", url: url, headers: [], body: nil, timeout: .seconds(10)))
    return (response.status, try await response.body.collect(upTo: 8 << 20))
}

private func messages(_ body: Data) throws -> [Message] {
    try JSONDecoder().decode(OperatorDebugServer.MessagesResponse.self, from: body).messages
}

private func errorText(_ body: Data) -> String {
    (try? JSONDecoder().decode(OperatorDebugServer.ErrorResponse.self, from: body).error) ?? String(decoding: body, as: UTF8.self)
}

/// A source that fails or never answers.
private struct FakeSource: RecentMessagesSource {
    var failure: DebugLookupError?

    func recentMessages(namespace: String, node: String) async throws(DebugLookupError) -> [Message] {
        if let failure { throw failure }
        // Never answers: ends only when the endpoint gives up (cancellation ends the stream).
        for await _ in AsyncStream<Void>.makeStream().stream {}
        return []
    }
}

@Suite("The operator's debug endpoint", .timeLimit(.minutes(3)))
struct DebugEndpointTests {
    @Test("a debug node's recent messages are served, directly and through the control plane's service proxy; an unknown node or namespace is 404")
    func servesDebugMessages() async throws {
        let port = try freePort()
        try await withOperator(debugAddress: "127.0.0.1:\(port)") { harness in
            for node in helloFlow(greeting: "debugging") { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            let base = "http://127.0.0.1:\(port)/debug/v1/namespaces/default/nodes"
            var served: [Message] = []
            try await eventually("the debug endpoint serves hello-debug's messages", timeout: .seconds(15)) {
                let answer = try? await get("\(base)/hello-debug/messages", with: harness.client)
                guard let answer, answer.status == 200 else { return false }
                served = try messages(answer.body)
                return served.count >= 2
            }
            #expect(latestGreeting(served.map(\.payload)) == "debugging")
            // Oldest first, as the host keeps them: the ticker's count grows towards the end.
            let counts = served.compactMap { $0.payload["count"]?.intValue }
            #expect(counts == counts.sorted() && !counts.isEmpty, "\(counts)")

            let unknown = try await get("\(base)/nobody/messages", with: harness.client)
            #expect(unknown.status == 404)
            #expect(errorText(unknown.body) == "no TinyNode \"nobody\" in namespace \"default\"")
            let otherNamespace = try await get("http://127.0.0.1:\(port)/debug/v1/namespaces/elsewhere/nodes/hello-debug/messages", with: harness.client)
            #expect(otherNamespace.status == 404)
            #expect(errorText(otherNamespace.body) == "the operator does not manage namespace \"elsewhere\"")
            // A node that is not a debug node keeps nothing.
            let ticker = try await get("\(base)/hello-ticker/messages", with: harness.client)
            #expect(ticker.status == 200)
            #expect(try messages(ticker.body).isEmpty)
            // Nothing else is served there.
            for path in ["/metrics", "/healthz", "/debug/v1/namespaces/default/nodes/hello-debug"] {
                #expect(try await get("http://127.0.0.1:\(port)\(path)", with: harness.client).status == 404, "\(path)")
            }

            // The console's way: a Service and Endpoints for the endpoint, read through the
            // API server's service proxy with the caller's own credentials.
            _ = try await harness.client.api(KubernetesService.self, namespace: "default").create(KubernetesService(
                metadata: ObjectMeta(name: "tinyflow-operator"),
                spec: .init(ports: [.init(name: "debug", port: 80, targetPort: .number(port))])))
            _ = try await harness.client.api(Endpoints.self, namespace: "default").create(Endpoints(
                metadata: ObjectMeta(name: "tinyflow-operator"),
                subsets: [.init(addresses: [.init(ip: "127.0.0.1")], ports: [.init(name: "debug", port: port)])]))
            let proxied = try await harness.client.send(KubernetesRequest(
                method: "GET",
                path: "/api/v1/namespaces/default/services/tinyflow-operator:debug/proxy/debug/v1/namespaces/default/nodes/hello-debug/messages",
                verb: .get, resource: "services/proxy"))
            #expect(latestGreeting(try messages(proxied).map(\.payload)) == "debugging")
        }
    }

    @Test("a module host that fails is 502, one that does not answer within the deadline 504")
    func hostFailuresAndDeadline() async throws {
        let failing = DebugLookupError.hostFailed(namespace: "default", node: "n", address: "common:0", error: "connection refused")
        for (source, status, text) in [
            (FakeSource(failure: failing), 502, "node \"default/n\": its module host at common:0 failed: connection refused"),
            (FakeSource(failure: nil), 504, "node \"default/n\": its module host did not answer within 0.2 seconds"),
        ] {
            let bound = Mutex<Int?>(nil)
            let server = OperatorDebugServer(host: "127.0.0.1", port: 0, source: source, deadline: .milliseconds(200)) { port in
                bound.withLock { $0 = port }
            }
            let client = try KubernetesClient(configuration: ClientConfiguration(server: try #require(URL(string: "http://127.0.0.1:1"))))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                defer { group.cancelAll() }
                try await eventually("the debug endpoint listens") { bound.withLock { $0 } != nil }
                let port = bound.withLock { $0 } ?? 0
                let answer = try await get("http://127.0.0.1:\(port)/debug/v1/namespaces/default/nodes/n/messages", with: client)
                #expect(answer.status == status)
                #expect(errorText(answer.body) == text)
            }
            try await client.shutdown()
        }
    }
}
