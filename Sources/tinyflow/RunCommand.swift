import ArgumentParser
import CRDModels
import CommonComponents
import ComponentKit
import Foundation
import LocalMode
import Logging
import Manifests
import ModuleHost

/// `tinyflow run FILE`: runs the TinyNodes of a manifest in this process with
/// the standard components, no cluster needed.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the TinyNodes of a flow manifest in this process with the standard components.")

    @Argument(help: "A YAML file of TinyNode resources.")
    var file: String = "examples/hello-flow.yaml"

    @Option(help: "Stop after this long (e.g. 5s, 1m); runs until interrupted if absent.")
    var stopAfter: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        if let stopAfter, parseDuration(stopAfter) == nil {
            throw ValidationError("--stop-after: expected a duration such as 5s or 1m30s, got \"\(stopAfter)\"")
        }
    }

    func run() async throws {
        Tinyflow.bootstrapObservability(level: logLevel)
        let logger = Logger(label: "tinyflow.run")
        let manifest = try FlowManifest(contentsOf: file)
        guard !manifest.nodes.isEmpty else {
            throw ValidationError("\(file) has no TinyNode resources")
        }
        let foreign = manifest.nodes.filter { $0.spec.module != CommonModule.definition.name }
        guard foreign.isEmpty else {
            let names = foreign.compactMap(\.metadata.name).joined(separator: ", ")
            throw ValidationError("tinyflow run hosts the \"common\" module only; these nodes name another module: \(names)")
        }
        let runtime = ModuleRuntime(module: CommonModule.definition, logger: logger)
        let desired = DesiredNodes(
            generation: 1,
            nodes: manifest.nodes.map { node in
                NodeDefinition(
                    name: node.metadata.name ?? "", component: node.spec.component,
                    generation: node.metadata.generation ?? 1, ports: node.spec.ports, edges: node.spec.edges,
                    namespace: node.metadata.namespace ?? "default", flow: node.flowName)
            })
        let limit = stopAfter.flatMap { parseDuration($0) }
        let (failures, reports) = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runtime.run() }
            let result = await runtime.sync(desired)
            let failures = result.nodes.filter { $0.phase == .failed }
            if failures.isEmpty {
                logger.info("running \(manifest.nodes.count) nodes from \(file); Ctrl-C stops")
                let debugNodes = manifest.nodes.filter { $0.spec.component == "debug" }.compactMap(\.metadata.name)
                await withTaskGroup(of: Void.self) { printing in
                    printing.addTask { await Self.printDebugOutput(of: debugNodes, in: runtime) }
                    await Self.waitForInterrupt(limit: limit)
                    printing.cancelAll()
                }
            }
            let reports = await runtime.shutdown()
            try await group.waitForAll()
            return (failures, reports)
        }
        guard failures.isEmpty else {
            throw ValidationError(
                "the flow cannot run:\n" + failures.map { "TinyNode \"\($0.name)\": \($0.error ?? "failed")" }.joined(separator: "\n"))
        }
        for report in reports {
            let counters = report.counters
            logger.info(
                "node \(report.name): received \(counters.received), delivered \(counters.delivered), errored \(counters.errored), expired \(counters.expired), dropped \(counters.dropped ?? 0), sent \(counters.sent)"
            )
        }
    }

    /// Prints the new messages the debug nodes `nodes` keep, as `[node] payload`, every 500 ms
    /// until cancelled, then once more. (Debug nodes do not log their messages unless told to.)
    private static func printDebugOutput(of nodes: [String], in runtime: ModuleRuntime) async {
        guard !nodes.isEmpty else { return }
        var tracker = DebugOutputTracker()
        var last = false
        while !last {
            last = Task.isCancelled
            for node in nodes {
                for message in tracker.newMessages(await runtime.recentMessages(node: node) ?? [], node: node) {
                    Console.standardOutput.print(LocalInspection.format(message, node: node))
                }
            }
            if !last { try? await Task.sleep(for: .milliseconds(500)) }
        }
    }

    /// Returns on SIGINT/SIGTERM, or when `limit` has passed.
    private static func waitForInterrupt(limit: Duration?) async {
        let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            return DispatchSource.makeSignalSource(signal: number)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        for source in signals {
            source.setEventHandler { continuation.yield() }
            source.resume()
        }
        if let limit {
            Task {
                try? await Task.sleep(for: limit)
                continuation.yield()
            }
        }
        for await _ in stream { break }
        signals.forEach { $0.cancel() }
    }
}
