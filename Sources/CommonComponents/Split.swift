public import ComponentKit

/// Sends each element of an array payload as its own message, in order.
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
        for element in elements {
            try await output.send("out", Message(payload: element, priority: message.priority))
        }
    }
}
