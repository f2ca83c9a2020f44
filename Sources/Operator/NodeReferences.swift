import ConfigurationReferences
import CRDModels
import JSONSchemaKit
import ModuleHostAPI

/// What the operator makes of the `${secret:…}`, `${configmap:…}` and `${param:…}`
/// references in a TinyNode's port configurations. Pure, and it never reads a Secret or
/// ConfigMap: it checks the references' syntax and that every parameter exists in the
/// node's TinyFlow, puts literal parameter values in for schema validation, and hands
/// the module host the parameters the node uses (literal values, or the Secret and
/// ConfigMap keys the host reads).
struct NodeReferences {
    /// Bad references, unknown or malformed parameters, at the spec's paths.
    private(set) var violations: [SchemaViolation] = []
    /// The node's ports with literal parameter values put in: what the schemas validate.
    private(set) var portsForValidation: [PortConfiguration]
    /// Paths of the strings whose values only the module host learns (Secrets, ConfigMaps):
    /// schema violations there are not the operator's to report (the host validates the
    /// values it puts in).
    private(set) var hostResolvedPaths: Set<String> = []
    /// The parameters the node uses, by name, as the host gets them.
    private(set) var parameters: [String: ParameterValue] = [:]

    /// The references of `node`, whose flow has `flowParameters` (nil: no such TinyFlow
    /// cached, or the node belongs to no flow).
    init(node: TinyNode, flowParameters: [FlowParameter]?) {
        portsForValidation = node.spec.ports
        let flow = node.flowName
        for (index, port) in node.spec.ports.enumerated() where ConfigurationSubstitution.mayHoldReferences(port.configuration) {
            let path = "spec.ports[\(index)].configuration"
            let found = ConfigurationSubstitution.references(in: port.configuration, at: path)
            violations += found.errors.map { SchemaViolation(path: $0.path, message: $0.message) }
            var usable = found.errors.isEmpty
            for (stringPath, reference) in found.references {
                switch reference {
                case .secret, .configMap:
                    hostResolvedPaths.insert(stringPath)
                case .parameter(let name):
                    switch Self.parameter(name, flow: flow, flowParameters: flowParameters) {
                    case .success(let value):
                        parameters[name] = value
                        if value.reference != nil { hostResolvedPaths.insert(stringPath) }
                    case .failure(let problem):
                        violations.append(SchemaViolation(path: stringPath, message: "\(reference): \(problem.message)"))
                        usable = false
                    }
                }
            }
            guard usable else { continue }
            let parameters = parameters
            if let substituted = try? ConfigurationSubstitution.substitute(port.configuration, at: path, resolve: { reference, _ in
                if case .parameter(let name) = reference, case .value(let value)? = parameters[name] { return value }
                return .string(reference.description)
            }) {
                portsForValidation[index].configuration = substituted
            }
        }
    }

    /// Leaves out the schema violations at strings whose values only the host knows.
    func relevant(_ violations: [SchemaViolation]) -> [SchemaViolation] {
        guard !hostResolvedPaths.isEmpty else { return violations }
        return violations.filter { !hostResolvedPaths.contains($0.path) }
    }

    private struct Problem: Error {
        var message: String
    }

    private static func parameter(
        _ name: String, flow: String?, flowParameters: [FlowParameter]?
    ) -> Result<ParameterValue, Problem> {
        guard let flow else { return .failure(Problem(message: "the node belongs to no flow (spec.flow), so it has no parameters")) }
        guard let flowParameters else { return .failure(Problem(message: "no TinyFlow \"\(flow)\" in this namespace")) }
        guard let parameter = flowParameters.first(where: { $0.name == name }) else {
            let names = flowParameters.map(\.name).sorted()
            return .failure(Problem(
                message: "flow \"\(flow)\" has no parameter \"\(name)\""
                    + (names.isEmpty ? " (it has none)" : " (parameters: \(names.joined(separator: ", ")))")))
        }
        let index = flowParameters.firstIndex(of: parameter) ?? 0
        let field = "TinyFlow \"\(flow)\" spec.parameters[\(index)]"
        switch (parameter.value, parameter.valueFrom) {
        case (let value?, nil):
            return .success(.value(value))
        case (nil, let source?):
            switch (source.secretKeyRef, source.configMapKeyRef) {
            case (let key?, nil):
                return selector(key, field: "\(field).valueFrom.secretKeyRef").map { .secretKeyRef($0) }
            case (nil, let key?):
                return selector(key, field: "\(field).valueFrom.configMapKeyRef").map { .configMapKeyRef($0) }
            default:
                return .failure(Problem(message: "\(field).valueFrom needs exactly one of secretKeyRef and configMapKeyRef"))
            }
        default:
            return .failure(Problem(message: "\(field) needs exactly one of value and valueFrom"))
        }
    }

    private static func selector(_ key: KeySelector, field: String) -> Result<ObjectKeyReference, Problem> {
        guard ConfigurationSubstitution.isObjectName(key.name) else {
            return .failure(Problem(message: "\(field).name: \"\(key.name)\" is not a Kubernetes object name"))
        }
        guard ConfigurationSubstitution.isKey(key.key) else {
            return .failure(Problem(message: "\(field).key: \"\(key.key)\" is not a data key"))
        }
        return .success(ObjectKeyReference(name: key.name, key: key.key))
    }
}
