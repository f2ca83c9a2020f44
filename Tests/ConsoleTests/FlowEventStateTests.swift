import CRDModels
import Console
import Testing

@Suite("The event stream of a flow, as a state machine")
struct FlowEventStateTests {
    let start = ContinuousClock.now

    func node(_ name: String, flow: String? = "f", component: String = "ticker", out: Int64? = nil, ready: Bool = true) -> TinyNode {
        var status = TinyNodeStatus(conditions: [Condition(type: "Ready", status: ready ? .true : .false, reason: "R", message: "")])
        status.metrics = out.map { NodeMetrics(messagesIn: 0, messagesOut: $0) }
        return TinyNode(
            metadata: ObjectMeta(name: name, namespace: "default", labels: flow.map { [TinyFlow.flowLabel: $0] }),
            spec: TinyNodeSpec(module: "common", component: component, flow: flow), status: status)
    }

    func names(_ events: [ConsoleEvent]) -> [String] {
        events.map { event in
            switch event {
            case .flow(let summary): "flow \(summary.readyNodes)/\(summary.nodeCount)"
            case .node(let type, let node, _): "\(type) \(node.name)"
            case .rates(let rates): "rates " + rates.keys.sorted().joined(separator: ",")
            case .debug(let node, let messages): "debug \(node) \(messages.count)"
            case .problem(let error, _): "problem \(error)"
            }
        }
    }

    @Test("a listing sends the flow's nodes and its summary; nodes of other flows are left out")
    func listing() {
        var state = FlowEventState(flow: "f")
        let events = state.nodesListed([node("b"), node("a", ready: false), node("x", flow: "other")], at: start)
        #expect(names(events) == ["ADDED a", "ADDED b", "flow 1/2"])
    }

    @Test("changes, moves out of the flow and deletions; an unchanged node sends nothing")
    func changes() {
        var state = FlowEventState(flow: "f")
        _ = state.nodesListed([node("a"), node("b")], at: start)
        #expect(state.nodeApplied(node("a"), at: start).isEmpty)
        #expect(names(state.nodeApplied(node("a", ready: false), at: start)) == ["MODIFIED a", "flow 1/2"])
        #expect(names(state.nodeApplied(node("b", flow: "other"), at: start)) == ["DELETED b", "flow 0/1"])
        #expect(names(state.nodeDeleted(node("a"))) == ["DELETED a", "flow 0/0"])
        #expect(state.nodeDeleted(node("a")).isEmpty)
    }

    @Test("a change that leaves the node's ports as they were is sent without them")
    func portsElided() throws {
        var state = FlowEventState(flow: "f")
        var a = node("a", out: 1)
        a.status?.ports = [PortDescription(name: "out", direction: .output, messageSchema: ["type": "object"])]
        _ = state.nodesListed([a], at: start)
        a.status?.metrics?.messagesOut = 2
        guard case .node("MODIFIED", let view, true)? = state.nodeApplied(a, at: start).first else {
            Issue.record("no MODIFIED event without ports")
            return
        }
        #expect(view.status?.ports == [])
        #expect(view.status?.metrics?.messagesOut == 2)
        a.status?.ports = []
        guard case .node("MODIFIED", let changed, false)? = state.nodeApplied(a, at: start).first else {
            Issue.record("changed ports not sent")
            return
        }
        #expect(changed.status?.ports == [])
    }

    @Test("a relisting deletes the nodes it no longer has")
    func relisting() {
        var state = FlowEventState(flow: "f")
        _ = state.nodesListed([node("a"), node("b")], at: start)
        #expect(names(state.nodesListed([node("b")], at: start)) == ["DELETED a", "flow 1/1"])
    }

    @Test("rates are counter changes over the time between observations, and fall to zero when the counters stop")
    func rates() throws {
        var state = FlowEventState(flow: "f", staleAfter: .seconds(6))
        _ = state.nodesListed([node("a", out: 10)], at: start)
        let events = state.nodeApplied(node("a", out: 30), at: start.advanced(by: .seconds(2)))
        guard case .rates(let rates)? = events.first(where: { if case .rates = $0 { true } else { false } }) else {
            Issue.record("no rates in \(names(events))")
            return
        }
        #expect(try #require(rates["a"]).out == 10)
        #expect(state.tick(at: start.advanced(by: .seconds(5))).isEmpty)
        let stale = state.tick(at: start.advanced(by: .seconds(9)))
        guard case .rates(let zero)? = stale.first else {
            Issue.record("rates did not fall to zero: \(names(stale))")
            return
        }
        #expect(zero["a"]?.out == 0)
        #expect(state.tick(at: start.advanced(by: .seconds(20))).isEmpty)
    }

    @Test("rates average the observations of the last window, not the last interval alone")
    func rateWindow() throws {
        var state = FlowEventState(flow: "f", rateWindow: .seconds(10))
        _ = state.nodesListed([node("a", out: 0)], at: start)
        func out(_ count: Int64, at seconds: Int) -> Double? {
            for case .rates(let rates) in state.nodeApplied(node("a", out: count), at: start.advanced(by: .seconds(seconds))) {
                return rates["a"]?.out
            }
            return nil
        }
        #expect(out(20, at: 2) == 10)
        #expect(out(60, at: 4) == 15)
        // The series now starts at the newest observation older than the window (t = 2 s).
        #expect(out(80, at: 12) == 6)
    }

    @Test("a counter that went down (a restarted host) gives no negative rate")
    func counterReset() {
        var state = FlowEventState(flow: "f")
        _ = state.nodesListed([node("a", out: 100)], at: start)
        let events = state.nodeApplied(node("a", out: 3), at: start.advanced(by: .seconds(2)))
        #expect(events.contains(.rates(["a": NodeRates(in: 0, out: 0, errors: 0)])))
    }

    @Test("debug messages are sent once each, and debug nodes are the flow's debug components")
    func debugMessages() {
        var state = FlowEventState(flow: "f")
        _ = state.nodesListed([node("d", component: "debug"), node("t")], at: start)
        #expect(state.debugNodes == ["d"])
        #expect(names(state.messages([["id": "1"], ["id": "2"]], of: "d")) == ["debug d 2"])
        #expect(names(state.messages([["id": "2"], ["id": "3"]], of: "d")) == ["debug d 1"])
        #expect(state.messages([["id": "2"], ["id": "3"]], of: "d").isEmpty)
    }

    @Test("events are server-sent event text with a JSON data line")
    func text() {
        let text = ConsoleEvent.problem(error: "forbidden", reason: "Forbidden").serverSentText
        #expect(text.hasPrefix("event: problem\ndata: {"))
        #expect(text.hasSuffix("}\n\n"))
        #expect(!text.dropLast(2).contains("\n\n"))
    }
}
