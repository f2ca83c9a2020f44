public import ComponentKit

/// Sends each element of an array payload as its own message, in order, as
/// one batch (``Output/send(_:contentsOf:)``): if some elements are not
/// accepted, the input message fails with a ``BatchSendError`` naming them.
public struct Split: Component {
    /// What an array payload is not.
    public struct NotAnArray: Error, CustomStringConvertible {
        /// The payload's JSON type.
        public var type: String
        public var description: String { "split expects an array payload, got \(type)" }
    }

    public static let info = ComponentInfo(
        name: "split", description: "Sends each element of an array payload as its own message.", tags: ["sequence"])
    public static let ports: [PortDefinition] = [
        .input("in", label: "Array", message: [JSONValue].self),
        .output("out", label: "Element", message: JSONValue.self),
        .error,
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard let elements = message.payload.arrayValue else { throw NotAnArray(type: message.payload.typeName) }
        // One batch: across modules the elements travel together and the node
        // waits once for all their acknowledgements.
        try await output.send("out", contentsOf: elements.map { Message(payload: $0, priority: message.priority) })
    }
}
