import CRDModels
import ComponentKit
import Foundation
import GRPCTransport
import ModuleHost
import PostgresTestSupport
import SQLite
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

// The acceptance tests of issue 16 (durable edges, docs/durable-edges.md), with real processes:
// `tinyflow up` and its module hosts, kubectl, `tinyflow dlq`, `tinyflow flow pause|resume`,
// `tinyflow context`, a real PostgreSQL server. They read the store's file (or database) only
// to observe: counters and queues in one snapshot.

/// A ticker (flow `tally-source`, module `producer`) → durable → `tally-sent`, a kv counting
/// every tick it takes in the flow key `sent` (module `producer`) → durable → `tally-counted`, a kv
/// counting in `counted` (module `consumer`).
///
/// `sent` is the number of ticks the store accepted, exactly: a tick is counted in the same
/// transaction that acknowledges it, and the message to `tally-counted` is stored in that
/// transaction too. So once nothing waits, `counted == sent` means no tick was lost and none
/// counted twice, whatever died meanwhile; and in any one snapshot `counted <= sent`. The ticker's
/// own count starts again with each of its hosts, so it is not the number of ticks.
private func tallyManifests(interval: Int = 2) -> String {
    """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: tally-source}
    spec: {description: the ticks}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: tally}
    spec: {description: counts the ticks twice across two hosts, delivery: durable}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: tally-ticker, labels: {tinyflow.dev/flow: tally-source}}
    spec:
      module: producer
      component: ticker
      flow: tally-source
      ports:
        - {port: _settings, configuration: {interval: \(interval)}}
      edges:
        - {id: to-sent, port: out, to: "tally-sent:increment", delivery: durable}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: tally-sent, labels: {tinyflow.dev/flow: tally}}
    spec:
      module: producer
      component: kv
      flow: tally
      ports:
        - {port: _settings, configuration: {scope: flow, key: sent}}
      edges:
        - {id: to-counted, port: out, to: "tally-counted:increment"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: tally-counted, labels: {tinyflow.dev/flow: tally}}
    spec:
      module: consumer
      component: kv
      flow: tally
      ports:
        - {port: _settings, configuration: {scope: flow, key: counted}}

    """
}

private let tallyNodes = ["tally-ticker", "tally-sent", "tally-counted"]

/// Records an issue when a snapshot counts more than was sent: a double effect.
private func checked(_ snapshot: StoreSnapshot, sourceLocation: SourceLocation = #_sourceLocation) -> StoreSnapshot {
    #expect(snapshot["counted"] <= snapshot["sent"], "more counted than sent: \(snapshot)", sourceLocation: sourceLocation)
    return snapshot
}

/// A feed (flow `feed`: a ticker with 500 numbers, split into 500 messages) → durable →
/// `sink-count` (flow `sink`, module `consumer`), a kv counting in the flow key `handled`.
private let backlogManifests: String = {
    let numbers = (0..<500).map(String.init).joined(separator: ", ")
    return """
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyFlow
        metadata: {name: feed}
        spec: {description: 500 messages per tick}
        ---
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyFlow
        metadata: {name: sink}
        spec: {description: counts what the feed stored}
        ---
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyNode
        metadata: {name: feed-ticker, labels: {tinyflow.dev/flow: feed}}
        spec:
          module: common
          component: ticker
          flow: feed
          ports:
            - {port: _settings, configuration: {interval: 100, payload: [\(numbers)]}}
          edges:
            - {id: to-split, port: out, to: "feed-split:in", mapping: "{{ $.payload.payload }}"}
        ---
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyNode
        metadata: {name: feed-split, labels: {tinyflow.dev/flow: feed}}
        spec:
          module: common
          component: split
          flow: feed
          edges:
            - {id: to-sink, port: out, to: "sink-count:increment", delivery: durable}
        ---
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinyNode
        metadata: {name: sink-count, labels: {tinyflow.dev/flow: sink}}
        spec:
          module: consumer
          component: kv
          flow: sink
          ports:
            - {port: _settings, configuration: {scope: flow, key: handled}}

        """
}()

