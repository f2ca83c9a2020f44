public import CRDModels
import Foundation

/// One event of the console's stream (`GET /api/events`), as server-sent event text.
public enum ConsoleEvent: Sendable, Hashable {
    /// The flow's summary changed.
    case flow(FlowSummary)
    /// A node was added, changed or deleted (`ADDED`, `MODIFIED`, `DELETED`). A `MODIFIED`
    /// node whose `status.ports` did not change is sent without them (`portsUnchanged`): the
    /// ports' schemas are most of a node, and its counters change every few seconds.
    case node(type: String, node: NodeView, portsUnchanged: Bool = false)
    /// Message rates per second of the nodes whose rates changed.
    case rates([String: NodeRates])
    /// Messages of a node not sent before.
    case debug(node: String, messages: [JSONValue])
    /// Something the page should show: a watch or the debug endpoint failed.
    case problem(error: String, reason: String)

    /// The event as `event: NAME\ndata: JSON\n\n`.
    public var serverSentText: String {
        func text(_ name: String, _ value: some Encodable) -> String {
            let data = (try? JSONEncoder().encode(value)) ?? Data("null".utf8)
            return "event: \(name)\ndata: \(String(decoding: data, as: UTF8.self))\n\n"
        }
        switch self {
        case .flow(let summary): return text("flow", summary)
        case .node(let type, let node, let portsUnchanged):
            return text("node", NodeEvent(type: type, node: node, portsUnchanged: portsUnchanged ? true : nil))
        case .rates(let rates): return text("rates", RatesEvent(nodes: rates))
        case .debug(let node, let messages): return text("debug", DebugEvent(node: node, messages: messages))
        case .problem(let error, let reason): return text("problem", ConsoleError.Body(error: error, reason: reason))
        }
    }

    private struct NodeEvent: Encodable { var type: String; var node: NodeView; var portsUnchanged: Bool? }
    private struct RatesEvent: Encodable { var nodes: [String: NodeRates] }
    private struct DebugEvent: Encodable { var node: String; var messages: [JSONValue] }
}

/// A node's message rates, per second.
public struct NodeRates: Codable, Sendable, Hashable {
    /// Messages received.
    public var `in`: Double
    /// Messages sent.
    public var out: Double
    /// Messages that failed.
    public var errors: Double

    /// Rates.
    public init(in: Double, out: Double, errors: Double) {
        self.in = `in`
        self.out = out
        self.errors = errors
    }
}

/// What the console's event stream of one flow has sent, as a pure state machine:
/// watch events and clock ticks in, ``ConsoleEvent``s out. Rates are the change of
/// a node's `status.metrics` counters over the time between two observations; a
/// node whose counters stay unchanged for ``staleAfter`` goes back to zero.
public struct FlowEventState: Sendable {
    /// The flow watched.
    public let flow: String
    /// How long unchanged counters keep their rate.
    public let staleAfter: Duration
    private var nodes: [String: TinyNode] = [:]
    private var flowObject: TinyFlow?
    private var sentSummary: FlowSummary?
    private var samples: [String: Sample] = [:]
    private var seenMessages: [String: Set<String>] = [:]

    /// A node's recent counter observations (oldest first, within ``rateWindow``) and the
    /// rates last sent for it.
    private struct Sample: Sendable {
        var observations: [(time: ContinuousClock.Instant, metrics: NodeMetrics)]
        var rates: NodeRates
        var time: ContinuousClock.Instant { observations.last?.time ?? .now }
    }

    /// Rates are averaged over the observations of this long: the operator writes counters
    /// every few seconds, and one interval between two watch events says little.
    public let rateWindow: Duration

    /// A state for `flow` that has sent nothing.
    public init(flow: String, staleAfter: Duration = .seconds(6), rateWindow: Duration = .seconds(10)) {
        self.flow = flow
        self.staleAfter = staleAfter
        self.rateWindow = rateWindow
    }

    /// The debug nodes of the flow: whose recent messages the stream follows.
    public var debugNodes: [String] { nodes.values.filter { $0.spec.component == "debug" }.compactMap(\.metadata.name).sorted() }

    /// The watch listed the namespace's nodes anew.
    public mutating func nodesListed(_ all: [TinyNode], at now: ContinuousClock.Instant) -> [ConsoleEvent] {
        let members = all.filter(isMember)
        let names = Set(members.compactMap(\.metadata.name))
        var events: [ConsoleEvent] = nodes.values.filter { !names.contains($0.metadata.name ?? "") }.map { node in
            nodes[node.metadata.name ?? ""] = nil
            samples[node.metadata.name ?? ""] = nil
            return .node(type: "DELETED", node: NodeView(node))
        }
        for node in members.sorted(by: { ($0.metadata.name ?? "") < ($1.metadata.name ?? "") }) {
            events += nodeApplied(node, at: now, summarise: false)
        }
        return events + summaryIfChanged()
    }

