import Foundation
import GRPCTransport
import LocalMode
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A fast hello flow (a tick every 100 ms) in a TinyFlow, so revisions are recorded.
private let flowManifest = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata:
      name: acc
    spec:
      description: a tick every 100 ms, greeted and kept
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: acc-ticker
      labels: {tinyflow.dev/flow: acc}
    spec:
      module: common
      component: ticker
      ports:
        - port: _settings
          configuration: {interval: 100, payload: {greeting: hello}}
      edges:
        - {id: to-transform, port: out, to: "acc-transform:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: acc-transform
      labels: {tinyflow.dev/flow: acc}
    spec:
      module: common
      component: transform
      ports:
        - port: _settings
          configuration:
            template: {message: "{{ $.payload.payload.greeting }} #{{ $.payload.count }}", count: "{{ $.payload.count }}"}
      edges:
        - {id: to-debug, port: out, to: "acc-debug:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: acc-debug
      labels: {tinyflow.dev/flow: acc}
    spec:
      module: common
      component: debug
      ports:
        - port: _settings
          configuration: {keep: 100, log: false}

    """

/// A ticker whose interval is not a number.
private let invalidNode = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: bad-ticker
    spec:
      module: common
      component: ticker
      ports:
        - port: _settings
          configuration: {interval: fast}

    """

private let accNodes = ["acc-ticker", "acc-transform", "acc-debug"]

/// The revisions `tinyflow flow history` prints: number, whether current, node count, summary.
private func history(_ flow: String, kubeconfig: String) async throws -> [(number: Int, current: Bool, nodes: Int, summary: String)] {
    let result = try await runToCompletion(tinyflowBinary, ["flow", "history", flow, "--kubeconfig", kubeconfig])
    guard result.status == 0 else { return [] }
    return result.output.split(separator: "\n").dropFirst().compactMap { line in
        let current = line.hasPrefix("*")
        let fields = line.dropFirst().split(separator: " ", omittingEmptySubsequences: true)
        // REVISION, TIME, AUTHOR, NODES, SUMMARY…
        guard fields.count >= 4, let number = Int(fields[0]), let nodes = Int(fields[3]) else { return nil }
        return (number, current, nodes, fields.dropFirst(4).joined(separator: " "))
    }
}

/// Starts `tinyflow up` with the fast hello flow in a fresh data directory and waits
/// until kubectl shows every node Ready.
private func startFlow() async throws -> (up: UpProcess, kubectl: Kubectl, data: URL) {
    let data = try temporaryDataDirectory()
    let kubectl = Kubectl(kubeconfig: data.appendingPathComponent("kubeconfig").path)
    let flowFile = data.appendingPathComponent("flow.yaml")
    try flowManifest.write(to: flowFile, atomically: true, encoding: .utf8)
    let up = try UpProcess(["--data", data.path, "-f", flowFile.path, "--port", "0"])
    do {
        try await eventually("the kubeconfig is written", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubectl.kubeconfig)
        }
        try await eventually("every node Ready", timeout: .seconds(40)) { try await kubectl.allReady(accNodes) }
    } catch {
        up.stop(removing: data)
        throw error
    }
    return (up, kubectl, data)
}

extension UpProcess {
    /// Kills it if it still runs and removes its data directory (cleanup, also after a failure).
    fileprivate func stop(removing data: URL) {
        killIfRunning()
        try? FileManager.default.removeItem(at: data)
    }
}

@Suite(
    "the operator end to end: tinyflow up, the real kubectl, real processes", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: Kubectl.path), "needs kubectl"))
