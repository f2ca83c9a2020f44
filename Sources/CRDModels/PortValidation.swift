public import JSONSchemaKit

extension ComponentDescription {
    /// Every problem with a node's port configuration against this component:
    /// unknown ports, output ports given configuration, and configurations
    /// that break their port's schema. Paths name the TinyNode field, e.g.
    /// `spec.ports[1].configuration.interval: expected integer >= 1, got "fast"`.
    public func violations(of configurations: [PortConfiguration], at path: String = "spec.ports") -> [SchemaViolation] {
        var found: [SchemaViolation] = []
        var seen: Set<String> = []
        for (index, entry) in configurations.enumerated() {
            let entryPath = "\(path)[\(index)]"
            if !seen.insert(entry.port).inserted {
                found.append(SchemaViolation(path: "\(entryPath).port", message: "port \"\(entry.port)\" is configured twice"))
                continue
            }
            guard let port = ports.first(where: { $0.name == entry.port }) else {
                let known = ports.map(\.name).joined(separator: ", ")
                found.append(
                    SchemaViolation(
                        path: "\(entryPath).port",
                        message: "component \"\(info.name)\" has no port \"\(entry.port)\" (ports: \(known))"))
                continue
            }
            guard let schemaDocument = port.configurationSchema else {
                found.append(
                    SchemaViolation(
                        path: "\(entryPath).configuration",
                        message: "port \"\(port.name)\" of component \"\(info.name)\" takes no configuration"))
                continue
            }
            do {
                let schema = try JSONSchema(jsonValue: schemaDocument)
                found += schema.violations(of: schema.applyingDefaults(to: entry.configuration), at: "\(entryPath).configuration")
            } catch {
                found.append(
                    SchemaViolation(
                        path: "\(entryPath).configuration",
                        message: "port \"\(port.name)\" publishes an unreadable schema: \(error)"))
            }
        }
        return found
    }

    /// The effective configuration of every configurable port: the node's
    /// configuration with schema defaults filled in, or the port default.
    public func effectiveConfigurations(of configurations: [PortConfiguration]) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for port in ports {
            guard let document = port.configurationSchema, let schema = try? JSONSchema(jsonValue: document) else {
                continue
            }
            if let given = configurations.first(where: { $0.port == port.name }) {
                result[port.name] = schema.applyingDefaults(to: given.configuration)
            } else if let defaultValue = port.defaultConfiguration ?? schema.defaultConfiguration {
                result[port.name] = defaultValue
            }
        }
        return result
    }
}
