import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A 10 ms ticker into a 20 ms delay into a debug node: about two messages are always in the delay.
private let countedFlow = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata:
      name: cnt
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: cnt-ticker
      labels: {tinyflow.dev/flow: cnt}
    spec:
      module: common
      component: ticker
      flow: cnt
      ports:
        - port: _settings
          configuration: {interval: 10}
      edges:
        - {id: to-delay, port: out, to: "cnt-delay:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: cnt-delay
      labels: {tinyflow.dev/flow: cnt}
    spec:
      module: common
      component: delay
      flow: cnt
      ports:
        - port: _settings
          configuration: {delay: 20}
      edges:
        - {id: to-debug, port: out, to: "cnt-debug:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: cnt-debug
      labels: {tinyflow.dev/flow: cnt}
    spec:
      module: common
      component: debug
      flow: cnt
      ports:
        - port: _settings
          configuration: {log: false}

    """

/// A node's `status.metrics` as kubectl shows it.
private struct Metrics: Decodable, Equatable {
    var messagesIn: Int64 = 0
    var delivered: Int64?
    var errors: Int64 = 0
    var expired: Int64 = 0
    var dropped: Int64?
    var lost: Int64?
    var queued: Int64?

    /// `messagesIn = delivered + errors + expired + dropped + lost`.
    var isBalanced: Bool { messagesIn == (delivered ?? 0) + errors + expired + (dropped ?? 0) + (lost ?? 0) }
}

private func metrics(of node: String, _ kubectl: Kubectl) async throws -> Metrics? {
    let answer = try await kubectl("get", "tn", node, "-o", "jsonpath={.status.metrics}")
    guard answer.status == 0, !answer.output.isEmpty else { return nil }
    return try? JSONDecoder().decode(Metrics.self, from: Data(answer.output.utf8))
}

@Suite(
    "Counters across restarts under tinyflow up: the real kubectl, real processes (issue 14)", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: Kubectl.path), "needs kubectl"))
struct CountersEndToEndTests {
    @Test("""
        ticker → delay → debug through three SIGKILLs of the module host and a restart of tinyflow up: the delay's counters \
        never go down, and once the flow is paused its books balance — in = delivered + errors + expired + dropped + lost
        """)
    func countersSurviveRestarts() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubectl = Kubectl(kubeconfig: data.appendingPathComponent("kubeconfig").path)
        let nodes = ["cnt-ticker", "cnt-delay", "cnt-debug"]
        var up = try UpProcess(["--data", data.path, "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the control plane answers kubectl", timeout: .seconds(30)) {
            guard FileManager.default.fileExists(atPath: kubectl.kubeconfig) else { return false }
            return try await kubectl("get", "namespaces").status == 0
        }
        let flowFile = data.appendingPathComponent("flow.yaml")
        try countedFlow.write(to: flowFile, atomically: true, encoding: .utf8)
        #expect(try await kubectl("apply", "-f", flowFile.path).status == 0)
        try await eventually("the flow Ready", timeout: .seconds(60)) { try await kubectl.allReady(nodes) }

        // The delay's messagesIn, sampled after every step: never lower than the sample before.
        var samples: [Int64] = []
        func sample(above floor: Int64) async throws {
            var seen: Int64 = 0
            try await eventually("cnt-delay's messagesIn above \(floor)", timeout: .seconds(30), context: { "\(samples), now \(seen)" }) {
                seen = try await metrics(of: "cnt-delay", kubectl)?.messagesIn ?? 0
                return seen > floor
            }
            samples.append(seen)
        }
        try await sample(above: 50)
        for kill in 1...3 {
            let host = try #require(up.child(running: "module-host"))
            Glibc.kill(host, SIGKILL)
            try await eventually("a new module host after kill \(kill)", timeout: .seconds(20)) {
                up.child(running: "module-host").map { $0 != host } ?? false
            }
            try await eventually("the flow Ready after kill \(kill)", timeout: .seconds(30)) { try await kubectl.allReady(nodes) }
            try await sample(above: (samples.last ?? 0) + 20)
        }

        // Paused: the ticker stops, the delay drains, the books balance.
        #expect(try await kubectl("patch", "tf", "cnt", "--type", "merge", "-p", #"{"spec":{"paused":true}}"#).status == 0)
        var settled = Metrics()
        try await eventually("cnt-delay idle and balanced", timeout: .seconds(30), context: { "\(settled)" }) {
            guard let now = try await metrics(of: "cnt-delay", kubectl) else { return false }
            settled = now
            return now.queued == 0 && now.isBalanced && now.messagesIn >= (samples.last ?? 0)
        }

        print("cnt-delay after three kills, paused: \(settled)")
        // The delay is slower than the ticker: its queue is full when the host dies, and lost.
        #expect((settled.lost ?? 0) > 0, "\(settled)")
        let settledRun = try await kubectl("get", "tn", "cnt-delay", "-o", "jsonpath={.status.counted.run}").output
        #expect(!settledRun.isEmpty)

        // A restart of tinyflow up: the flow comes back paused, its counters as they were.
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
        up = try UpProcess(["--data", data.path, "--port", "0"])
        try await eventually("the flow Ready after the restart", timeout: .seconds(60)) { try await kubectl.allReady(nodes) }
        try await eventually("the restarted host's run counted", timeout: .seconds(30)) {
            let status = try await kubectl("get", "tn", "cnt-delay", "-o", "jsonpath={.status.counted.run}").output
            return !status.isEmpty && status != settledRun
        }
        let after = try #require(try await metrics(of: "cnt-delay", kubectl))
        #expect(after.messagesIn == settled.messagesIn, "\(after) after the restart, \(settled) before")
        #expect(after.isBalanced, "\(after)")
        let final = try await up.interrupt(within: .seconds(20))
        #expect(final.exited && final.status == 0)
    }
}
