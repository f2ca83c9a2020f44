public import ComponentKit

/// Emits the payload of every TinySignal sent to its `trigger` port: the way
/// a user "presses a button" on a flow.
public struct Signal: Component {
    public static let info = ComponentInfo(
        name: "signal", description: "Emits the payload of each TinySignal sent to it.", tags: ["source", "trigger"])
    public static let ports: [PortDefinition] = [
        .input("trigger", label: "Trigger", message: JSONValue.self),
        .output("out", label: "Out", message: JSONValue.self),
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "trigger" else { return }
        try await output.send("out", Message(payload: message.payload, priority: message.priority))
    }
}