/// A ticker → durable (two attempts) → a transform dividing by zero, until its configuration is fixed → debug.
private let deadLetterManifests = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: dead}
    spec: {description: a divide that fails until fixed}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: dead-ticker, labels: {tinyflow.dev/flow: dead}}
    spec:
      module: common
      component: ticker
      flow: dead
      ports:
        - {port: _settings, configuration: {interval: 300, payload: {d: 0}}}
      edges:
        - id: to-divide
          port: out
          to: "dead-divide:in"
          delivery: durable
          retryPolicy: {maxAttempts: 2, initialDelay: 100ms, maxDelay: 100ms}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: dead-divide, labels: {tinyflow.dev/flow: dead}}
    spec:
      module: common
      component: transform
      flow: dead
      ports:
        - {port: _settings, configuration: {template: {count: "{{ $.payload.count }}", ratio: "{{ 12 / $.payload.payload.d }}"}}}
      edges:
        - {id: to-ok, port: out, to: "dead-ok:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: dead-ok, labels: {tinyflow.dev/flow: dead}}
    spec:
      module: common
      component: debug
      flow: dead
      ports:
        - {port: _settings, configuration: {keep: 1000, log: false}}

    """

/// `prio-set` (flow `prio-in`), a kv storing what it is sent and passing it on with its priority
/// and deadline → durable → `prio-sink` (flow `prio`, paused from the start), a debug node.
private let priorityManifests = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: prio-in}
    spec: {description: takes messages in}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: prio}
    spec: {description: paused until the backlog is there, paused: true}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: prio-set, labels: {tinyflow.dev/flow: prio-in}}
    spec:
      module: common
      component: kv
      flow: prio-in
      ports:
        - {port: _settings, configuration: {scope: node, key: last}}
      edges:
        - {id: to-sink, port: out, to: "prio-sink:in", delivery: durable}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: prio-sink, labels: {tinyflow.dev/flow: prio}}
    spec:
      module: common
      component: debug
      flow: prio
      ports:
        - {port: _settings, configuration: {keep: 1000, log: false}}

    """

/// A ticker (flow `lone-source`) → durable → `lone-count`, a kv (flow `lone`, paused from the start).
private let loneManifests = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: lone-source}
    spec: {description: the ticks}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata: {name: lone}
    spec: {description: counts them once resumed, paused: true}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: lone-ticker, labels: {tinyflow.dev/flow: lone-source}}
    spec:
      module: common
      component: ticker
      flow: lone-source
      ports:
        - {port: _settings, configuration: {interval: 20}}
      edges:
        - {id: to-count, port: out, to: "lone-count:increment", delivery: durable}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: lone-count, labels: {tinyflow.dev/flow: lone}}
    spec:
      module: common
      component: kv
      flow: lone
      ports:
        - {port: _settings, configuration: {scope: flow, key: handled}}

    """

/// A durable edge that carries nothing: a transform nobody sends to → durable → kv.
private let idleManifests = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: idle-source}
    spec:
      module: common
      component: transform
      edges:
        - {id: stored, port: out, to: "idle-sink:increment", delivery: durable}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata: {name: idle-sink}
    spec:
      module: common
      component: kv
      ports:
        - {port: _settings, configuration: {scope: node, key: hits}}

    """

/// The rows `tinyflow dlq list` printed (without its header), split into columns.
private func deadLetterRows(_ output: String) -> [[String]] {
    output.split(separator: "\n").dropFirst().compactMap { line in
        let columns = line.components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return columns.first.flatMap { Int64($0) } == nil ? nil : columns
    }
}

/// They run the `tinyflow` product: without it they fail and say how to build it (``MissingBinary``).
@Suite("Durable edges: acceptance with real processes (issue 16)", .serialized, .timeLimit(.minutes(6)))
struct DurableEdgeAcceptanceTests {
    /// A snapshot as text, or why it could not be read.
    static func describe(_ snapshot: () throws -> StoreSnapshot) -> String {
        do { return "\(try snapshot())" } catch { return "no snapshot: \(error)" }
    }

    // MARK: 1

