@testable import ControlPlane
import Foundation
import JSONSchemaKit
import TestSupport
import Testing

/// What the control plane does with requests meant to hurt it: each is refused with its
/// documented status before it costs memory or time, and other clients go on being served.
@Suite("Control-plane limits against hostile requests", .timeLimit(.minutes(2)))
struct HostileRequestTests {
    static let configMaps = "/api/v1/namespaces/default/configmaps"

    /// A "billion laughs": nine levels of nine aliases, about 1 KB of YAML that expands to
    /// 387 million strings.
    static let aliasBomb: String = {
        var lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: laughs", "x:", "  a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
        for level in 1...8 {
            let previous = Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ",")
            lines.append("  a\(level): &a\(level) [\(previous)]")
        }
        lines.append("data: {bomb: *a8}")
        return lines.joined(separator: "\n") + "\n"
    }()

    static func configMap(_ name: String, value: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name)], "data": ["v": .string(value)]]
    }

    /// The status and `reason` of a response, and how long it took.
    static func timed(_ request: () async throws -> TestResponse) async throws -> (TestResponse, Duration) {
        let start = ContinuousClock.now
        let response = try await request()
        return (response, start.duration(to: .now))
    }

    @Test("an alias bomb, a 4 MiB body and a 2 MiB object are each refused at once with their status, memory stays bounded and reads meanwhile answer within 1 s")
    func hostileBodies() async throws {
        try await withPlane { _, client in
            _ = try await client.create(Self.configMap("kept", value: "x"), at: Self.configMaps)
            ResidentMemory.resetPeak()
            let residentBefore = ResidentMemory.current
            // A reader that keeps listing while the attacks go on, recording its slowest answer.
            let probe = Task {
                var slowest = Duration.zero
                var answers = 0
                while !Task.isCancelled {
                    guard let (response, took) = try? await Self.timed({ try await client.get(Self.configMaps) }) else {
                        #expect(Task.isCancelled, "a read failed while the attacks went on")
                        break
                    }
                    #expect(response.status == 200)
                    slowest = max(slowest, took)
                    answers += 1
                }
                return (slowest, answers)
            }

            // The alias bomb, as a server-side apply and as a create.
            let bomb = Data(Self.aliasBomb.utf8)
            #expect(bomb.count < 1024)
            let (applied, applyTook) = try await Self.timed {
                try await client.send("PATCH", Self.configMaps + "/laughs?fieldManager=attacker", raw: bomb, contentType: "application/apply-patch+yaml")
            }
            #expect(applied.status == 400, "\(String(decoding: applied.body, as: UTF8.self))")
            #expect(applied.json["message"]?.stringValue?.contains("YAML aliases expanding too far") == true, "\(applied.json)")
            #expect(applyTook < .seconds(1))
            let (created, _) = try await Self.timed { try await client.send("POST", Self.configMaps, raw: bomb, contentType: "application/yaml") }
            #expect(created.status == 400)

            // A body over 3 MiB is refused from its Content-Length.
            let huge = Data(repeating: UInt8(ascii: "a"), count: 4 * 1024 * 1024)
            let (tooLarge, tooLargeTook) = try await Self.timed { try await client.send("POST", Self.configMaps, raw: huge) }
            #expect(tooLarge.status == 413)
            #expect(tooLarge.json["reason"] == "RequestEntityTooLarge")
            #expect(tooLarge.json["message"]?.stringValue?.contains("3145728 bytes (3 MiB)") == true, "\(tooLarge.json)")
            #expect(tooLargeTook < .seconds(1))

            // An object over 1.5 MiB is refused naming the limit, created or patched.
            let twoMiB = String(repeating: "b", count: 2 * 1024 * 1024)
            let (oversized, _) = try await Self.timed { try await client.send("POST", Self.configMaps, json: Self.configMap("big", value: twoMiB)) }
            #expect(oversized.status == 422)
            #expect(oversized.json["message"]?.stringValue?.contains("at most 1572864 bytes (1.5 MiB)") == true, "\(oversized.json)")
            let grown = try await client.send("PATCH", Self.configMaps + "/kept", json: ["data": ["v": .string(String(twoMiB.prefix(1_600_000)))]],
                                              contentType: "application/merge-patch+json")
            #expect(grown.status == 422)
            #expect(grown.json["message"]?.stringValue?.contains("ConfigMap \"kept\" is too large") == true, "\(grown.json)")

            probe.cancel()
            let (slowest, answers) = await probe.value
            #expect(answers > 0)
            #expect(slowest < .seconds(1), "the slowest read took \(slowest)")
            // Nothing was stored but the one small object.
            let items = try await client.get(Self.configMaps).json["items"]?.arrayValue ?? []
            #expect(items.compactMap { $0["metadata"]?["name"]?.stringValue } == ["kept"])
            // The bomb expanded would need gigabytes; the process grew by far less than that.
            if let residentBefore, let peak = ResidentMemory.peak {
                #expect(peak - residentBefore < 512 * 1024 * 1024, "peak resident memory grew by \(peak - residentBefore) bytes")
            }
        }
    }

    @Test(
        "kubectl get answers within 1 s while kubectl sends the alias bomb, a 4 MiB body and a 2 MiB object, each refused with its status",
        .enabled(if: Kubectl.available, "no kubectl found (set TINYFLOW_KUBECTL)"))
    func kubectlMeanwhile() async throws {
        let binary = try #require(Kubectl.binaries.last)
        try await withTemporaryDirectory { directory in
            let kubeconfig = directory.appendingPathComponent("kubeconfig").path
            try await EmbeddedControlPlane.withRunning(dataDirectory: directory.appendingPathComponent("data")) {
                $0.tls = true
                $0.kubeconfigPath = kubeconfig
            } _: { _ in
                let kubectl = KubectlRunner(binary: binary, kubeconfig: kubeconfig, home: directory.path)
                let bodies = [
                    ("bomb.yaml", Data(Self.aliasBomb.utf8), "(BadRequest)"),
                    ("huge.json", Data(repeating: UInt8(ascii: " "), count: 4 * 1024 * 1024), "(RequestEntityTooLarge)"),
                    ("big.json", try Self.configMap("big", value: String(repeating: "b", count: 2 * 1024 * 1024)).jsonData(), "an object may be at most 1572864 bytes"),
                ]
                for (name, data, _) in bodies { try data.write(to: directory.appendingPathComponent(name)) }
                #expect(try await kubectl.run(["get", "configmaps"]).status == 0)  // discovery cached
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (name, _, status) in bodies {
                        group.addTask {
                            for _ in 0..<3 {
                                let result = try await kubectl.run(["create", "--raw", Self.configMaps, "-f", directory.appendingPathComponent(name).path])
                                #expect(result.status != 0)
                                #expect(result.stderr.contains(status), "\(name): \(result.stderr)")
                            }
                        }
                    }
                    for _ in 0..<3 {
                        let start = ContinuousClock.now
                        let listed = try await kubectl.run(["get", "configmaps"])
                        let took = start.duration(to: .now)
                        #expect(listed.status == 0, "\(listed.output)")
                        #expect(took < .seconds(1), "kubectl get took \(took)")
                    }
                    try await group.waitForAll()
                }
            }
        }
    }

    @Test("a TinyNode with 5,000 edges is refused at once, created, replaced or applied, naming the field and the limit")
    func thousandsOfEdges() async throws {
        try await withPlane { _, client in
            let crd = try String(contentsOf: repositoryRoot.appendingPathComponent("crds/tinyflow.dev_tinynodes.yaml"), encoding: .utf8)
            let installed = try await client.send("POST", Fixtures.crds, raw: Data(crd.utf8), contentType: "application/yaml")
            #expect(installed.status == 201, "\(String(decoding: installed.body, as: UTF8.self))")
            var node = Fixtures.node("fan")
            node["spec"]?["edges"] = .array((0..<5000).map { ["id": .string("e\($0)"), "port": "out", "to": .string("n\($0):in")] })
            let start = ContinuousClock.now
            let created = try await client.send("POST", Fixtures.nodes, json: node)
            let applied = try await client.send("PATCH", Fixtures.nodes + "/fan?fieldManager=test", raw: try node.jsonData(),
                                                contentType: "application/apply-patch+yaml")
            #expect(start.duration(to: .now) < .seconds(2))
            for response in [created, applied] {
                #expect(response.status == 422)
                let message = response.json["message"]?.stringValue ?? ""
                #expect(message.contains("spec.edges: Too many: 5000: must have at most 1000 items"), "\(message)")
            }
        }
    }

    @Test("a JSON patch whose copies double the object 40 times is refused at once, before it is built")
    func copyChain() async throws {
        try await withPlane { _, client in
            _ = try await client.create(Self.configMap("seed", value: String(repeating: "x", count: 100)), at: Self.configMaps)
            let operations: [JSONValue] = (0..<40).map { ["op": "copy", "from": "/data", "path": .string("/data/c\($0)")] }
            let start = ContinuousClock.now
            let patched = try await client.send("PATCH", Self.configMaps + "/seed", json: .array(operations), contentType: "application/json-patch+json")
            #expect(start.duration(to: .now) < .seconds(1))
            #expect(patched.status == 422)
            #expect(patched.json["message"]?.stringValue?.contains("copies more than 3145728 bytes") == true, "\(patched.json)")
            let tooMany = try await client.send(
                "PATCH", Self.configMaps + "/seed", json: .array(Array(repeating: ["op": "test", "path": "/data", "value": nil], count: 10_001)),
                contentType: "application/json-patch+json")
            #expect(tooMany.status == 422)
        }
    }

    @Test("500 concurrent writes beyond the in-flight budget get 429 with Retry-After, the rest are served, and reads keep their own budget")
    func concurrentRequests() async throws {
        try await withPlane(configure: { $0.limits.maxMutatingRequestsInFlight = 20 }) { plane, client in
            plane.faults.setLatency(.milliseconds(300))
            let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let response = try await client.send("POST", Self.configMaps, json: Self.configMap("c\(index)", value: "v"))
                        return (response.status, response.headers["retry-after"])
                    }
                }
                // A read while the writes hold their budget is served.
                group.addTask { (try await client.get(Self.configMaps).status, nil) }
                return try await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
            }
            let created = statuses.filter { $0.0 == 201 }.count
            let refused = statuses.filter { $0.0 == 429 }
            let histogram = Dictionary(statuses.map { ($0.0, 1) }, uniquingKeysWith: +)
            #expect(statuses.count == 501)
            #expect(Set(histogram.keys).isSubset(of: [200, 201, 429]), "statuses: \(histogram)")
            #expect(histogram[200] == 1, "the read: \(histogram)")
            #expect(created >= 20)
            #expect(!refused.isEmpty)
            #expect(refused.allSatisfy { $0.1 == "1" })
            plane.faults.setLatency(.zero)
            let stored = try await client.get(Self.configMaps).json["items"]?.arrayValue ?? []
            #expect(stored.count == created)
        }
    }

    @Test("a client may hold a bounded number of watches; others are not affected and a closed one frees its slot")
    func watchesPerClient() async throws {
        try await withPlane(configure: { $0.limits.maxWatchesPerClient = 3 }) { plane, client in
            let watches = (0..<3).map { _ in WatchRecorder(client.stream(Self.configMaps + "?watch=true")) }
            try await eventually("three watches are open") { await plane.openWatchCount == 3 }
            let fourth = try await client.get(Self.configMaps + "?watch=true")
            #expect(fourth.status == 429)
            #expect(fourth.json["message"]?.stringValue?.contains("tinyflow-tests/1.0 holds 3 open") == true, "\(fourth.json)")
            // Another client is not counted against this one.
            let other = WatchRecorder(client.stream(Self.configMaps + "?watch=true", headers: ["User-Agent": "another/1.0"]))
            try await eventually("the other client's watch is open") { await plane.openWatchCount == 4 }
            await other.cancel()
            await watches[0].cancel()
            try await eventually("a closed watch frees its slot") {
                let response = try await client.get(Self.configMaps + "?watch=true&timeoutSeconds=1")
                return response.status == 200
            }
            for watch in watches { await watch.cancel() }
        }
    }

    @Test("a request that takes longer than the request timeout is answered 504 at the timeout")
    func requestTimeout() async throws {
        try await withPlane(configure: { $0.limits.requestTimeout = .milliseconds(300) }) { plane, client in
            plane.faults.setLatency(.seconds(5))
            let (response, took) = try await Self.timed { try await client.get(Self.configMaps) }
            #expect(response.status == 504)
            #expect(response.json["reason"] == "Timeout")
            #expect(took < .seconds(4))
            plane.faults.setLatency(.zero)
            #expect(try await client.get(Self.configMaps).status == 200)
        }
    }
}

/// This process's resident memory, from `/proc/self/status`.
enum ResidentMemory {
    /// `VmRSS` in bytes.
    static var current: Int? { field("VmRSS") }
    /// `VmHWM` (the peak since the last ``resetPeak()``) in bytes.
    static var peak: Int? { field("VmHWM") }

    /// Starts measuring the peak afresh (`/proc/self/clear_refs`).
    static func resetPeak() {
        try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/self/clear_refs"))
    }

    private static func field(_ name: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }
}
