/// What a port is for.
public enum PortRole: String, Sendable, Hashable {
    /// Carries messages.
    case data
    /// The component's settings: configured on the node, delivered to `handle`
    /// when the node starts and whenever the configuration changes.
    case settings
    /// Reports the node's state.
    case status
}

/// A port a component declares: its name, direction, role and the Swift
/// types of its configuration and messages (whose JSON Schemas are derived).
public struct PortDefinition: Sendable {
    /// The name of every component's settings port.
    public static let settingsName = "_settings"
    /// The name of the port handler errors go to, when a node wires it.
    public static let errorName = "error"

    /// The port's name, unique within the component.
    public var name: String
    /// A human label.
    public var label: String
    /// Input or output.
    public var direction: PortDirection
    /// Data, settings or status.
    public var role: PortRole
    /// The schema of the port's configuration, if it takes one.
    public var configurationSchema: JSONSchema?
    /// The schema of the port's messages.
    public var messageSchema: JSONSchema

    /// An input port receiving messages of type `message`.
    public static func input<M: JSONSchemaRepresentable>(
        _ name: String, label: String = "", message: M.Type
    ) -> PortDefinition {
        PortDefinition(
            name: name, label: label.isEmpty ? name : label, direction: .input, role: .data,
            configurationSchema: nil, messageSchema: M.jsonSchema)
    }

    /// An output port sending messages of type `message`.
    public static func output<M: JSONSchemaRepresentable>(
        _ name: String, label: String = "", message: M.Type
    ) -> PortDefinition {
        PortDefinition(
            name: name, label: label.isEmpty ? name : label, direction: .output, role: .data,
            configurationSchema: nil, messageSchema: M.jsonSchema)
    }

    /// The `_settings` port, configured with values of type `settings`.
    public static func settings<S: JSONSchemaRepresentable>(_ settings: S.Type, label: String = "Settings") -> PortDefinition {
        let schema = S.jsonSchema
        return PortDefinition(
            name: settingsName, label: label, direction: .input, role: .settings,
            configurationSchema: schema, messageSchema: schema)
    }

    /// The `error` output port: where a failed message goes when wired.
    public static var error: PortDefinition {
        output(errorName, label: "Error", message: ErrorMessage.self)
    }

    /// The port as the catalogue publishes it.
    public var portDescription: PortDescription {
        PortDescription(
            name: name, label: label, direction: direction, isSettings: role == .settings,
            isStatus: role == .status, configurationSchema: configurationSchema?.jsonValue,
            messageSchema: messageSchema.jsonValue, defaultConfiguration: configurationSchema?.defaultConfiguration)
    }
}

/// What the `error` port carries: why handling failed, and the message that failed.
@Schema
public struct ErrorMessage: Codable, Sendable, Hashable {
    /// The error, as text.
    public var error: String
    /// The error's type, matched by a retry policy's `nonRetryableErrors`.
    public var errorType: String
    /// The node that failed.
    public var node: String
    /// The port the failed message arrived on.
    public var port: String
    /// The message that failed.
    public var message: JSONValue

    /// Creates an error message.
    public init(error: String, errorType: String, node: String, port: String, message: JSONValue) {
        self.error = error
        self.errorType = errorType
        self.node = node
        self.port = port
        self.message = message
    }
}
