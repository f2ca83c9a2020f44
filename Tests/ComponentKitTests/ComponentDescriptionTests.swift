import ComponentKit
import Foundation
import Testing

/// How a probe backs off.
@Schema
struct Backoff: Codable, Sendable, Hashable {
    /// First wait in milliseconds.
    @SchemaField(minimum: 1)
    var initial: Int = 100
    /// Longest wait in milliseconds.
    var max: Int?
}

/// Settings of the test probe.
@Schema
struct ProbeSettings: Codable, Sendable, Hashable {
    /// Milliseconds between probes.
    @SchemaField(minimum: 1)
    var interval: Int = 1000
    /// The target.
    var target: String
    /// How to back off after a failure.
    var backoff: Backoff = Backoff()
}

/// The result of one probe.
@Schema
struct ProbeResult: Codable, Sendable, Hashable {
    /// Whether the target answered.
    var up: Bool
}

/// A component used to check catalogue derivation and configuration validation.
struct Probe: Component {
    static let info = ComponentInfo(name: "probe", description: "Probes a target.", tags: ["test"])
    static let ports: [PortDefinition] = [
        .settings(ProbeSettings.self),
        .input("trigger", label: "Trigger", message: JSONValue.self),
        .output("result", label: "Result", message: ProbeResult.self),
        .error,
    ]

    func handle(port: String, message: Message, context: NodeContext, output: any Output) async throws {
        try await output.send("result", encoding: ProbeResult(up: true))
    }
}

@Suite("Component descriptions")
struct ComponentDescriptionTests {
    let description = Probe.componentDescription

    @Test("the catalogue entry carries info, ports, derived schemas and defaults")
    func catalogueEntry() throws {
        #expect(description.info == ComponentSummary(name: "probe", description: "Probes a target.", tags: ["test"]))
        #expect(description.ports.map(\.name) == ["_settings", "trigger", "result", "error"])
        #expect(description.ports.map(\.direction) == [.input, .input, .output, .output])
        let settings = try #require(description.ports.first)
        #expect(settings.isSettings)
        #expect(settings.configurationSchema == ProbeSettings.jsonSchema.jsonValue)
        #expect(settings.configurationSchema?["properties"]?["backoff"]?["properties"]?["initial"]?["minimum"] == 1)
        #expect(settings.defaultConfiguration == ["interval": 1000, "backoff": ["initial": 100]])
        #expect(description.ports[2].messageSchema?["required"] == ["up"])
        #expect(description.ports[3].messageSchema?["required"] == ["error", "errorType", "node", "port", "message"])
    }

    @Test("invalid configurations are reported with exact field paths")
    func invalidConfigurations() {
        let configurations = [
            PortConfiguration(port: "trigger", configuration: ["x": 1]),
            PortConfiguration(port: "_settings", configuration: ["interval": "fast", "target": "db", "backoff": ["initial": 0]]),
            PortConfiguration(port: "nope", configuration: [:]),
        ]
        let found = description.violations(of: configurations, at: "ports").map(\.description)
        #expect(found == [
            #"ports[0].configuration: port "trigger" of component "probe" takes no configuration"#,
            "ports[1].configuration.backoff.initial: expected integer >= 1, got 0",
            #"ports[1].configuration.interval: expected integer >= 1, got "fast""#,
            #"ports[2].port: component "probe" has no port "nope" (ports: _settings, trigger, result, error)"#,
        ])
    }

    @Test("a port configured twice is rejected")
    func duplicatePort() {
        let twice = [
            PortConfiguration(port: "_settings", configuration: ["target": "a"]),
            PortConfiguration(port: "_settings", configuration: ["target": "b"]),
        ]
        #expect(description.violations(of: twice).map(\.description) == [#"spec.ports[1].port: port "_settings" is configured twice"#])
    }

    @Test("effective configurations fill defaults in and keep what was given")
    func effectiveConfiguration() {
        let effective = description.effectiveConfigurations(of: [
            PortConfiguration(port: "_settings", configuration: ["target": "db", "backoff": ["max": 900]])
        ])
        #expect(effective["_settings"] == ["interval": 1000, "target": "db", "backoff": ["initial": 100, "max": 900]])
    }

    @Test("a module's catalogue lists its components by name")
    func moduleCatalogue() {
        let module = ModuleDefinition(name: "test", version: "1.0.0", components: [Probe.self])
        #expect(module.catalogue.map(\.info.name) == ["probe"])
        #expect(module.components["probe"] != nil)
    }

    @Test("messages address ports as node:port and expire at their deadline")
    func messages() throws {
        #expect(PortAddress("node-a:in") == PortAddress(node: "node-a", port: "in"))
        #expect(PortAddress("node-a") == nil)
        #expect(PortAddress(":in") == nil)
        let message = Message(payload: 1, deadline: .distantPast)
        #expect(message.isExpired())
        #expect(!Message(payload: 1).isExpired())
        let encoded = try JSONValue(encoding: Message(id: "m1", to: PortAddress(node: "a", port: "b"), payload: "x"))
        #expect(encoded["to"] == "a:b")
        #expect(encoded["id"] == "m1")
    }
}
