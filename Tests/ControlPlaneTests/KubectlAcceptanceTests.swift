import ControlPlane
import Foundation
import TestSupport
import Testing

/// CI sets `TINYFLOW_REQUIRE_KUBECTL=1` so that a missing kubectl fails instead of skipping.
@Test("kubectl is available when the environment requires it")
func kubectlAvailableWhenRequired() {
    if ProcessInfo.processInfo.environment["TINYFLOW_REQUIRE_KUBECTL"] == "1" {
        #expect(Kubectl.available, "TINYFLOW_REQUIRE_KUBECTL=1 but no kubectl was found (PATH or TINYFLOW_KUBECTL)")
    }
}

/// Acceptance tests: real kubectl (oldest and newest available) against a running control plane,
/// through the kubeconfig it wrote.
@Suite("kubectl acceptance", .timeLimit(.minutes(5)), .enabled(if: Kubectl.available, "no kubectl found (set TINYFLOW_KUBECTL)"), .serialized)
struct KubectlAcceptanceTests {
    static var binaries: [String] { Kubectl.binaries }

    @Test("kubectl applies CRDs and TinyNodes, prints columns, patches, applies server-side, waits and watches", arguments: binaries)
    func kubectlWorkflow(binary: String) async throws {
        try await withTemporaryDirectory { directory in
            let kubeconfig = directory.appendingPathComponent("kubeconfig").path
            try await EmbeddedControlPlane.withRunning(dataDirectory: directory.appendingPathComponent("data")) {
                $0.tls = true
                $0.kubeconfigPath = kubeconfig
            } _: { plane in
                #expect(plane.baseURL.scheme == "https")
                let kubectl = KubectlRunner(binary: binary, kubeconfig: kubeconfig, home: directory.path)
                func ok(_ arguments: [String], _ expected: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
                    let result = try await kubectl.run(arguments)
                    #expect(result.status == 0, "kubectl \(arguments.joined(separator: " ")): \(result.output)", sourceLocation: sourceLocation)
                    if let expected {
                        #expect(result.stdout.contains(expected), "kubectl \(arguments.joined(separator: " ")) printed: \(result.output)", sourceLocation: sourceLocation)
                    }
                    return result.stdout
                }
                let crd = try Fixtures.url("tinynodes-crd.yaml").path
                _ = try await ok(["apply", "-f", crd], "customresourcedefinition.apiextensions.k8s.io/tinynodes.tinyflow.dev created")
                _ = try await ok(["wait", "--for=condition=Established", "crd/tinynodes.tinyflow.dev", "--timeout=20s"])
                _ = try await ok(["apply", "-f", try Fixtures.url("ticker-node.yaml").path], "tinynode.tinyflow.dev/ticker created")
                _ = try await ok(["apply", "-f", try Fixtures.url("ticker-node.yaml").path], "tinynode.tinyflow.dev/ticker unchanged")

                for resource in ["tinynodes", "tn", "tinyflow"] {
                    let table = try await ok(["get", resource])
                    let lines = table.split(separator: "\n")
                    let header = lines.first.map { $0.split(separator: " ").map(String.init) } ?? []
                    #expect(header == ["NAME", "MODULE", "COMPONENT", "READY", "AGE"], "\(table)")
                    let row = lines.dropFirst().first.map { $0.split(separator: " ").map(String.init) } ?? []
                    #expect(Array(row.prefix(3)) == ["ticker", "common", "ticker"], "\(table)")
                }
                let yaml = try await ok(["get", "tn", "ticker", "-o", "yaml"], "kind: TinyNode")
                #expect(yaml.contains("module: common") && yaml.contains("resourceVersion:"))

                _ = try await ok(["patch", "tn", "ticker", "--type=merge", "-p", #"{"spec":{"component":"debug"}}"#], "tinynode.tinyflow.dev/ticker patched")
                _ = try await ok(["patch", "tn", "ticker", "--type=json", "-p", #"[{"op":"test","path":"/spec/component","value":"debug"},{"op":"replace","path":"/spec/module","value":"http"}]"#], "patched")
                #expect(try await ok(["get", "tn", "ticker", "-o", "jsonpath={.spec.module}/{.spec.component}/{.metadata.generation}"]) == "http/debug/3")
                let failedTest = try await kubectl.run(["patch", "tn", "ticker", "--type=json", "-p", #"[{"op":"test","path":"/spec/module","value":"nope"}]"#])
                #expect(failedTest.status != 0)

                // `apply --server-side` takes over what client-side `apply` created, without conflicts.
                _ = try await ok(["apply", "--server-side", "-f", try Fixtures.url("ticker-node.yaml").path], "serverside-applied")
                #expect(try await ok(["get", "tn", "ticker", "-o", "jsonpath={.spec.module}/{.spec.component}"]) == "common/ticker")
                _ = try await ok(["patch", "tn", "ticker", "--type=merge", "-p", #"{"spec":{"module":"http","component":"debug"}}"#])

                // Server-side apply and field-manager conflicts.
                _ = try await ok(["apply", "--server-side", "-f", try Fixtures.url("ssa-node.yaml").path], "serverside-applied")
                let conflict = try await kubectl.run(["apply", "--server-side", "--field-manager=other", "-f", try Fixtures.url("ssa-node-conflict.yaml").path])
                #expect(conflict.status != 0)
                #expect(conflict.stderr.contains("conflict"), "\(conflict.output)")
                _ = try await ok(["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", try Fixtures.url("ssa-node-conflict.yaml").path], "serverside-applied")
                #expect(try await ok(["get", "tn", "ssa", "-o", "jsonpath={.spec.component}"]) == "transform")

                // get -w streams changes.
                let watch = try kubectl.start(["get", "tn", "-w"])
                defer { watch.stop() }
                try await eventually("get -w to print the initial table", context: { watch.output }) { watch.output.contains("ssa") }
                _ = try await ok(["patch", "tn", "ssa", "--type=merge", "-p", #"{"spec":{"component":"watched-change"}}"#])
                try await eventually("get -w to print the change", context: { watch.output }) { watch.output.contains("watched-change") }

                // wait --for=condition=Ready returns once a status update sets it.
                let watchesBefore = await plane.openWatchCount
                let wait = try kubectl.start(["wait", "--for=condition=Ready", "tn/ticker", "--timeout=30s"])
                defer { wait.stop() }
                // kubectl wait lists the object, finds the condition unmet, then watches: once its
                // watch is open it has looked and must still be waiting.
                try await eventually("kubectl wait to open its watch", context: { wait.output }) {
                    await plane.openWatchCount > watchesBefore || !wait.process.isRunning
                }
                #expect(wait.process.isRunning, "wait returned before Ready was set: \(wait.output)")
                let status = #"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Running","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#
                _ = try await ok(["patch", "tn", "ticker", "--subresource=status", "--type=merge", "-p", status])
                try await eventually("kubectl wait to exit", context: { wait.output }) { !wait.process.isRunning }
                #expect(wait.process.terminationStatus == 0, "\(wait.output)")
                try await eventually("kubectl wait to report", context: { wait.output }) { wait.output.contains("condition met") }
                let ready = try await ok(["get", "tn", "ticker"])
                #expect(ready.contains("True"), "\(ready)")

                // A finalizer keeps a deleted object terminating until it is removed.
                _ = try await ok(["apply", "-f", try Fixtures.url("finalized-node.yaml").path])
                _ = try await ok(["delete", "tn", "final", "--wait=false"])
                #expect(try await ok(["get", "tn", "final", "-o", "jsonpath={.metadata.deletionTimestamp}"]).isEmpty == false)
                _ = try await ok(["patch", "tn", "final", "--type=json", "-p", #"[{"op":"test","path":"/metadata/finalizers/0","value":"tinyflow.dev/cleanup"},{"op":"remove","path":"/metadata/finalizers/0"}]"#])
                let gone = try await kubectl.run(["get", "tn", "final"])
                #expect(gone.status != 0)
                #expect(gone.stderr.contains("NotFound") || gone.stderr.contains("not found"), "\(gone.output)")

                // Built-in resources work too.
                _ = try await ok(["apply", "-f", try Fixtures.url("settings-configmap.yaml").path], "configmap/settings created")
                #expect(try await ok(["get", "configmap", "settings", "-o", "jsonpath={.data.a}"]) == "b")
                _ = try await ok(["delete", "configmap", "settings"], "deleted")
                // Typed commands send protobuf bodies.
                _ = try await ok(["create", "namespace", "demo"], "namespace/demo created")
                _ = try await ok(["-n", "demo", "create", "configmap", "typed", "--from-literal=k=v"], "configmap/typed created")
                _ = try await ok(["-n", "demo", "create", "secret", "generic", "typed", "--from-literal=k=v"], "secret/typed created")
                #expect(try await ok(["-n", "demo", "get", "secret", "typed", "-o", "jsonpath={.data.k}"]) == "dg==")
                let namespaces = try await ok(["get", "namespaces"])
                #expect(namespaces.contains("demo") && namespaces.contains("Active"), "\(namespaces)")
            }
        }
    }
}