struct OperatorEndToEndTests {
    @Test("""
        a flow applied runs; kubectl patch changes it live without restarting the host or losing a tick; \
        a rollback makes the earlier configuration live and history shows both; an invalid node gets \
        ConfigValid=False with the field path and the others keep running; a deleted node's task stops \
        before the resource disappears
        """)
    func applyPatchRollbackInvalidDelete() async throws {
        let (up, kubectl, data) = try await startFlow()
        defer { up.stop(removing: data) }
        let kubeconfig = kubectl.kubeconfig

        // Applied: every node Ready (startFlow waited for that), debug output observed.
        try await eventually("greetings printed", timeout: .seconds(20)) { up.output.contains("[acc-debug] ") && up.output.contains("hello #") }
        let host = try #require(up.child(running: "module-host"))
        try await eventually("a revision holding the three nodes", timeout: .seconds(20)) {
            try await history("acc", kubeconfig: kubeconfig).contains { $0.current && $0.nodes == 3 }
        }
        let baseline = try #require(try await history("acc", kubeconfig: kubeconfig).first { $0.current }?.number)

        // kubectl patch: the new template is live, the host is the same process, no tick lost.
        let patch = """
            {"metadata":{"annotations":{"tinyflow.dev/change-summary":"say bye"}},"spec":{"ports":[{"port":"_settings",\
            "configuration":{"template":{"message":"bye #{{ $.payload.count }}","count":"{{ $.payload.count }}"}}}]}}
            """
        #expect(try await kubectl("patch", "tn", "acc-transform", "--type", "merge", "-p", patch).status == 0)
        try await eventually("the patched template is live", timeout: .seconds(20)) { up.output.contains("bye #") }
        let afterPatch = up.printedCounts(of: "acc-debug").count
        try await eventually("ticks keep arriving after the patch", timeout: .seconds(20)) {
            up.printedCounts(of: "acc-debug").count >= afterPatch + 5
        }
        #expect(up.child(running: "module-host") == host, "the host was not restarted")
        let counts = up.printedCounts(of: "acc-debug")
        #expect(isContiguous(counts), "every tick arrived once, across the reconfiguration: \(counts)")

        // Roll back to the baseline: the first template is live again; history shows all three.
        try await eventually("the patch is a revision", timeout: .seconds(20)) {
            try await history("acc", kubeconfig: kubeconfig).contains { $0.current && $0.number == baseline + 1 && $0.summary == "say bye" }
        }
        let rollback = try await runToCompletion(tinyflowBinary, ["flow", "rollback", "acc", "--to", "\(baseline)", "--kubeconfig", kubeconfig])
        #expect(rollback.status == 0)
        #expect(rollback.output.contains("acc-transform"))
        let beforeRollback = up.output.count
        try await eventually("hello greetings again", timeout: .seconds(20)) {
            up.output.dropFirst(beforeRollback).contains("hello #")
        }
        try await eventually("the rollback is the current revision", timeout: .seconds(20)) {
            let revisions = try await history("acc", kubeconfig: kubeconfig)
            return revisions.map(\.number).suffix(3) == [baseline, baseline + 1, baseline + 2]
                && revisions.last?.current == true
        }
        let template = try await kubectl("get", "tn", "acc-transform", "-o", "jsonpath={.spec.ports[0].configuration.template.message}")
        #expect(template.output.hasPrefix("{{ $.payload.payload.greeting }}"))

        // An invalid node: ConfigValid=False naming the field; the flow keeps running.
        let invalidFile = data.appendingPathComponent("invalid.yaml")
        try invalidNode.write(to: invalidFile, atomically: true, encoding: .utf8)
        #expect(try await kubectl("apply", "-f", invalidFile.path).status == 0)
        try await eventually("ConfigValid=False on the invalid node", timeout: .seconds(20)) {
            try await kubectl.condition("bad-ticker", "ConfigValid").status == "False"
        }
        let invalid = try await kubectl.condition("bad-ticker", "ConfigValid")
        #expect(invalid.message.contains("configuration.interval"), "the message names the field: \(invalid.message)")
        #expect(try await kubectl.condition("bad-ticker", "Ready").status == "False")
        let before = up.printedCounts(of: "acc-debug").count
        try await eventually("the valid nodes keep running", timeout: .seconds(20)) {
            up.printedCounts(of: "acc-debug").count >= before + 5
        }
        #expect(try await kubectl.allReady(accNodes))

        // Delete a node: when kubectl delete returns (the resource is gone), the host no longer runs it.
        let address = try await kubectl("get", "tinymodule", "common", "-o", "jsonpath={.spec.address}").output
        let token = try LocalInspection.moduleToken(dataDirectory: data)
        #expect(try await ModuleHostClient.withClient(address: address, token: token) { try await $0.recentMessages(node: "acc-debug") } != nil)
        #expect(try await kubectl("delete", "tn", "acc-debug", "--timeout=60s").status == 0)
        #expect(try await kubectl("get", "tn", "acc-debug").status != 0, "the resource is gone")
        let stopped = try await ModuleHostClient.withClient(address: address, token: token) { try await $0.recentMessages(node: "acc-debug") }
        #expect(stopped == nil, "the node's task stopped before its resource disappeared")

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }

    @Test("""
        killing the operator: on its restart the host keeps its tasks, with no duplicate and no tick lost; \
        killing the module host: its nodes are pushed to the new host and are Ready again
        """)
    func operatorAndHostDeaths() async throws {
        let (up, kubectl, data) = try await startFlow()
        defer { up.stop(removing: data) }
        try await eventually("ticks printed", timeout: .seconds(20)) { up.printedCounts(of: "acc-debug").count >= 3 }
        let host = try #require(up.child(running: "module-host"))

        // The operator dies and comes back.
        let firstOperator = try #require(up.child(running: "operator"))
        kill(firstOperator, SIGKILL)
        try await eventually("a new operator runs", timeout: .seconds(20)) {
            let now = up.child(running: "operator")
            return now != nil && now != firstOperator
        }
        let atRestart = up.printedCounts(of: "acc-debug").count
        // The restarted operator lists, re-plans and syncs the same node set; give it time
        // to do so (a full status round), then check nothing was started twice or lost.
        try await eventually("ticks keep arriving", timeout: .seconds(20)) { up.printedCounts(of: "acc-debug").count >= atRestart + 30 }
        #expect(up.child(running: "module-host") == host, "the host was not restarted")
        let counts = up.printedCounts(of: "acc-debug")
        #expect(isContiguous(counts), "one ticker, every tick once, across the operator's restart: \(counts)")
        #expect(try await kubectl.allReady(accNodes))

        // The module host dies: the supervisor restarts it and the operator pushes the nodes again.
        let maximum = counts.max() ?? 0
        kill(host, SIGKILL)
        try await eventually("a new host runs", timeout: .seconds(20)) {
            let now = up.child(running: "module-host")
            return now != nil && now != host
        }
        try await eventually("the new host runs the flow: its ticker counts from the start again", timeout: .seconds(40)) {
            up.printedCounts(of: "acc-debug").dropFirst(counts.count).filter { $0 < maximum }.count >= 3
        }
        try await eventually("every node Ready again", timeout: .seconds(30)) { try await kubectl.allReady(accNodes) }

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
}
