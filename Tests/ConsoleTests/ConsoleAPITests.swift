import AsyncHTTPClient
import CRDModels
import Console
import FlowRevisions
import Foundation
import KubernetesClient
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

@Suite("The console's flows API over HTTP, against a control plane", .timeLimit(.minutes(3)))
struct ConsoleAPITests {
    @Test("the API answers only the holder of the token, at a loopback host; the page itself is public")
    func authentication() async throws {
        try await ConsoleHarness.with { console in
            #expect(try await console.send(.GET, "/api/flows", token: nil).status == 401)
            let wrong = try await console.send(.GET, "/api/flows", token: "guess")
            #expect(wrong.status == 401)
            #expect(try wrong.json()["reason"] == "Unauthorized")
            #expect(try await console.send(.GET, "/api/flows", headers: [("Host", "evil.example:80")]).status == 403)
            #expect(try await console.send(.GET, "/api/flows").status == 200)
            let page = try await console.send(.GET, "/", token: nil)
            #expect(page.status == 200)
            #expect(page.headers["Content-Type"].first?.hasPrefix("text/html") == true)
            #expect(try await console.send(.GET, "/api/openapi.json").json()["openapi"] != nil)
            // A session cookie for the event stream, only from the token in the header.
            let session = try await console.send(.POST, "/api/session")
            #expect(session.status == 204)
            let cookie = try #require(session.headers["Set-Cookie"].first)
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains(ConsoleHarness.token))
            #expect(try await console.send(.GET, "/api/flows", token: nil, headers: [("Cookie", "tinyflow-console=\(ConsoleHarness.token)")]).status == 200)
            // Changes are JSON only: no cross-site form post.
            let form = try await console.send(.POST, "/api/flows/f/rollback", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(form.status == 415)
        }
    }

    @Test("a deploy applies the node set as the console with the summary and the user, and deletes what it lacks")
    func deploy() async throws {
        try await ConsoleHarness.with(author: "alice") { console in
            let first = try await console.send(
                .POST, "/api/flows/hello", json: DeployRequest(summary: "first version", nodes: [ticker("t", to: "d:in"), debug("d")]))
            #expect(first.status == 200)
            #expect(try first.decode(DeployResult.self) == DeployResult(applied: ["d", "t"], deleted: [], unchanged: []))

            let nodes = console.client.api(TinyNode.self, namespace: "default")
            let t = try await nodes.get("t")
            #expect(t.metadata.labels?[TinyFlow.flowLabel] == "hello")
            #expect(t.spec.flow == "hello")
            #expect(t.metadata.annotations?[TinyFlow.changeSummaryAnnotation] == "first version")
            #expect(t.metadata.annotations?[TinyFlow.changeAuthorAnnotation] == "alice")
            #expect(t.metadata.managedFields?.contains { $0["manager"] == "tinyflow-console" } == true)
            #expect(try await console.client.api(TinyFlow.self, namespace: "default").getOptional("hello") != nil)

            let list = try await console.send(.GET, "/api/flows").decode(FlowList.self)
            #expect(list.flows.map(\.name) == ["hello"])
            #expect(list.flows.first?.nodeCount == 2)
            let detail = try await console.send(.GET, "/api/flows/hello").decode(FlowDetail.self)
            #expect(detail.nodes.map(\.name) == ["d", "t"])

            let second = try await console.send(
                .POST, "/api/flows/hello", json: DeployRequest(summary: "faster", nodes: [ticker("t", interval: 200)]))
            #expect(try second.decode(DeployResult.self) == DeployResult(applied: ["t"], deleted: ["d"], unchanged: []))
            #expect(try await nodes.getOptional("d") == nil)
            #expect(try await nodes.get("t").spec.ports.first?.configuration["interval"] == 200)
        }
    }

    @Test("an invalid node is refused with the field's path and nothing is applied")
    func invalid() async throws {
        try await ConsoleHarness.with { console in
            let answer = try await console.send(
                .POST, "/api/flows/hello", json: DeployRequest(summary: "broken", nodes: [ticker("t", interval: "fast"), debug("d")]))
            #expect(answer.status == 422)
            let body = try answer.json()
            #expect(body["reason"] == "Invalid")
            #expect(body["details"]?[0]?["node"] == "t")
            #expect(body["details"]?[0]?["field"] == "spec.ports[0].configuration.interval")
            #expect(try await console.client.api(TinyNode.self, namespace: "default").list().items.isEmpty)

            let unsummarised = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "  ", nodes: [debug("d")]))
            #expect(unsummarised.status == 422)
            #expect(try unsummarised.json()["details"]?[0]?["field"] == "summary")

