import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

private let firstPassword = "s3cret-Pa55word-one"
private let secondPassword = "an0ther-s3cret-two-longer"

/// A flow whose transform puts `${secret:db/password}` into every message (and its length,
/// which shows which value the node uses without showing it), with flow parameters from a
/// literal and a ConfigMap; its debug node also logs every message (`log: true`). And a
/// node that refers to a Secret that does not exist.
private let manifest = """
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyFlow
    metadata:
      name: sec
    spec:
      parameters:
        - name: greeting
          value: hello from a parameter
        - name: user
          valueFrom:
            configMapKeyRef: {name: app, key: user}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: sec-ticker
      labels: {tinyflow.dev/flow: sec}
    spec:
      module: common
      component: ticker
      ports:
        - port: _settings
          configuration:
            interval: 200
            payload:
              greeting: "${param:greeting}"
              user: "${param:user}"
      edges:
        - {id: to-transform, port: out, to: "sec-transform:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: sec-transform
      labels: {tinyflow.dev/flow: sec}
    spec:
      module: common
      component: transform
      ports:
        - port: _settings
          configuration:
            template:
              password: "${secret:db/password}"
              length: "{{ len(\\"${secret:db/password}\\") }}"
              greeting: "{{ $.payload.payload.greeting }}"
              user: "{{ $.payload.payload.user }}"
              count: "{{ $.payload.count }}"
      edges:
        - {id: to-debug, port: out, to: "sec-debug:in"}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: sec-debug
      labels: {tinyflow.dev/flow: sec}
    spec:
      module: common
      component: debug
      ports:
        - port: _settings
          configuration: {keep: 20, log: true}
    ---
    apiVersion: tinyflow.dev/v1alpha1
    kind: TinyNode
    metadata:
      name: sec-missing
    spec:
      module: common
      component: ticker
      ports:
        - port: _settings
          configuration: {interval: 1000, payload: {token: "${secret:nope/token}"}}

    """

@Suite(
    "secret references under tinyflow up: the real kubectl, real processes", .serialized, .timeLimit(.minutes(5)),
    .enabled(if: FileManager.default.isExecutableFile(atPath: Kubectl.path), "needs kubectl"))
struct SecretReferencesEndToEndTests {
    @Test("""
        a node configured with ${secret:db/password} works; the password is nowhere in kubectl get tn/events, the \
        logs, tinyflow logs or tinyflow up's output (*** instead); rotating the Secret changes what the node uses \
        without a host restart; a missing Secret is ConfigValid=False SecretNotFound; flow parameters reach the nodes
        """)
    func secretReferences() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubectl = Kubectl(kubeconfig: data.appendingPathComponent("kubeconfig").path)
        let up = try UpProcess(["--data", data.path, "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the kubeconfig is written", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubectl.kubeconfig)
        }
        try await eventually("the control plane answers kubectl", timeout: .seconds(30)) {
            try await kubectl("get", "namespaces").status == 0
        }
        #expect(try await kubectl("create", "secret", "generic", "db", "--from-literal=password=\(firstPassword)").status == 0)
        #expect(try await kubectl("create", "configmap", "app", "--from-literal=user=alice").status == 0)
        let flowFile = data.appendingPathComponent("flow.yaml")
        try manifest.write(to: flowFile, atomically: true, encoding: .utf8)
        try await eventually("the flow is applied", timeout: .seconds(30)) {
            try await kubectl("apply", "-f", flowFile.path).status == 0
        }