    @Test("SQLite: ticker → durable → kv → durable → kv across two hosts counts every stored tick exactly once through five SIGKILLs of the consumer's host and two of the producer's, each holding claimed messages")
    func sqliteCountsExactlyThroughKills() async throws {
        let run = try DurableUp(manifests: tallyManifests(), modules: ["producer", "consumer"])
        defer { run.stop() }
        func snapshot() throws -> StoreSnapshot {
            checked(try StoreSnapshot.sqlite(run.storePath, flow: "tally", keys: ["sent", "counted"], alsoWaitingIn: ["tally-sent"]))
        }
        let describe: () async -> String = { Self.describe(snapshot) + "\n" + run.up.output.suffix(3000) }
        try await run.waitUntilReady(tallyNodes)
        try await eventually("ticks counted", timeout: .seconds(60), interval: .milliseconds(50), context: describe) {
            try snapshot()["counted"] >= 20
        }
        // Each kill while the host's kv holds claimed messages (seen in the store just before):
        // they come back to its next host once their leases expire.
        let store = try SQLiteDatabase(path: run.storePath, fsync: false)
        defer { store.close() }
        func holdsLeases(_ node: String) throws -> Bool {
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let sql = "SELECT count(*) FROM messages WHERE node = ? AND lease_token IS NOT NULL AND visible_at_ms > ?"
            return try store.query(sql, [.text(node), .int(now)]).first?.first?.int ?? 0 > 0
        }
        for round in 1...5 {
            let before = try snapshot()["counted"]
            try await eventually("the consumer's host holds leased messages (kill \(round) of 5)", timeout: .seconds(30), interval: .milliseconds(1), context: describe) {
                try holdsLeases("tally-counted")
            }
            try await run.killHost("consumer")
            try await eventually("the consumer's next host counts (kill \(round) of 5)", timeout: .seconds(60), interval: .milliseconds(50), context: describe) {
                try snapshot()["counted"] >= before + 20
            }
        }
        for round in 1...2 {
            let before = try snapshot()["sent"]
            try await eventually("the producer's host holds leased messages (kill \(round) of 2)", timeout: .seconds(30), interval: .milliseconds(1), context: describe) {
                try holdsLeases("tally-sent")
            }
            try await run.killHost("producer")
            try await eventually("the producer's next host sends (kill \(round) of 2)", timeout: .seconds(60), interval: .milliseconds(50), context: describe) {
                try snapshot()["sent"] >= before + 20
            }
        }
        try await run.setPaused(true, flow: "tally-source")
        // Ticks stored: counted by tally-sent, or waiting for it.
        try await waitUntilUnchanged("the paused ticker stopped", context: describe) {
            let now = try snapshot()
            return now["sent"] + (now.waitingIn["tally-sent"] ?? 0) + now.deadLetters
        }
        // The killed hosts' leased batches come back when their leases (30 s) expire.
        var final = try snapshot()
        try await eventually("every stored tick counted once, nothing waiting", timeout: .seconds(120), interval: .milliseconds(100), context: describe) {
            final = try snapshot()
            return final.waiting == 0 && final["counted"] == final["sent"]
        }
        print("SQLite kills: at the end \(final)")
        #expect(final["sent"] > 100)
        let deadLetters = try await run.tinyflow("dlq", "list").output
        #expect(final.deadLetters == 0, "\(deadLetters)")
        // Every tick stored once, and once more as the message to the second counter.
        #expect(final.everStored == 2 * final["sent"], "\(final)")
        let counted = try await run.tinyflow("context", "get", "--flow", "tally", "--key", "counted")
        #expect(counted.status == 0 && counted.output == "\(final["counted"])\n", "\(counted)")
        let exit = try await run.up.interrupt(within: .seconds(30))
        #expect(exit.exited && exit.status == 0)
    }

    // MARK: 2

