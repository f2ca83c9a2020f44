import Foundation
import TestSupport
import Testing

/// A two-node transform loop whose messages may go a million hops: it keeps both nodes' queues full.
private let loopManifest = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata:
      name: loop
    spec:
      maxHops: 1000000
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: loop-a
      labels: {tinyflow.dev/flow: loop}
    spec:
      module: common
      component: transform
      flow: loop
      ports:
        - port: _settings
          configuration: {template: {n: "{{ $.payload.n }}"}}
      edges:
        - {id: to-b, port: out, to: "loop-b:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: loop-b
      labels: {tinyflow.dev/flow: loop}
    spec:
      module: common
      component: transform
      flow: loop
      ports:
        - port: _settings
          configuration: {template: {n: "{{ $.payload.n }}"}}
      edges:
        - {id: to-a, port: out, to: "loop-a:in"}

    """

/// `count` signals into loop-a.
private func feedManifest(count: Int) -> String {
    (1...count).map { index in
        """
        apiVersion: tinyflow.dev/v1alpha1
        kind: TinySignal
        metadata:
          name: feed-\(index)
        spec:
          node: loop-a
          port: in
          payload: {n: \(index)}

        """
    }.joined(separator: "---\n")
}

private let newNodeManifest = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: after-loop
    spec:
      module: common
      component: debug

    """

@Suite(
    "Stopping nodes under tinyflow up: the real kubectl, real processes (issue 14)", .serialized, .timeLimit(.minutes(3)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: Kubectl.path), "needs kubectl"))
struct StopEndToEndTests {
    @Test("a busy two-node transform loop is deleted within 10 s, and a new node of the same module is Ready within 10 s meanwhile")
    func deletingALoopBlocksNothing() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubectl = Kubectl(kubeconfig: data.appendingPathComponent("kubeconfig").path)
        let up = try UpProcess(["--data", data.path, "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the control plane answers kubectl", timeout: .seconds(30)) {
            guard FileManager.default.fileExists(atPath: kubectl.kubeconfig) else { return false }
            return try await kubectl("get", "namespaces").status == 0
        }
        let loopFile = data.appendingPathComponent("loop.yaml")
        try loopManifest.write(to: loopFile, atomically: true, encoding: .utf8)
        #expect(try await kubectl("apply", "-f", loopFile.path).status == 0)
        try await eventually("the loop's nodes Ready", timeout: .seconds(60)) { try await kubectl.allReady(["loop-a", "loop-b"]) }

        let feedFile = data.appendingPathComponent("feed.yaml")
        try feedManifest(count: 20).write(to: feedFile, atomically: true, encoding: .utf8)
        #expect(try await kubectl("apply", "-f", feedFile.path).status == 0)
        var received = 0
        try await eventually("the loop busy: messages in at loop-a", timeout: .seconds(30)) {
            received = Int(try await kubectl("get", "tn", "loop-a", "-o", "jsonpath={.status.metrics.messagesIn}").output) ?? 0
            return received > 1_000
        }

        let newFile = data.appendingPathComponent("new.yaml")
        try newNodeManifest.write(to: newFile, atomically: true, encoding: .utf8)
        let clock = ContinuousClock()
        let started = clock.now
        async let deletion = kubectl("delete", "tn", "loop-a", "loop-b", "--timeout=60s")
        #expect(try await kubectl("apply", "-f", newFile.path).status == 0)
        try await eventually("the new node Ready within 10 s while the loop is deleted", timeout: .seconds(10), context: { up.output }) {
            try await kubectl.allReady(["after-loop"])
        }
        let deleted = try await deletion
        let deleteTime = clock.now - started
        #expect(deleted.status == 0, "\(deleted.output)")
        #expect(deleteTime < .seconds(10), "kubectl delete took \(deleteTime)")
        let left = try await kubectl("get", "tn", "-o", "name").output
        #expect(!left.contains("loop-a") && !left.contains("loop-b"), "\(left)")

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
}
