public import JSONSchemaKit

/// Which way messages flow through a port.
@Schema
public enum PortDirection: String, Codable, Sendable, Hashable {
    /// The node receives messages on it.
    case input = "in"
    /// The node sends messages from it.
    case output = "out"
}

/// A component's identity, as shown in node and module status.
@Schema
public struct ComponentSummary: Codable, Sendable, Hashable {
    /// The name nodes use in `spec.component`.
    public var name: String
    /// What the component does.
    public var description: String = ""
    /// Keywords for catalogues and UIs.
    public var tags: [String] = []

    /// Creates a summary.
    public init(name: String, description: String = "", tags: [String] = []) {
        self.name = name
        self.description = description
        self.tags = tags
    }
}

/// One port of a component: its name, direction and the JSON Schemas of its
/// configuration and messages, as a module host reports them.
@Schema
public struct PortDescription: Codable, Sendable, Hashable {
    /// The port name (`_settings` for the settings port).
    public var name: String
    /// A human label.
    public var label: String = ""
    /// `in` or `out`.
    public var direction: PortDirection
    /// Whether this is the settings port, configured but never sent messages at run time.
    public var isSettings: Bool = false
    /// Whether the port reports the node's state rather than carrying messages.
    public var isStatus: Bool = false
    /// The JSON Schema of the port's configuration.
    public var configurationSchema: JSONValue?
    /// The JSON Schema of the messages the port carries.
    public var messageSchema: JSONValue?
    /// The configuration used when a node gives none.
    public var defaultConfiguration: JSONValue?

    /// Creates a port description.
    public init(
        name: String, label: String = "", direction: PortDirection, isSettings: Bool = false, isStatus: Bool = false,
        configurationSchema: JSONValue? = nil, messageSchema: JSONValue? = nil, defaultConfiguration: JSONValue? = nil
    ) {
        self.name = name
        self.label = label
        self.direction = direction
        self.isSettings = isSettings
        self.isStatus = isStatus
        self.configurationSchema = configurationSchema
        self.messageSchema = messageSchema
        self.defaultConfiguration = defaultConfiguration
    }
}

/// A component of a module with its ports: one entry of a module's catalogue.
@Schema
public struct ComponentDescription: Codable, Sendable, Hashable {
    /// Name, description and tags.
    public var info: ComponentSummary
    /// Every port of the component.
    @SchemaField(listMapKeys: ["name"])
    public var ports: [PortDescription] = []

    /// Creates a description.
    public init(info: ComponentSummary, ports: [PortDescription]) {
        self.info = info
        self.ports = ports
    }
}