        // The node works: its messages carry the password (shown as ***) and the parameters.
        let nodes = ["sec-ticker", "sec-transform", "sec-debug"]
        try await eventually("every node Ready", timeout: .seconds(60)) { try await kubectl.allReady(nodes) }
        func logs() async throws -> String {
            try await runToCompletion(tinyflowBinary, ["logs", "sec-debug", "--data", data.path], timeout: .seconds(20)).output
        }
        try await eventually("the debug node shows the message with *** for the password", timeout: .seconds(30)) {
            let shown = try await logs()
            return shown.contains(#""password":"***""#) && shown.contains(#""length":\#(firstPassword.count)"#)
        }
        let shown = try await logs()
        #expect(shown.contains(#""greeting":"hello from a parameter""#), "a literal parameter reaches the node: \(shown)")
        #expect(shown.contains(#""user":"alice""#), "a ConfigMap parameter reaches the node: \(shown)")
        try await eventually("tinyflow up prints the messages too", timeout: .seconds(20)) { up.output.contains("[sec-debug] ") }

        // A missing Secret: ConfigValid=False, reason SecretNotFound, naming the Secret and key.
        try await eventually("sec-missing is ConfigValid=False SecretNotFound", timeout: .seconds(30)) {
            let reason = try await kubectl(
                "get", "tn", "sec-missing", "-o", "jsonpath={.status.conditions[?(@.type==\"ConfigValid\")].reason}").output
            return reason == "SecretNotFound"
        }
        let missing = try await kubectl.condition("sec-missing", "ConfigValid")
        #expect(missing.status == "False")
        #expect(missing.message.contains("Secret \"nope\"") && missing.message.contains("key \"token\""), "\(missing.message)")
        #expect(missing.message.contains("spec.ports[0].configuration.payload.token"), "\(missing.message)")

        try await expectNowhere(firstPassword, data: data, kubectl: kubectl, up: up, debugOutput: shown)
        // The debug node logs its messages (log: true): redacted there too.
        let hostLog = try String(contentsOf: data.appendingPathComponent("logs/module-common.log"), encoding: .utf8)
        #expect(hostLog.contains("***"), "the host's log shows the message with *** for the password")

        // Rotate: the node uses the new value within seconds, on the same host process.
        let host = try #require(up.child(running: "module-host"))
        let rotate = try await runToCompletion("/bin/sh", [
            "-c",
            "\(Kubectl.path) --kubeconfig '\(kubectl.kubeconfig)' create secret generic db --from-literal=password=\(secondPassword) "
                + "--dry-run=client -o yaml | \(Kubectl.path) --kubeconfig '\(kubectl.kubeconfig)' apply -f -",
        ])
        #expect(rotate.status == 0, "kubectl apply of the rotated Secret")
        try await eventually("the node uses the rotated value", timeout: .seconds(20)) {
            try await logs().contains(#""length":\#(secondPassword.count)"#)
        }
        #expect(up.child(running: "module-host") == host, "the host was not restarted")
        let rotated = try await logs()
        try await expectNowhere(firstPassword, data: data, kubectl: kubectl, up: up, debugOutput: rotated)
        try await expectNowhere(secondPassword, data: data, kubectl: kubectl, up: up, debugOutput: rotated)

        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
        // Logs written while stopping too.
        try await expectNowhere(secondPassword, data: data, kubectl: nil, up: up, debugOutput: "")
    }

    /// `secret` appears in none of: `kubectl get tn -o yaml`, `kubectl get tf -o yaml`,
    /// `kubectl get events -A -o yaml`, any file under `<data>/logs`, the debug output, and
    /// what `tinyflow up` printed.
    private func expectNowhere(_ secret: String, data: URL, kubectl: Kubectl?, up: UpProcess, debugOutput: String) async throws {
        if let kubectl {
            for arguments in [["get", "tn", "-o", "yaml"], ["get", "tf", "-o", "yaml"], ["get", "events", "-A", "-o", "yaml"]] {
                let result = try await runToCompletion(Kubectl.path, ["--kubeconfig", kubectl.kubeconfig] + arguments)
                #expect(result.status == 0)
                #expect(!result.output.contains(secret), "kubectl \(arguments.joined(separator: " ")) shows the secret")
            }
        }
        let logs = data.appendingPathComponent("logs")
        let files = try FileManager.default.contentsOfDirectory(atPath: logs.path)
        #expect(files.contains("module-common.log") && files.contains("operator.log"), "\(files)")
        for file in files {
            let text = String(decoding: try Data(contentsOf: logs.appendingPathComponent(file)), as: UTF8.self)
            #expect(!text.contains(secret), "logs/\(file) shows the secret")
        }
        #expect(!debugOutput.contains(secret), "tinyflow logs shows the secret")
        #expect(!up.output.contains(secret), "tinyflow up's output shows the secret")
    }
}
