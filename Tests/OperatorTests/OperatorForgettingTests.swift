import CRDModels
import KubernetesClient
import KubernetesModels
import ModuleHost
@testable import Operator
import TestSupport
import Testing

/// Reaches the hosts of `aliases`' values at their keys too.
struct AliasingConnector: ModuleHostConnector {
    let base: any ModuleHostConnector
    let aliases: [String: String]

    func connection(to address: String) async throws -> any ModuleHostConnection {
        try await base.connection(to: aliases[address] ?? address)
    }

    func shutdown() async { await base.shutdown() }
}

@Suite("The operator forgets modules, nodes, host addresses and signals that are gone", .timeLimit(.minutes(3)))
struct OperatorForgettingTests {
    @Test("deleting every node and then the module leaves the operator with nothing about them")
    func forgetsDeletedModulesAndNodes() async throws {
        try await withOperator { harness in
            let tinyflowOperator = harness.tinyflowOperator
            let names = ["hello-ticker", "hello-debug", "inbox"]
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            _ = try await harness.nodes.create(node("inbox", "debug", settings: ["keep": 20, "log": false]))
            try await harness.waitUntilReady(names)
            _ = try await harness.signals.create(TinySignal(
                metadata: ObjectMeta(name: "ping"), spec: TinySignalSpec(node: "inbox", port: "in", payload: ["ping": 1])))
            try await eventually("ping Delivered") { try await harness.signals.get("ping").status?.phase == .delivered }
            try await eventually("the host's reports of the three nodes", context: { "\(await tinyflowOperator.retained())" }) {
                let retained = await tinyflowOperator.retained()
                return retained.state.reportedNodes == 3 && retained.state.syncs == 1
                    && retained.watchedAddresses == ["common:0"] && retained.state.addresses == ["common:0"]
            }

            for name in names { _ = try await harness.nodes.delete(name) }
            try await eventually("the nodes gone from the API", timeout: .seconds(15)) {
                try await harness.nodes.list().items.isEmpty
            }
            _ = try await harness.modules.delete("common")
            try await eventually(
                "the operator's state empty", timeout: .seconds(15), context: { "\(await tinyflowOperator.retained())" }
            ) {
                await tinyflowOperator.retained().isEmpty
            }
        }
    }

    @Test("a module that moves to another address stops the old address's watch and forgets its reports")
    func forgetsTheOldAddress() async throws {
        try await withOperator(hosts: { AliasingConnector(base: $0, aliases: ["moved:0": "common:0"]) }) { harness in
            let tinyflowOperator = harness.tinyflowOperator
            for node in helloFlow() { _ = try await harness.nodes.create(node) }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
            try await eventually("the watch of common:0", context: { "\(await tinyflowOperator.retained())" }) {
                let retained = await tinyflowOperator.retained()
                return retained.watchedAddresses == ["common:0"] && retained.state.addresses == ["common:0"]
            }

            _ = try await harness.modules.update("common") { $0.spec.address = "moved:0" }
            try await eventually(
                "only moved:0 watched and known", timeout: .seconds(15), context: { "\(await tinyflowOperator.retained())" }
            ) {
                let retained = await tinyflowOperator.retained()
                return retained.watchedAddresses == ["moved:0"] && retained.state.addresses == ["moved:0"]
                    && retained.state.reportedNodes == 2
            }
            try await harness.waitUntilReady(["hello-ticker", "hello-debug"])
        }
    }
}
