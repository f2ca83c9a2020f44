import ComponentKit
import ConfigurationReferences
import JSONSchemaKit
import ModuleHostAPI

/// The desired nodes with every `${secret:…}`, `${configmap:…}` and `${param:…}` in
/// their port configurations replaced by its value (``ConfigurationSubstitution``), as
/// the host runs them. A value, computed without I/O from what the host's
/// ``ReferencedValueSource`` knows; ``ModuleRuntime`` plans its sync with the resolved
/// definitions, so a changed value is a changed definition (reconfigure, settings
/// delivered again) and a missing one a failed node.
struct ReferenceResolution {
    /// Why a node cannot run: the error (field path, the object and key, never a value) and its reason.
    struct Failure: Hashable {
        var error: String
        var reason: String
    }

    /// The definitions that resolved, in the order desired (unchanged when they refer to nothing).
    private(set) var nodes: [NodeDefinition] = []
    /// The nodes that did not resolve, by name.
    private(set) var failures: [String: Failure] = [:]
    /// The values read from Secrets: what the host redacts.
    private(set) var secretValues: Set<String> = []

    /// The Secrets and ConfigMaps `definitions` refer to, directly or through parameters.
    static func objects(of definitions: [NodeDefinition]) -> Set<ReferencedObject> {
        var objects: Set<ReferencedObject> = []
        for definition in definitions {
            let namespace = definition.namespace ?? "default"
            for port in definition.ports where ConfigurationSubstitution.mayHoldReferences(port.configuration) {
                for (_, reference) in ConfigurationSubstitution.references(in: port.configuration, at: "").references {
                    let target: ConfigurationReference? =
                        if case .parameter(let name) = reference { definition.parameters?[name]?.reference } else { reference }
                    switch target {
                    case .secret(let key)?: objects.insert(ReferencedObject(kind: .secret, namespace: namespace, name: key.name))
                    case .configMap(let key)?:
                        objects.insert(ReferencedObject(kind: .configMap, namespace: namespace, name: key.name))
                    case .parameter?, nil: break
                    }
                }
            }
        }
        return objects
    }

    /// Resolves `desired` against `state`.
    init(desired: [NodeDefinition], state: (ReferencedObject) -> ReferencedObjectState) {
        nodes.reserveCapacity(desired.count)
        for definition in desired {
            guard definition.ports.contains(where: { ConfigurationSubstitution.mayHoldReferences($0.configuration) }) else {
                nodes.append(definition)
                continue
            }
            do {
                var resolved = definition
                var values: Set<String> = []
                for (index, port) in definition.ports.enumerated() {
                    resolved.ports[index].configuration = try ConfigurationSubstitution.substitute(
                        port.configuration, at: "spec.ports[\(index)].configuration"
                    ) { reference, path in
                        try Self.value(of: reference, at: path, in: definition, state: state, secrets: &values)
                    }
                }
                secretValues.formUnion(values)
                nodes.append(resolved)
            } catch let failure as FailureError {
                failures[definition.name] = failure.failure
            } catch {
                failures[definition.name] = Failure(error: "\(error)", reason: NodeRejection.invalidReference)
            }
        }
    }

    private struct FailureError: Error {
        var failure: Failure
    }

    private static func value(
        of reference: ConfigurationReference, at path: String, in definition: NodeDefinition,
        state: (ReferencedObject) -> ReferencedObjectState, secrets: inout Set<String>
    ) throws -> JSONValue {
        switch reference {
        case .secret(let key):
            return try read(.secret, key, at: path, for: reference, in: definition, state: state, secrets: &secrets)
        case .configMap(let key):
            return try read(.configMap, key, at: path, for: reference, in: definition, state: state, secrets: &secrets)
        case .parameter(let name):
            guard let parameter = definition.parameters?[name] else {
                let owner = definition.flow.map { "flow \"\($0)\" has no parameter \"\(name)\"" }
                    ?? "the node belongs to no flow, so it has no parameter \"\(name)\""
                throw FailureError(failure: Failure(error: "\(path): \(reference): \(owner)", reason: NodeRejection.invalidReference))
            }
            switch parameter {
            case .value(let value): return value
            case .secretKeyRef(let key):
                return try read(.secret, key, at: path, for: reference, in: definition, state: state, secrets: &secrets)
            case .configMapKeyRef(let key):
                return try read(.configMap, key, at: path, for: reference, in: definition, state: state, secrets: &secrets)
            }
        }
    }

    private static func read(
        _ kind: ReferencedObject.Kind, _ key: ObjectKeyReference, at path: String, for reference: ConfigurationReference,
        in definition: NodeDefinition, state: (ReferencedObject) -> ReferencedObjectState, secrets: inout Set<String>
    ) throws -> JSONValue {
        let namespace = definition.namespace ?? "default"
        let object = ReferencedObject(kind: kind, namespace: namespace, name: key.name)
        let what = "\(path): \(reference)"
        let problem: String
        switch state(object) {
        case .found(let data):
            if let value = data[key.key] {
                if kind == .secret { secrets.insert(value) }
                return .string(value)
            }
            problem = "\(kind.rawValue) \"\(key.name)\" in namespace \"\(namespace)\" has no key \"\(key.key)\""
        case .notFound:
            problem = "\(kind.rawValue) \"\(key.name)\" not found in namespace \"\(namespace)\" (key \"\(key.key)\")"
        case .unavailable(let why):
            problem = "\(kind.rawValue) \"\(key.name)\" in namespace \"\(namespace)\" (key \"\(key.key)\") cannot be read: \(why)"
        }
        throw FailureError(failure: Failure(error: "\(what): \(problem)", reason: NodeRejection.secretNotFound))
    }
}
