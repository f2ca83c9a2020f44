import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

private let helloNodes = ["hello-ticker", "hello-transform", "hello-debug"]

/// They run the `tinyflow` product: without it they fail and say how to build it (``MissingBinary``).
@Suite("tinyflow up", .serialized, .timeLimit(.minutes(5)))
struct UpEndToEndTests {
    @Test("serves the flow to kubectl with the common module registered, restarts a module host that dies, stops cleanly on SIGINT and restores the flow on the next start")
    func upServesKubectlAndStopsCleanly() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let kubectl = Kubectl(kubeconfig: kubeconfig)
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }

        try await eventually("the kubeconfig is written", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubeconfig)
        }
        try await eventually("kubectl lists the hello nodes", timeout: .seconds(20)) {
            Set(try await kubectl.nodeNames()).isSuperset(of: helloNodes)
        }
        let module = try await kubectl("get", "tinymodule", "common", "-o", "jsonpath={.spec.address}")
        #expect(module.status == 0)
        #expect(module.output.hasPrefix("127.0.0.1:"))
        #expect(up.output.contains("control plane ready at https://127.0.0.1:"))

        try await eventually("the common module host runs as a child") { up.child(running: "module-host") != nil }
        let host = try #require(up.child(running: "module-host"))
        kill(host, SIGKILL)
        try await eventually("the supervisor reports the death and starts a new host") {
            let now = up.child(running: "module-host")
            return up.output.contains("module common killed by signal 9; restarting") && now != nil && now != host
        }
        let children = childPIDs(of: up.process.processIdentifier)
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited)
        #expect(exit.status == 0)
        try await eventually("no child process remains", timeout: .seconds(5)) { !children.contains(where: isAlive) }

        // Start again on the same data directory without -f: the flow is still there.
        try FileManager.default.removeItem(atPath: kubeconfig)
        let again = try UpProcess(["--data", data.path, "--port", "0"])
        defer { again.killIfRunning() }
        try await eventually("the kubeconfig is written again", timeout: .seconds(30)) {
            FileManager.default.fileExists(atPath: kubeconfig)
        }
        try await eventually("kubectl lists the restored hello nodes", timeout: .seconds(20)) {
            Set(try await kubectl.nodeNames()).isSuperset(of: helloNodes)
        }
        try await eventually("the restored nodes run again", timeout: .seconds(40)) { again.output.contains("3/3 nodes Ready") }
        let second = try await again.interrupt(within: .seconds(20))
        #expect(second.exited && second.status == 0)
    }

    @Test("runs the hello example: every node Ready, the transformed greeting printed, the console's URL printed and its API served to the token's holder (and by tinyflow console with its own token), and status and logs report it")
    func helloExample() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/hello-flow.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("all nodes Ready", timeout: .seconds(40)) { up.output.contains("3/3 nodes Ready") }
        #expect(up.output.contains("module common: "))
        try await eventually("the transformed greeting is printed", timeout: .seconds(20)) {
            up.output.contains("[hello-debug] ") && up.output.contains("hello, world #")
        }
        // The console: its URL printed with the token, its API only for the token's holder.
        let console = try #require(up.output.firstMatch(of: /console: (http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]{64})\n/))
        let flows = try #require(URL(string: String(console.1) + "/api/flows"))
        var request = URLRequest(url: flows)
        request.setValue("Bearer \(console.2)", forHTTPHeaderField: "Authorization")
        let (body, answer) = try await URLSession.shared.data(for: request)
        #expect((answer as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: body, as: UTF8.self).contains(#""name":"hello""#))
        let (_, refused) = try await URLSession.shared.data(from: flows)
        #expect((refused as? HTTPURLResponse)?.statusCode == 401)
        // `tinyflow console` on the same API server, with tinyflow up's kubeconfig, its own token.
        let standalone = try UpProcess(["--kubeconfig", data.appendingPathComponent("kubeconfig").path], command: "console")
        defer { standalone.killIfRunning() }
        try await eventually("tinyflow console prints its URL", timeout: .seconds(20), context: { standalone.output }) {
            standalone.output.contains("console: http://127.0.0.1:")
        }
        let second = try #require(standalone.output.firstMatch(of: /console: (http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]{64})\n/))
        #expect(second.2 != console.2, "every console has its own token")
        var own = URLRequest(url: try #require(URL(string: String(second.1) + "/api/flows")))
        own.setValue("Bearer \(second.2)", forHTTPHeaderField: "Authorization")
        let (ownBody, ownAnswer) = try await URLSession.shared.data(for: own)
        #expect((ownAnswer as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: ownBody, as: UTF8.self).contains(#""name":"hello""#))
        let logs = try await runToCompletion(tinyflowBinary, ["logs", "hello-debug", "--data", data.path])
        #expect(logs.status == 0)
        #expect(logs.output.contains("[hello-debug] "))
        #expect(logs.output.contains("hello, world #"))
        let status = try await runToCompletion(tinyflowBinary, ["status", "--data", data.path])
        #expect(status.status == 0)
        for name in helloNodes { #expect(status.output.contains(name)) }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }

    @Test(
        "serves the operator's debug endpoint through the control plane's service proxy: the hello flow's debug messages, again after a restart on the same data, where the last run's readiness is not shown as this one's",
        .timeLimit(.minutes(4)))
    func debugEndpointThroughServiceProxy() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let kubeconfig = data.appendingPathComponent("kubeconfig").path
        let kubectl = Kubectl(kubeconfig: kubeconfig)
        let messages = "/api/v1/namespaces/tinyflow-system/services/tinyflow-operator:debug/proxy/debug/v1/namespaces/default/nodes/hello-debug/messages"
        for start in 1...2 {
            // The second start, without -f, runs the stored flow, with the operator on another port.
            let up = try UpProcess(["--data", data.path, "--port", "0"] + (start == 1 ? ["-f", "examples/hello-flow.yaml"] : []))
            defer { up.killIfRunning() }
            try await eventually("the kubeconfig is written (start \(start))", timeout: .seconds(30)) {
                FileManager.default.fileExists(atPath: kubeconfig)
            }
            var last = ""
            try await eventually("hello-debug's messages through the service proxy (start \(start))", timeout: .seconds(60),
                                 context: { "kubectl: \(last)\n\(up.output)" }) {
                let answer = try await kubectl("get", "--raw", messages)
                last = answer.output
                return answer.status == 0 && answer.output.hasPrefix("{\"messages\":[") && answer.output.contains("hello, world #")
            }
            if start == 2 {
                // The last run's hosts died with it: its Ready is not shown as this run's.
                try await eventually("the restored nodes are Ready again", timeout: .seconds(40)) { up.output.contains("3/3 nodes Ready") }
                #expect(up.output.firstMatch(of: /(\d)\/3 nodes Ready/)?.1 == "0", "\(up.output)")
            }
            let endpoints = try await kubectl("get", "endpoints", "tinyflow-operator", "-n", "tinyflow-system",
                                              "-o", "jsonpath={.subsets[0].addresses[0].ip} {.subsets[0].ports[0].name}")
            #expect(endpoints.output == "127.0.0.1 debug")
            let unknown = try await kubectl("get", "--raw", messages.replacingOccurrences(of: "hello-debug", with: "nobody"))
            #expect(unknown.status != 0)
            let exit = try await up.interrupt(within: .seconds(20))
            #expect(exit.exited && exit.status == 0)
            try FileManager.default.removeItem(atPath: kubeconfig)
        }
    }

    @Test("runs the error-port example: the failures of the transform reach the error debug node (without a console)")
    func errorPortExampleRoutesFailures() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/error-port.yaml", "--port", "0", "--no-console"])
        defer { up.killIfRunning() }
        try await eventually("a result and a failure are printed", timeout: .seconds(40)) {
            up.output.contains("[errors-ok] ") && up.output.contains("[errors-failed] ") && up.output.contains("division by zero")
        }
        #expect(!up.output.contains("console: "), "--no-console serves no console")
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }

    @Test("runs the two-modules example across the common host and the second host of examples/modules.yaml")
    func twoModulesExampleCrossesHosts() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess([
            "--data", data.path, "--modules", "examples/modules.yaml", "-f", "examples/two-modules.yaml", "--port", "0",
        ])
        defer { up.killIfRunning() }
        try await eventually("messages from common arrive at the debug node in second", timeout: .seconds(40)) {
            up.output.contains("[two-debug] ") && up.output.contains("common -> second")
        }
        #expect(up.output.contains("module second: host starting at 127.0.0.1:"))
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }

    @Test(
        "runs the http-echo example: a request to 127.0.0.1:8088 is answered by the flow",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "needs curl"),
        .enabled(if: loopbackPortIsFree(8088), "port 8088, which the example serves on, is taken"))
    func httpEchoExampleAnswers() async throws {
        let data = try temporaryDataDirectory()
        defer { try? FileManager.default.removeItem(at: data) }
        let up = try UpProcess(["--data", data.path, "-f", "examples/http-echo.yaml", "--port", "0"])
        defer { up.killIfRunning() }
        try await eventually("the echo is answered", timeout: .seconds(40)) {
            let answer = try await runToCompletion("/usr/bin/curl", ["-sf", "--max-time", "3", "http://127.0.0.1:8088/hello?name=tinyflow"])
            return answer.status == 0 && answer.output.contains("/hello") && answer.output.contains("tinyflow")
        }
        let exit = try await up.interrupt(within: .seconds(20))
        #expect(exit.exited && exit.status == 0)
    }
}
