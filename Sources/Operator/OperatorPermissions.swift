/// One RBAC rule: verbs on resources of API groups (`rbac.authorization.k8s.io/v1` PolicyRule).
public struct PolicyRule: Codable, Sendable, Hashable {
    /// API groups, `""` for the core group.
    public var apiGroups: [String]
    /// Resources, with `/status`-style subresources.
    public var resources: [String]
    /// Verbs: get, list, watch, create, update, patch, delete.
    public var verbs: [String]

    /// Creates a rule.
    public init(apiGroups: [String], resources: [String], verbs: [String]) {
        self.apiGroups = apiGroups
        self.resources = resources
        self.verbs = verbs
    }

    /// Whether the rule allows `verb` on `resource` in `group`.
    public func allows(group: String, resource: String, verb: String) -> Bool {
        apiGroups.contains(group) && resources.contains(resource) && verbs.contains(verb)
    }
}

/// Every Kubernetes API call the operator makes, as RBAC rules.
///
/// The operator's API client is wrapped so that a call outside these rules
/// fails (in tests and in production alike); the Helm chart's Role is
/// checked against `tinyflow operator --print-rbac`, which prints this list.
/// So the chart grants exactly what the code uses.
public enum OperatorPermissions {
    /// The rules, namespaced (a Role in each watched namespace, or a ClusterRole).
    public static let rules: [PolicyRule] = [
        PolicyRule(
            apiGroups: ["tinyflow.dev"], resources: ["tinynodes", "tinymodules", "tinyflows", "tinysignals"],
            verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]),
        PolicyRule(
            apiGroups: ["tinyflow.dev"],
            resources: ["tinynodes/status", "tinymodules/status", "tinyflows/status", "tinysignals/status"],
            verbs: ["get", "update", "patch"]),
        PolicyRule(
            apiGroups: ["tinyflow.dev"], resources: ["tinynodes/finalizers", "tinyflows/finalizers"], verbs: ["update"]),
        PolicyRule(apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"]),
        PolicyRule(apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"]),
    ]

    /// Whether the operator may call `verb` on `resource` (with `/subresource`) in `group`.
    public static func allows(group: String, resource: String, verb: String) -> Bool {
        rules.contains { $0.allows(group: group, resource: resource, verb: verb) }
    }
}
