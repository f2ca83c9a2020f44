import CommonComponents
import ComponentKit
import CRDModels
import GRPCTransport
import Logging
import ModuleHost
import Operator
import Synchronization
import TestSupport
import Testing

@Suite("The gRPC module host connector", .timeLimit(.minutes(3)))
struct GRPCConnectorTests {
    @Test("the gRPC connector reaches a module host: catalogue, sync, status, delivery and recent messages")
    func connectorReachesAHost() async throws {
        var logger = Logger(label: "tinyflow.test.grpc")
        logger.logLevel = .warning
        let runtime = ModuleRuntime(module: CommonModule.definition, logger: logger)
        let server = ModuleHostServer(
            host: "127.0.0.1", port: 0, control: runtime, sink: runtime, gracePeriod: .seconds(1), logger: logger)
        let connector = GRPCModuleHostConnector()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            group.addTask { try await server.run() }
            defer {
                connector.shutdown()
                group.cancelAll()
            }
            let port = try await server.boundPort
            let connection = try await connector.connection(to: "127.0.0.1:\(port)")
            let catalogue = try await connection.catalogue()
            #expect(catalogue.components.contains { $0.info.name == "debug" })
            let result = try await connection.sync(DesiredNodes(generation: 1, nodes: [
                NodeDefinition(name: "inbox", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: ["log": false])]),
            ]))
            #expect(result.nodes.map(\.phase) == [.running])
            let seen = Mutex<[NodeStatusReport]>([])
            let watch = Task {
                try await connection.watchStatus(interval: .milliseconds(50)) { reports in seen.withLock { $0 = reports } }
            }
            try await eventually("a status report for inbox") { seen.withLock { $0.contains { $0.name == "inbox" } } }
            watch.cancel()
            try await connection.deliver(Message(to: PortAddress(node: "inbox", port: "in"), payload: ["hi": 1]))
            try await eventually("the message at inbox") {
                try await connection.recentMessages(node: "inbox")?.map(\.payload) == [["hi": 1]]
            }
            #expect(try await connection.recentMessages(node: "nobody") == nil)
            await runtime.shutdown()
        }
    }
}
