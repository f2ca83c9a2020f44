public import ComponentKit

/// What a module host reports about itself: `Catalogue`'s answer.
public struct ModuleCatalogue: Codable, Sendable, Hashable {
    /// The module's name.
    public var module: String
    /// The module's version.
    public var version: String
    /// Every component with its ports and schemas.
    public var components: [ComponentDescription]

    /// Creates a catalogue.
    public init(module: String, version: String, components: [ComponentDescription]) {
        self.module = module
        self.version = version
        self.components = components
    }
}
