import ComponentKit
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRPCTransport
import ModuleHost
import PostgresTestSupport
import TestSupport
import Testing

/// Two `tinyflow module-host` processes sharing one context store, as two replicas of a module do.
@Suite("Two module-host processes sharing a context store", .timeLimit(.minutes(5)), .serialized)
struct SharedContextTests {
    static let increments = 10_000
    static let scope = ContextScope.flow(namespace: "default", flow: "shop")

    /// A kv node incrementing the flow key `hits` on every message to its `increment` port.
    static let counter = DesiredNodes(generation: 1, nodes: [
        NodeDefinition(
            name: "counter", component: "kv",
            ports: [PortConfiguration(port: "_settings", configuration: ["scope": "flow", "key": "hits"])],
            namespace: "default", flow: "shop")
    ])

    /// Starts two hosts on `store`, sends each `increments` messages to its kv node at once, and
    /// returns the final count (read through the first host) once both handled all of theirs.
    func countWithTwoHosts(store: String) async throws -> JSONValue? {
        try await withHostProcesses { processes in
            let hosts = try [freePort(), freePort()].map { port in
                try processes.start(port: port, environment: ["TINYFLOW_CONTEXT_STORE": store])
            }
            let connector = GRPCModuleHostConnector()
            defer { connector.shutdown() }
            for host in hosts {
                try await eventually("host \(host.address) runs the counter", timeout: .seconds(30)) {
                    let result = try? await connector.connection(to: host.address).sync(Self.counter)
                    return result?.nodes.first?.phase == .running
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for host in hosts {
                    let connection = try await connector.connection(to: host.address)
                    for sender in 0..<8 {
                        group.addTask {
                            for index in stride(from: sender, to: Self.increments, by: 8) {
                                try await connection.deliver(
                                    Message(to: PortAddress(node: "counter", port: "increment"), payload: .integer(index)))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let first = try await connector.connection(to: hosts[0].address)
            try await eventually("both hosts handled their increments", timeout: .seconds(120)) {
                var finished = 0
                for host in hosts { finished += try await finishedMessages(host.address) }
                return finished == 2 * Self.increments
            }
            return try await first.context(ContextRequest(.get, scope: Self.scope, key: "hits")).value
        }
    }

    /// Messages the host's counter node has finished (delivered or errored), from its first status report.
    func finishedMessages(_ address: String) async throws -> Int {
        struct Got: Error { var count: Int }
        do {
            try await ModuleHostClient.withClient(address: address, callTimeout: .seconds(5)) { client in
                try await client.watchStatus(interval: .milliseconds(50)) { reports in
                    let counters = reports.first { $0.name == "counter" }?.counters
                    throw Got(count: (counters?.delivered ?? 0) + (counters?.errored ?? 0))
                }
            }
        } catch let got as Got {
            return got.count
        }
        return 0
    }

    @Test("SQLite: two hosts each incrementing the same flow key 10,000 times through kv end with exactly 20,000")
    func sqliteCountsExactly() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-context-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let count = try await countWithTwoHosts(store: "sqlite:\(directory.appendingPathComponent("context.db").path)")
        #expect(count == .integer(2 * Self.increments))
    }

    @Test(
        "PostgreSQL: two hosts each incrementing the same flow key 10,000 times through kv end with exactly 20,000",
        .enabled(if: PostgresServer.isRequired || PostgresServer.isInstalled))
    func postgresCountsExactly() async throws {
        let server = try await PostgresServer.shared()
        let count = try await countWithTwoHosts(store: try await server.createDatabase())
        #expect(count == .integer(2 * Self.increments))
    }

    @Test(
        "PostgreSQL stopped mid-flow: kv messages fail to the error port with the reason and the host is not ready; once it is back the same host goes on",
        .enabled(if: PostgresServer.isRequired || PostgresServer.isInstalled))
    func postgresOutage() async throws {
        let server = try await PostgresServer.launch()
        let url = try await server.createDatabase()
        let healthPort = try freePort()
        try await withHostProcesses { processes in
            let host = try processes.start(
                port: try freePort(), extraArguments: ["--health-address", "127.0.0.1:\(healthPort)"],
                environment: ["TINYFLOW_CONTEXT_STORE": url])
            let connector = GRPCModuleHostConnector()
            defer { connector.shutdown() }
            let debugSettings: JSONValue = ["log": false, "keep": 1000]
            let nodes = DesiredNodes(generation: 1, nodes: [
                NodeDefinition(
                    name: "counter", component: "kv",
                    ports: [PortConfiguration(port: "_settings", configuration: ["scope": "flow", "key": "hits"])],
                    edges: [Edge(id: "values", port: "out", to: "values:in"), Edge(id: "errors", port: "error", to: "errors:in")],
                    namespace: "default", flow: "shop"),
                NodeDefinition(name: "values", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: debugSettings)]),
                NodeDefinition(name: "errors", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: debugSettings)]),
            ])
            try await eventually("the host runs the flow", timeout: .seconds(30)) {
                let result = try? await connector.connection(to: host.address).sync(nodes)
                return result?.nodes.allSatisfy { $0.phase == .running } ?? false
            }
            let connection = try await connector.connection(to: host.address)
            func seen(_ node: String) async -> Int { (try? await connection.recentMessages(node: node))??.count ?? 0 }
            func readiness() async -> (status: Int, body: String)? {
                guard let (body, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(healthPort)/readyz")!),
                    let http = response as? HTTPURLResponse
                else { return nil }
                return (http.statusCode, String(decoding: body, as: UTF8.self))
            }
            var sent = 0
            func increment() async throws {
                sent += 1
                try await connection.deliver(Message(to: PortAddress(node: "counter", port: "increment"), payload: .integer(sent)))
            }

            for _ in 0..<20 { try await increment() }
            try await eventually("20 counted", timeout: .seconds(30)) { await seen("values") == 20 }
            try await eventually("ready while the database answers", timeout: .seconds(30)) { await readiness()?.status == 200 }

            await server.stop()
            for _ in 0..<3 { try await increment() }
            try await eventually("the three failures reach the error port", timeout: .seconds(60)) { await seen("errors") == 3 }
            let errors = try #require(try await connection.recentMessages(node: "errors"))
            for error in errors {
                let text = error.payload["error"]?.stringValue ?? ""
                #expect(text.contains("is unavailable"), "\(text)")
                #expect(!text.contains(PostgresServer.password) && !text.contains(PostgresServer.encodedPassword), "the password leaked: \(text)")
            }
            try await eventually("not ready, saying why", timeout: .seconds(30)) {
                guard let (status, body) = await readiness() else { return false }
                return status == 503 && body.contains("context store")
                    && !body.contains(PostgresServer.password) && !body.contains(PostgresServer.encodedPassword)
            }

            try await server.start()
            // Until the pool reconnects a message may still fail: each one ends on exactly one port.
            try await eventually("a message counted again", timeout: .seconds(90)) {
                let before = await seen("values")
                try await increment()
                try await eventually("message \(sent) handled", timeout: .seconds(20)) {
                    await seen("values") + seen("errors") == sent
                }
                return await seen("values") > before
            }
            try await eventually("ready again", timeout: .seconds(30)) { await readiness()?.status == 200 }
            let counted = await seen("values")
            #expect(counted + (await seen("errors")) == sent)
            let value = try await connection.context(ContextRequest(.get, scope: Self.scope, key: "hits")).value
            #expect(value == .integer(counted))
            await server.terminate()
        }
    }
}