    /// A node was added or changed (in this flow or not: one that left the flow is deleted from it).
    public mutating func nodeApplied(_ node: TinyNode, at now: ContinuousClock.Instant) -> [ConsoleEvent] {
        nodeApplied(node, at: now, summarise: true)
    }

    private mutating func nodeApplied(_ node: TinyNode, at now: ContinuousClock.Instant, summarise: Bool) -> [ConsoleEvent] {
        guard let name = node.metadata.name else { return [] }
        guard isMember(node) else { return nodes[name] == nil ? [] : nodeDeleted(node) }
        let previous = nodes.updateValue(node, forKey: name)
        var events: [ConsoleEvent] = []
        if let previous, previous != node {
            var view = NodeView(node)
            let portsUnchanged = previous.status?.ports == node.status?.ports && !(node.status?.ports.isEmpty ?? true)
            if portsUnchanged { view.status?.ports = [] }
            events.append(.node(type: "MODIFIED", node: view, portsUnchanged: portsUnchanged))
        } else if previous == nil {
            events.append(.node(type: "ADDED", node: NodeView(node)))
        }
        if let rates = sample(name, node.status?.metrics, at: now) { events.append(.rates([name: rates])) }
        return summarise ? events + summaryIfChanged() : events
    }

    /// A node was deleted.
    public mutating func nodeDeleted(_ node: TinyNode) -> [ConsoleEvent] {
        guard let name = node.metadata.name, let known = nodes.removeValue(forKey: name) else { return [] }
        samples[name] = nil
        seenMessages[name] = nil
        return [.node(type: "DELETED", node: NodeView(known))] + summaryIfChanged()
    }

    /// The TinyFlow changed, or is gone (`nil`).
    public mutating func flowChanged(_ flow: TinyFlow?) -> [ConsoleEvent] {
        flowObject = flow
        return summaryIfChanged()
    }

    /// Time passed: rates of nodes whose counters did not change for ``staleAfter`` fall to zero.
    public mutating func tick(at now: ContinuousClock.Instant) -> [ConsoleEvent] {
        var stale: [String: NodeRates] = [:]
        for (name, sample) in samples where sample.rates != NodeRates(in: 0, out: 0, errors: 0) && now - sample.time >= staleAfter {
            samples[name]?.rates = NodeRates(in: 0, out: 0, errors: 0)
            stale[name] = NodeRates(in: 0, out: 0, errors: 0)
        }
        return stale.isEmpty ? [] : [.rates(stale)]
    }

    /// The debug endpoint answered with what `node` keeps now: the messages not sent before.
    public mutating func messages(_ messages: [JSONValue], of node: String) -> [ConsoleEvent] {
        let known = seenMessages[node] ?? []
        let fresh = messages.filter { message in message["id"]?.stringValue.map { !known.contains($0) } ?? false }
        // The node keeps a sliding window: an id that left it does not come back.
        seenMessages[node] = Set(messages.compactMap { $0["id"]?.stringValue })
        return fresh.isEmpty ? [] : [.debug(node: node, messages: fresh)]
    }

    private func isMember(_ node: TinyNode) -> Bool {
        node.metadata.deletionTimestamp == nil && (node.flowName ?? FlowsAPI.unassignedFlow) == flow
    }

    private mutating func summaryIfChanged() -> [ConsoleEvent] {
        let summary = FlowsAPI.summary(of: flowObject, name: flow, nodes: Array(nodes.values))
        guard summary != sentSummary else { return [] }
        sentSummary = summary
        return [.flow(summary)]
    }

    /// Records the node's counters; the new rates if they changed: the counters' change
    /// over the observations of the last ``rateWindow``.
    private mutating func sample(_ name: String, _ metrics: NodeMetrics?, at now: ContinuousClock.Instant) -> NodeRates? {
        guard let metrics else { return nil }
        let zero = NodeRates(in: 0, out: 0, errors: 0)
        guard var sample = samples[name] else {
            samples[name] = Sample(observations: [(now, metrics)], rates: zero)
            return nil
        }
        guard let last = sample.observations.last?.metrics,
            last.messagesIn != metrics.messagesIn || last.messagesOut != metrics.messagesOut || last.errors != metrics.errors
        else { return nil }
        // Counters that went down (a host restarted) start a new series.
        if metrics.messagesIn < last.messagesIn || metrics.messagesOut < last.messagesOut || metrics.errors < last.errors {
            sample.observations = []
        }
        sample.observations.append((now, metrics))
        // Keep the newest observation older than the window as the series' start.
        while sample.observations.count > 2, now - sample.observations[1].time >= rateWindow {
            sample.observations.removeFirst()
        }
        var rates = zero
        if let first = sample.observations.first, sample.observations.count > 1 {
            let elapsed = now - first.time
            let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
            rates = NodeRates(
                in: Double(metrics.messagesIn - first.metrics.messagesIn) / seconds,
                out: Double(metrics.messagesOut - first.metrics.messagesOut) / seconds,
                errors: Double(metrics.errors - first.metrics.errors) / seconds)
        }
        sample.rates = rates
        samples[name] = sample
        return rates
    }
}