    @Test("a paused flow's backlog of 10,000 stored messages survives a restart of tinyflow up and is handled in full once resumed")
    func pausedBacklogSurvivesRestart() async throws {
        let first = try DurableUp(manifests: backlogManifests, modules: ["consumer"])
        defer { first.stop() }
        func snapshot() throws -> StoreSnapshot {
            try StoreSnapshot.sqlite(first.storePath, flow: "sink", keys: ["handled"], queue: "sink-count")
        }
        let describe: () async -> String = { Self.describe(snapshot) + "\n" + first.up.output.suffix(3000) }
        try await first.waitUntilReady(["feed-ticker", "feed-split", "sink-count"])
        try await eventually("the sink handles messages", timeout: .seconds(60), context: describe) { try snapshot()["handled"] > 0 }

        try await first.setPaused(true, flow: "sink")
        try await eventually("10,000 messages wait for the paused sink", timeout: .seconds(120), interval: .milliseconds(50), context: describe) {
            try snapshot().waiting >= 10_000
        }
        try await first.setPaused(true, flow: "feed")
        let stopped = try await first.up.interrupt(within: .seconds(30))
        #expect(stopped.exited && stopped.status == 0)

        let before = try snapshot()
        #expect(before.waiting >= 10_000)
        // Everything stored was handled or waits.
        #expect(before.everStored == before["handled"] + before.waiting + before.deadLetters, "\(before)")

        let second = try first.restarted()
        defer { second.stop(removingData: false) }
        try await second.waitUntilReady(["sink-count"])
        #expect(try snapshot().waiting == before.waiting, "the paused sink took messages after the restart")
        try await second.setPaused(false, flow: "sink")
        var final = before
        try await eventually("the backlog handled in full", timeout: .seconds(180), interval: .milliseconds(100), context: describe) {
            final = try snapshot()
            return final.waiting == 0 && final["handled"] == final.everStored
        }
        print("paused backlog: at the restart \(before); at the end \(final)")
        #expect(final.deadLetters == 0)
        #expect(final.everStored == before.everStored, "the paused feed stored more after the restart")
        #expect(await second.contextValue(flow: "sink", key: "handled") == final.everStored)
        let exit = try await second.up.interrupt(within: .seconds(30))
        #expect(exit.exited && exit.status == 0)
    }

    // MARK: 3

