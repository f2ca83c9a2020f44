import CommonComponents
import ComponentKit
import Logging
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

// The complete example of docs/writing-a-component.md, verbatim, so the
// guide cannot drift from what compiles and works.
public actor Counter: Component {
    /// Settings of a counter node.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// Emit the total after this many messages.
        @SchemaField(minimum: 1)
        public var every: Int = 10
        /// A label copied into every total.
        public var label: String = "count"
    }

    /// What the counter emits.
    @Schema
    public struct Total: Codable, Sendable, Hashable {
        /// The settings' label.
        public var label: String
        /// Messages received so far.
        public var total: Int
    }

    public static let info = ComponentInfo(
        name: "counter", description: "Counts messages and emits running totals.", tags: ["math"])

    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "Count", message: JSONValue.self),
        .output("total", label: "Total", message: Total.self),
        .error,
    ]

    private var total = 0

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }        // "_settings" needs no action: read on use
        let settings: Settings = try context.settings()
        total += 1
        if total % settings.every == 0 {
            try await output.send("total", encoding: Total(label: settings.label, total: total))
        }
    }
}

@Suite("The component guide's example", .timeLimit(.minutes(2)))
struct DocumentationExampleTests {
    @Test("the counter emits a running total every `every` messages")
    func counterEmitsTotals() async throws {
        let module = ModuleDefinition(name: "math", version: "0.1.0", components: [Counter.self, Debug.self])
        let totals = try await withRuntime(module) { runtime in
            let result = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("tally", "counter", settings: ["every": 3, "label": "orders"], edges: [edge("total", to: "report:in")]),
                definition("report", "debug", settings: ["log": false]),
            ]))
            #expect(result.nodes.allSatisfy { $0.phase == .running })
            for index in 1...7 {
                try await runtime.deliver(Message(to: PortAddress(node: "tally", port: "in"), payload: .integer(index)))
            }
            try await eventually("two totals at the report node") { await runtime.debugMessages("report").count == 2 }
            return await runtime.debugMessages("report").map(\.payload)
        }
        #expect(totals == [["label": "orders", "total": 3], ["label": "orders", "total": 6]])
    }
}
