public import ComponentKit

/// Greets whoever a message names: `{"name": "Ada"}` becomes
/// `{"greeting": "Hello, Ada!"}`. The greeting's words come from the node's settings.
public actor Greet: Component {
    /// Settings of a greet node.
    @Schema
    public struct Settings: Codable, Sendable, Hashable {
        /// The word before the name.
        public var salutation: String = "Hello"
        /// Appended after the name.
        public var punctuation: String = "!"
    }

    /// What arrives on `in`.
    @Schema
    public struct Person: Codable, Sendable, Hashable {
        /// Who to greet.
        public var name: String
    }

    /// What leaves on `out`.
    @Schema
    public struct Greeting: Codable, Sendable, Hashable {
        /// The greeting.
        public var greeting: String
    }

    public static let info = ComponentInfo(
        name: "greet", description: "Greets the person a message names.", tags: ["example"])

    public static let ports: [PortDefinition] = [
        .settings(Settings.self),
        .input("in", label: "Person", message: Person.self),
        .output("out", label: "Greeting", message: Greeting.self),
        .error,
    ]

    public init() {}

    public func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        guard port == "in" else { return }  // "_settings" needs no action: read on use
        let settings: Settings = try context.settings()
        let person: Person = try message.decode()
        try await output.send(
            "out", encoding: Greeting(greeting: "\(settings.salutation), \(person.name)\(settings.punctuation)"))
    }
}