    @Test("tinyflow dlq list shows messages a failing node dead-lettered after two attempts; once its configuration is fixed, tinyflow dlq replay delivers them")
    func deadLettersReplayedAfterFix() async throws {
        let run = try DurableUp(manifests: deadLetterManifests)
        defer { run.stop() }
        func snapshot() throws -> StoreSnapshot { try StoreSnapshot.sqlite(run.storePath, flow: "dead", keys: [], queue: "dead-divide") }
        try await run.waitUntilReady(["dead-ticker", "dead-divide", "dead-ok"])

        var rows: [[String]] = []
        try await eventually("tinyflow dlq list shows dead letters", timeout: .seconds(60), interval: .milliseconds(200), context: { run.up.output }) {
            rows = deadLetterRows(try await run.tinyflow("dlq", "list", "--node", "dead-divide").output)
            return rows.count >= 2
        }
        // ID NODE:PORT EDGE ATTEMPTS REASON DEAD-LETTERED-AT ERROR
        let row = try #require(rows.first)
        #expect(row.count == 7 && row[1] == "dead-divide:in" && row[2] == "dead-ticker/to-divide" && row[3] == "2" && row[4] == "attemptsExhausted", "\(row)")
        #expect(row.last?.contains("division by zero") == true, "\(row)")

        // The ticker waits an hour for its next tick; the edge stays.
        let slow = #"{"spec":{"ports":[{"port":"_settings","configuration":{"interval":3600000,"payload":{"d":0}}}]}}"#
        #expect(try await run.kubectl("patch", "tn", "dead-ticker", "--type", "merge", "-p", slow).status == 0)
        try await run.waitUntilReady(["dead-ticker"])
        try await eventually("the last ticks' attempts are over", timeout: .seconds(30), interval: .milliseconds(50)) { try snapshot().waiting == 0 }
        rows = deadLetterRows(try await run.tinyflow("dlq", "list", "--node", "dead-divide").output)
        #expect(rows.count == (try snapshot().deadLetters))
        var counts: Set<Int> = []
        for id in rows.map({ $0[0] }) {
            let shown = try await run.tinyflow("dlq", "show", "--id", id).output
            let match = try #require(shown.firstMatch(of: /"count"\s*:\s*(\d+)/), "\(shown)")
            counts.insert(try #require(Int(match.1)))
        }
        #expect(counts.count == rows.count)
        #expect(run.up.printedCounts(of: "dead-ok").isEmpty)

        // The fix: divide by d + 4.
        let fixed = #"{"spec":{"ports":[{"port":"_settings","configuration":{"template":{"count":"{{ $.payload.count }}","ratio":"{{ 12 / ($.payload.payload.d + 4) }}"}}}]}}"#
        #expect(try await run.kubectl("patch", "tn", "dead-divide", "--type", "merge", "-p", fixed).status == 0)
        try await run.waitUntilReady(["dead-divide"])
        let replay = try await run.tinyflow("dlq", "replay", "--node", "dead-divide")
        #expect(replay.status == 0 && replay.output == "replayed \(rows.count) dead letter\(rows.count == 1 ? "" : "s")\n", "\(replay.output)")
        try await eventually("the replayed messages reach the debug node", timeout: .seconds(30), interval: .milliseconds(100), context: { run.up.output }) {
            Set(run.up.printedCounts(of: "dead-ok")) == counts
        }
        #expect(run.up.printedCounts(of: "dead-ok").count == counts.count, "a replayed message was delivered twice")
        #expect(run.up.output.split(separator: "\n").filter { $0.hasPrefix("[dead-ok] ") }.allSatisfy { $0.contains(#""ratio":3"#) })
        #expect(try await run.tinyflow("dlq", "list", "--node", "dead-divide").output == "no dead letters\n")
        #expect(try snapshot().waiting == 0)
    }

    // MARK: 4

    @Test("resuming a paused consumer delivers every high-priority message before the low ones; messages past their deadline are dead-lettered as expired, never handled")
    func priorityAndExpiry() async throws {
        let run = try DurableUp(manifests: priorityManifests)
        defer { run.stop() }
        try await run.waitUntilReady(["prio-set"])
        try await eventually("prio-sink is Paused", timeout: .seconds(60), interval: .milliseconds(200)) {
            try await run.kubectl.condition("prio-sink", "Paused").status == "True"
        }
        let token = try String(contentsOf: run.data.appendingPathComponent("module-token"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let address = try #require(run.address(of: "common"))
        let connector = GRPCModuleHostConnector(token: token)
        defer { connector.shutdown() }
        let connection = try await connector.connection(to: address)

        // 40 low and 40 high, interleaved; 5 of the highest priority that expire while they wait.
        let deadline = Date().addingTimeInterval(2)
        let setPort = PortAddress(node: "prio-set", port: "set")
        for n in 0..<80 {
            let high = n % 2 == 1
            try await connection.deliver(Message(to: setPort, payload: ["n": .integer(n), "class": high ? "high" : "low"], priority: high ? 5 : 0))
            if n % 16 == 0 {
                try await connection.deliver(Message(to: setPort, payload: ["n": .integer(1000 + n), "class": "doomed"], deadline: deadline, priority: 9))
            }
        }
        func snapshot() throws -> StoreSnapshot { try StoreSnapshot.sqlite(run.storePath, flow: "prio", keys: [], queue: "prio-sink") }
        try await eventually("85 messages stored for the paused sink", timeout: .seconds(30), interval: .milliseconds(50)) { try snapshot().waiting == 85 }
        try await eventually("the doomed messages' deadline passed", timeout: .seconds(10), interval: .milliseconds(50)) { Date() > deadline }
        #expect(try await connection.recentMessages(node: "prio-sink")?.isEmpty == true)

        try await run.setPaused(false, flow: "prio")
        var handled: [Message] = []
        try await eventually("80 messages handled", timeout: .seconds(60), interval: .milliseconds(50), context: { "\(handled.map(\.payload))" }) {
            handled = try await connection.recentMessages(node: "prio-sink") ?? []
            return handled.count >= 80
        }
        let classes = handled.map { $0.payload["class"]?.stringValue ?? "?" }
        #expect(classes == Array(repeating: "high", count: 40) + Array(repeating: "low", count: 40), "\(classes)")
        let numbers = handled.compactMap { $0.payload["n"]?.intValue }
        #expect(numbers == Array(stride(from: 1, to: 80, by: 2)) + Array(stride(from: 0, to: 80, by: 2)), "within a priority, in arrival order")
        let rows = deadLetterRows(try await run.tinyflow("dlq", "list", "--node", "prio-sink").output)
        #expect(rows.count == 5 && rows.allSatisfy { $0.count >= 5 && $0[4] == "expired" }, "\(rows)")
        #expect(try snapshot().waiting == 0)
        #expect(try await connection.recentMessages(node: "prio-sink")?.count == 80, "an expired message was handled")
    }

    // MARK: 5

    @Test(
        "PostgreSQL: the counting flow counts every stored tick exactly once through SIGKILLs of both hosts and a restart of PostgreSQL, whose outage the ticker reports",
        .enabled(if: PostgresServer.isRequired || PostgresServer.isInstalled))
    func postgresCountsExactlyThroughKillsAndOutage() async throws {
        let server = try await PostgresServer.launch()
        let url = try await server.createDatabase()
        let run = try DurableUp(manifests: tallyManifests(interval: 20), modules: ["producer", "consumer"], contextStore: url)
        defer { run.stop() }
        var last: StoreSnapshot?
        func snapshot() async throws -> StoreSnapshot? {
            let read = try await StoreSnapshot.postgres(url, flow: "tally", keys: ["sent", "counted"], alsoWaitingIn: ["tally-sent"])
            if let read { last = checked(read) }
            return read
        }
        let describe: () async -> String = { (last.map { "\($0)" } ?? "no snapshot") + "\n" + run.up.output.suffix(3000) }
        try await run.waitUntilReady(tallyNodes)
        try await eventually("ticks counted", timeout: .seconds(60), interval: .milliseconds(100), context: describe) {
            try await snapshot()?["counted"] ?? 0 >= 20
        }
        for module in ["consumer", "producer"] {
            let before = try #require(try await snapshot())
            try await run.killHost(module)
            try await eventually("module \(module)'s next host works", timeout: .seconds(60), interval: .milliseconds(100), context: describe) {
                guard let now = try await snapshot() else { return false }
                return now["sent"] >= before["sent"] + 20 && now["counted"] >= before["counted"] + 20
            }
        }

        await server.stop()
        var status = ""
        try await eventually("the ticker reports the store's outage", timeout: .seconds(60), interval: .milliseconds(200), context: describe) {
            status = try await run.kubectl("get", "tn", "tally-ticker", "-o", "jsonpath={.status.error}").output
            return status.contains("message store") && status.contains("is unavailable")
        }
        #expect(!status.contains(PostgresServer.password) && !status.contains(PostgresServer.encodedPassword), "the password leaked: \(status)")
        try await server.start()
        let beforeRestart = last
        try await eventually("counting goes on after PostgreSQL's restart", timeout: .seconds(120), interval: .milliseconds(200), context: describe) {
            guard let now = try await snapshot() else { return false }
            return now["counted"] >= (beforeRestart?["counted"] ?? 0) + 20
        }

        try await run.setPaused(true, flow: "tally-source")
        try await waitUntilUnchanged("the paused ticker stopped", context: describe) {
            try await snapshot().map { $0["sent"] + ($0.waitingIn["tally-sent"] ?? 0) + $0.deadLetters }
        }
        var final: StoreSnapshot?
        try await eventually("every stored tick counted once, nothing waiting", timeout: .seconds(120), interval: .milliseconds(200), context: describe) {
            final = try await snapshot()
            return final.map { $0.waiting == 0 && $0["counted"] == $0["sent"] } ?? false
        }
        print("PostgreSQL: the ticker's error while the server was down: \(status); at the end \(final.map { "\($0)" } ?? "-")")
        if final?.deadLetters != 0 {
            Issue.record("dead letters: \(try await run.tinyflow("dlq", "list", "--flow", "tally").output)")
        }
        let counted = try await run.tinyflow("context", "get", "--flow", "tally", "--key", "counted")
        #expect(counted.status == 0 && counted.output == "\(final?["counted"] ?? -1)\n", "\(counted)")
        let exit = try await run.up.interrupt(within: .seconds(30))
        #expect(exit.exited && exit.status == 0)
        await server.terminate()
    }

    // MARK: Stranded queues

    // A host consumes the ports durable edges lead to now and, besides, those of its nodes'
    // ports that still hold stored messages (ModuleRuntime.strandedQueues).
    @Test("messages stored on a durable edge are handled even after the edge's source node was deleted")
    func storedMessagesOutliveTheirSource() async throws {
        let run = try DurableUp(manifests: loneManifests)
        defer { run.stop() }
        func snapshot() throws -> StoreSnapshot { try StoreSnapshot.sqlite(run.storePath, flow: "lone", keys: ["handled"], queue: "lone-count") }
        let describe: () async -> String = { Self.describe(snapshot) + "\n" + run.up.output.suffix(2000) }
        try await run.waitUntilReady(["lone-ticker"])
        try await eventually("50 ticks wait for the paused counter", timeout: .seconds(60), interval: .milliseconds(50), context: describe) {
            try snapshot().waiting >= 50
        }
        #expect(try await run.kubectl("delete", "tn", "lone-ticker", "--wait=true", "--timeout=60s").status == 0)
        let stored = try snapshot()
        try await run.setPaused(false, flow: "lone")
        try await eventually("the counter is resumed", timeout: .seconds(30), interval: .milliseconds(200), context: {
            let conditions = (try? await run.kubectl("get", "tn", "lone-count", "-o", "jsonpath={.status.conditions}").output) ?? ""
            let flow = (try? await run.kubectl("get", "tinyflow", "lone", "-o", "yaml").output) ?? ""
            return conditions + "\n" + flow
        }) {
            try await run.kubectl.condition("lone-count", "Paused").status == "False"
        }
        try await eventually("the stored ticks handled", timeout: .seconds(30), interval: .milliseconds(100), context: describe) {
            let now = try snapshot()
            return now.waiting == 0 && now["handled"] == stored.everStored
        }
        #expect(try snapshot().deadLetters == 0)
    }

    // MARK: 6

    @Test("two replicas of the consumer module, hosts sharing one SQLite file, share a durable backlog: both handle messages, none is handled twice")
    func replicasShareTheBacklog() async throws {
        let directory = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let storePath = directory.appendingPathComponent("context.db").path
        let producer = try ModuleHostChild(store: "sqlite:\(storePath)")
        defer { producer.stop() }
        let replicas = try [ModuleHostChild(store: "sqlite:\(storePath)"), ModuleHostChild(store: "sqlite:\(storePath)")]
        defer { for replica in replicas { replica.stop() } }

        // As the operator would send them: the producer's edge is durable, the consumer's port a durable input.
        let produce = DesiredNodes(
            generation: 1,
            nodes: [NodeDefinition(
                name: "fan", component: "transform",
                edges: [Edge(id: "to-count", port: "out", to: "count:increment", delivery: .durable)], namespace: "default", flow: "shop")],
            remoteNodes: ["count": "consumer"])
        let consume = DesiredNodes(generation: 1, nodes: [NodeDefinition(
            name: "count", component: "kv",
            ports: [PortConfiguration(port: "_settings", configuration: ["scope": "flow", "key": "hits"])],
            namespace: "default", flow: "shop", durableInputs: ["increment"])])
        let connector = GRPCModuleHostConnector()
        defer { connector.shutdown() }
        for (host, desired) in [(producer, produce), (replicas[0], consume), (replicas[1], consume)] {
            try await eventually("host \(host.address) runs its nodes", timeout: .seconds(30), interval: .milliseconds(50)) {
                let result = try? await connector.connection(to: host.address).sync(desired)
                return result?.nodes.allSatisfy { $0.phase == .running } ?? false
            }
        }

        let total = 3_000
        let connection = try await connector.connection(to: producer.address)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<8 {
                group.addTask {
                    for n in stride(from: sender, to: total, by: 8) {
                        try await connection.deliver(Message(to: PortAddress(node: "fan", port: "in"), payload: .integer(n)))
                    }
                }
            }
            try await group.waitForAll()
        }
        func snapshot() throws -> StoreSnapshot { try StoreSnapshot.sqlite(storePath, flow: "shop", keys: ["hits"]) }
        var final = try snapshot()
        let describe: () async -> String = {
            let fan = try? await Self.report(of: "fan", at: producer.address)
            return "\(final); fan: \(fan.map { "\($0.counters), last error \($0.lastError ?? "none")" } ?? "no report")"
        }
        try await eventually("every message counted", timeout: .seconds(60), interval: .milliseconds(50), context: describe) {
            final = try snapshot()
            return final.waiting == 0 && final["hits"] >= total
        }
        #expect(final["hits"] == total)
        #expect(final.everStored == total)
        #expect(final.deadLetters == 0)
        var delivered: [Int] = []
        for replica in replicas {
            delivered.append(try await Self.delivered(by: replica.address))
        }
        print("replicas: handled \(delivered) of \(total)")
        #expect(delivered.allSatisfy { $0 > 0 }, "both replicas handle messages: \(delivered)")
        #expect(delivered.reduce(0, +) == total, "each message handled once: \(delivered)")
    }

    /// Messages the host's `count` node handled, from its first status report.
    static func delivered(by address: String) async throws -> Int {
        try await report(of: "count", at: address)?.counters.delivered ?? 0
    }

    /// The first status report of node `node` from the host at `address`.
    static func report(of node: String, at address: String) async throws -> NodeStatusReport? {
        struct Got: Error { var report: NodeStatusReport? }
        do {
            try await ModuleHostClient.withClient(address: address, callTimeout: .seconds(5)) { client in
                try await client.watchStatus(interval: .milliseconds(50)) { reports in
                    throw Got(report: reports.first { $0.name == node })
                }
            }
        } catch let got as Got {
            return got.report
        }
        return nil
    }

    // MARK: 7

    @Test("an idle durable edge costs no CPU: a module host with one deployed and no messages uses less than 0.05 s of CPU in 5 s, alone and under tinyflow up")
    func idleDurableEdgeCostsNoCPU() async throws {
        let directory = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let storePath = directory.appendingPathComponent("context.db").path
        let host = try ModuleHostChild(store: "sqlite:\(storePath)")
        defer { host.stop() }
        let desired = DesiredNodes(generation: 1, nodes: [
            NodeDefinition(
                name: "source", component: "transform",
                edges: [Edge(id: "stored", port: "out", to: "sink:increment", delivery: .durable)], namespace: "default", flow: "idle"),
            NodeDefinition(
                name: "sink", component: "kv",
                ports: [PortConfiguration(port: "_settings", configuration: ["scope": "flow", "key": "hits"])],
                namespace: "default", flow: "idle", durableInputs: ["increment"]),
        ])
        let connector = GRPCModuleHostConnector()
        defer { connector.shutdown() }
        try await eventually("the host runs the edge", timeout: .seconds(30), interval: .milliseconds(50)) {
            let result = try? await connector.connection(to: host.address).sync(desired)
            return result?.nodes.allSatisfy { $0.phase == .running } ?? false
        }
        // One message through, so the consumer has claimed, found the queue empty and gone to sleep.
        try await connector.connection(to: host.address).deliver(Message(to: PortAddress(node: "source", port: "in"), payload: 1))
        try await eventually("the message counted", timeout: .seconds(30), interval: .milliseconds(20)) {
            let snapshot = try StoreSnapshot.sqlite(storePath, flow: "idle", keys: ["hits"])
            return snapshot["hits"] == 1 && snapshot.waiting == 0
        }
        connector.shutdown()
        let used = try await Self.idleCPU(of: host.process.processIdentifier)
        print("idle durable edge, module host alone: \(used) s of CPU in 5 s")
        #expect(used < 0.05, "the idle host used \(used) s of CPU in 5 s")

        // The same under tinyflow up, where the operator watches the host's status.
        let run = try DurableUp(manifests: idleManifests)
        defer { run.stop() }
        try await run.waitUntilReady(["idle-source", "idle-sink"])
        let pid = try #require(run.hostPID("common"))
        let usedUnderUp = try await Self.idleCPU(of: pid)
        print("idle durable edge under tinyflow up: \(usedUnderUp) s of CPU in 5 s")
        #expect(usedUnderUp < 0.05, "the idle host used \(usedUnderUp) s of CPU in 5 s")
    }

    /// The CPU time process `pid` uses in five seconds, measured once it stopped using any
    /// (the wake-ups of what it did last have passed).
    static func idleCPU(of pid: Int32) async throws -> Double {
        var previous = try #require(cpuSeconds(of: pid))
        try await eventually("the host settles", timeout: .seconds(20), interval: .seconds(1)) {
            let now = try #require(cpuSeconds(of: pid))
            defer { previous = now }
            return now - previous < 0.02
        }
        let before = try #require(cpuSeconds(of: pid))
        // The measurement window: five seconds of nothing to do.
        try await Task.sleep(for: .seconds(5))
        return try #require(cpuSeconds(of: pid)) - before
    }
}
