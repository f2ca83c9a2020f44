import CommonComponents
import ComponentKit
import ContextStoreMemory
import ModuleHost
import ModuleHostTestSupport
import TestSupport
import Testing

// The context example of docs/writing-a-component.md ("State that outlives a message"),
// verbatim, so the guide cannot drift from what compiles and works.
public final class OrderTotals: Component {
    @Schema
    public struct Order: Codable, Sendable, Hashable {
        public var customer: String
        public var amount: Double
    }

    public static let info = ComponentInfo(name: "order-totals", description: "Sums orders per customer.")
    public static let ports: [PortDefinition] = [
        .input("in", label: "Order", message: Order.self),
        .output("out", label: "Total", message: Double.self),
        .error,
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        let order = try message.decode(Order.self)
        let totals = try context.store(.flow)
        // Read, change and write back atomically, also against other replicas;
        // the closure may run again on a conflict, so it has no effects of its own.
        let total = try await totals.update("total/\(order.customer)", as: Double.self) { old in
            (old ?? 0) + order.amount
        }
        try await output.send("out", Message(payload: .number(total ?? 0)))
        try await totals.increment("orders")              // integers: one atomic statement
        try await totals.set("last", order, ttl: .seconds(3600))
    }
}

@Suite("The component guide's context example", .timeLimit(.minutes(2)))
struct ContextDocumentationExampleTests {
    @Test("order totals are summed per customer in the flow's context")
    func orderTotals() async throws {
        let store = MemoryContextStore()
        let module = ModuleDefinition(name: "shop", version: "0.1.0", components: [OrderTotals.self, Debug.self])
        let totals = try await withRuntime(module, contextStore: store) { runtime in
            _ = await runtime.sync(DesiredNodes(generation: 1, nodes: [
                definition("totals", "order-totals", edges: [edge("out", to: "report:in")], flow: "shop"),
                definition("report", "debug", settings: ["log": false]),
            ]))
            let orders: [JSONValue] = [
                ["customer": "ada", "amount": 10.5], ["customer": "bob", "amount": 5], ["customer": "ada", "amount": 2],
            ]
            for (index, order) in orders.enumerated() {
                try await runtime.deliver(Message(to: PortAddress(node: "totals", port: "in"), payload: order))
                try await eventually("total \(index + 1)") { await runtime.debugMessages("report").count == index + 1 }
            }
            return await runtime.debugMessages("report").map(\.payload)
        }
        #expect(totals == [10.5, 5.0, 12.5])
        let scope = ContextScope.flow(namespace: "default", flow: "shop")
        #expect(try await store.get("orders", in: scope)?.value == 3)
        #expect(try await store.keys(in: scope) == ["last", "orders", "total/ada", "total/bob"])
    }
}
