import ComponentKit
import Foundation
import ModuleHostTestSupport
import Testing

@testable import ModuleHost

@Suite("Route table")
struct RouteTableTests {
    /// Local nodes stand for themselves by name.
    private func table(_ definitions: [NodeDefinition], local: Set<String>, remote: [String: String] = [:]) -> RouteTable<String> {
        RouteTable(definitions: definitions, local: { local.contains($0) ? $0 : nil }, remoteNodes: remote)
    }

    /// A route's target, as text: `local b:in`, `remote other`, `missing`.
    private func describe(_ route: Route<String>) -> String {
        switch route.target {
        case .local(let node, let port): "local \(node):\(port)"
        case .remote(let module): "remote \(module)"
        case .missing: "missing"
        }
    }

    @Test("an edge leads to a node of this host, else to the module that runs its target, else nowhere")
    func resolution() {
        let routes = table(
            [definition("a", "forward", edges: [edge("out", to: "b:in"), edge("out", to: "far:in"), edge("out", to: "ghost:in")])],
            local: ["a", "b"], remote: ["far": "other"]
        ).routes(of: "a")
        #expect(routes["out"]?.map(describe) == ["local b:in", "remote other", "missing"])
        #expect(routes["out"]?.map(\.address.description) == ["b:in", "far:in", "ghost:in"])
    }

    @Test("routes are grouped by output port in the order of the node's edges, with each edge's retry policy")
    func grouping() {
        let retry = RetryPolicy(maxAttempts: 2)
        let routes = table(
            [definition("a", "picky", edges: [edge("out", to: "c:in"), edge("error", to: "e:in"), edge("out", to: "b:in", retry: retry)])],
            local: ["a", "b", "c", "e"]
        ).routes(of: "a")
        #expect(routes["out"]?.map(describe) == ["local c:in", "local b:in"])
        #expect(routes["out"]?.map(\.retryPolicy) == [nil, retry])
        #expect(routes["error"]?.map(describe) == ["local e:in"])
    }

    @Test("an edge whose target is not <node>:<port> has no route; a node the table does not know has none")
    func unparsableTarget() {
        let table = table([definition("a", "forward", edges: [edge("out", to: "nowhere")])], local: ["a"])
        #expect(table.routes(of: "a")["out"] == nil)
        #expect(table.routes(of: "z").isEmpty)
    }

    @Test("a route maps the payload with the edge's mapping and addresses the message to its target")
    func outgoing() throws {
        let routes = table(
            [definition("a", "forward", edges: [
                Edge(id: "m", port: "out", to: "b:in", mapping: ["n": "{{ $.payload.n + 1 }}", "from": "{{ $.from }}"]),
                edge("out", to: "c:in"),
            ])],
            local: ["b", "c"]
        ).routes(of: "a")["out"] ?? []
        let message = Message(id: "m1", from: PortAddress(node: "a", port: "out"), payload: ["n": 1])
        let mapped = try #require(try routes.first?.outgoing(message))
        #expect(mapped.payload == ["n": 2, "from": "a:out"])
        #expect(mapped.to == PortAddress(node: "b", port: "in"))
        #expect(mapped.id == "m1")
        let plain = try #require(try routes.last?.outgoing(message))
        #expect(plain.payload == ["n": 1])
        #expect(plain.to == PortAddress(node: "c", port: "in"))
    }

    @Test("a mapping that fails names the path of the failing leaf")
    func mappingFailure() {
        let route = table(
            [definition("a", "forward", edges: [Edge(id: "m", port: "out", to: "b:in", mapping: ["n": "{{ $.payload.name - 1 }}"])])],
            local: ["b"]
        ).routes(of: "a")["out"]?.first
        #expect {
            _ = try route?.outgoing(Message(payload: ["name": "Ada"]))
        } throws: { error in
            "\(error)".hasPrefix("spec.edges[0].mapping.n:")
        }
    }
}

@Suite("Router message preparation")
struct RouterPreparationTests {
    private let from = PortAddress(node: "a", port: "out")

    @Test("a message leaves with its sender's address and the deadline and trace of the message being handled")
    func inheritsChain() {
        let deadline = Date(timeIntervalSince1970: 5)
        let context = DeliveryContext(reply: nil, deadline: deadline, traceparent: "00-trace")
        let prepared = Router.prepare(Message(id: "m", payload: 1), from: from, context: context)
        #expect(prepared.from == from)
        #expect(prepared.deadline == deadline)
        #expect(prepared.traceparent == "00-trace")
        #expect(prepared.id == "m")
        #expect(prepared.payload == 1)
    }

    @Test("a message's own deadline and trace are kept; outside a delivery nothing is inherited")
    func keepsItsOwn() {
        let own = Date(timeIntervalSince1970: 9)
        let context = DeliveryContext(reply: nil, deadline: Date(timeIntervalSince1970: 5), traceparent: "00-trace")
        let prepared = Router.prepare(Message(payload: 1, deadline: own, traceparent: "00-own"), from: from, context: context)
        #expect(prepared.deadline == own)
        #expect(prepared.traceparent == "00-own")
        let alone = Router.prepare(Message(payload: 1), from: from, context: nil)
        #expect(alone.deadline == nil)
        #expect(alone.traceparent == nil)
    }

    @Test("a request's deadline is the message's, else the chain's, else the default timeout from now")
    func requestDeadline() {
        let router = Router(transport: nil, defaultRequestTimeout: .seconds(30))
        let now = Date(timeIntervalSince1970: 100)
        let chain = DeliveryContext(reply: nil, deadline: Date(timeIntervalSince1970: 110), traceparent: nil)
        #expect(router.requestDeadline(of: Message(payload: 1, deadline: Date(timeIntervalSince1970: 105)), context: chain, now: now)
            == Date(timeIntervalSince1970: 105))
        #expect(router.requestDeadline(of: Message(payload: 1), context: chain, now: now) == Date(timeIntervalSince1970: 110))
        #expect(router.requestDeadline(of: Message(payload: 1), context: nil, now: now) == Date(timeIntervalSince1970: 130))
    }
}