            var malformed = HTTPClientRequest(url: console.base + "/api/flows/hello")
            malformed.method = .POST
            malformed.headers.add(name: "Authorization", value: "Bearer \(ConsoleHarness.token)")
            malformed.headers.add(name: "Content-Type", value: "application/json")
            malformed.body = .bytes(ByteBuffer(string: #"{"nodes": 3}"#))
            let response = try await HTTPClient.shared.execute(malformed, timeout: .seconds(10))
            #expect(response.status == .badRequest)
            #expect(try await console.send(.GET, "/api/flows/nope").status == 404)
        }
    }

    @Test("revisions newest first, a revision's difference to the current nodes, and rollback")
    func history() async throws {
        try await ConsoleHarness.with { console in
            _ = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "v1", nodes: [ticker("t", interval: 500)]))
            // No operator here: record the revision the way it would.
            let flows = console.client.api(TinyFlow.self, namespace: "default")
            let nodes = console.client.api(TinyNode.self, namespace: "default")
            var flow = try await flows.get("hello")
            flow.status = FlowHistory.record(
                try await nodes.list().items, in: TinyFlowStatus(), author: "alice", summary: "v1", now: .now(), limit: 10)
            flow = try await flows.replaceStatus(flow)
            _ = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "v2", nodes: [ticker("t", interval: 100)]))
            flow.status = FlowHistory.record(
                try await nodes.list().items, in: try #require(flow.status), author: "bob", summary: "v2", now: .now(), limit: 10)
            _ = try await flows.replaceStatus(flow)

            let list = try await console.send(.GET, "/api/flows/hello/revisions").decode(RevisionList.self)
            #expect(list.current == 2)
            #expect(list.revisions.map(\.summary) == ["v2", "v1"])
            #expect(list.revisions.map(\.author) == ["bob", "alice"])

            let revision = try await console.send(.GET, "/api/flows/hello/revisions/1").decode(RevisionDetail.self)
            #expect(revision.diff.changed.first?.changes == [.init(path: "spec.ports[0].configuration.interval", before: 100, after: 500)])
            #expect(try await console.send(.GET, "/api/flows/hello/revisions/9").status == 404)

            let rollback = try await console.send(.POST, "/api/flows/hello/rollback", json: ["revision": 1])
            #expect(rollback.status == 200)
            let t = try await nodes.get("t")
            #expect(t.spec.ports.first?.configuration["interval"] == 500)
            #expect(t.metadata.annotations?[TinyFlow.changeAuthorAnnotation] == "alice")
        }
    }

    @Test("a signal becomes a TinySignal for the node's port")
    func signal() async throws {
        try await ConsoleHarness.with { console in
            _ = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "v1", nodes: [debug("d")]))
            let answer = try await console.send(
                .POST, "/api/flows/hello/signals", json: SignalRequest(node: "d", port: "in", payload: ["press": true]))
            #expect(answer.status == 200)
            let name = try answer.decode(SignalResult.self).name
            let signal = try await console.client.api(TinySignal.self, namespace: "default").get(name)
            #expect(signal.spec.node == "d" && signal.spec.port == "in" && signal.spec.payload == ["press": true])
            #expect(try await console.send(.POST, "/api/flows/hello/signals", json: SignalRequest(node: "x", port: "in")).status == 404)
        }
    }

    @Test("the event stream starts with the flow's nodes and then follows changes", .timeLimit(.minutes(1)))
    func events() async throws {
        try await ConsoleHarness.with { console in
            _ = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "v1", nodes: [debug("d")]))
            let cookie = try #require(try await console.send(.POST, "/api/session").headers["Set-Cookie"].first?.split(separator: ";").first)
            var request = HTTPClientRequest(url: console.base + "/api/events?flow=hello")
            request.headers.add(name: "Cookie", value: String(cookie))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            #expect(response.headers["Content-Type"].first == "text/event-stream")
            var text = ""
            var added = false
            for try await chunk in response.body {
                text += String(buffer: chunk)
                if text.contains("\"type\":\"ADDED\""), text.contains("\"name\":\"d\""), !added {
                    added = true
                    _ = try await console.send(.POST, "/api/flows/hello", json: DeployRequest(summary: "v2", nodes: [debug("d"), debug("e")]))
                }
                if text.contains("\"name\":\"e\"") { break }
            }
            #expect(text.contains("event: flow\n"))
            #expect(text.contains("event: node\n"))
            #expect(text.contains("\"name\":\"e\""))
        }
    }
}
