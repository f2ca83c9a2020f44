/// Where the operator's debug endpoint is, as the API server's service proxy reaches
/// it: `NAMESPACE/NAME:PORT` (the port's name or number), by default
/// `tinyflow-system/tinyflow-operator:debug` — the Service `tinyflow up` creates and
/// the operator chart installs under the release name `tinyflow-operator`.
public struct OperatorServiceReference: Sendable, Hashable, CustomStringConvertible {
    /// The Service's namespace.
    public var namespace: String
    /// The Service's name.
    public var name: String
    /// The Service's port, by name or number.
    public var port: String

    /// The default reference.
    public static let standard = OperatorServiceReference(namespace: "tinyflow-system", name: "tinyflow-operator", port: "debug")

    /// A reference.
    public init(namespace: String, name: String, port: String) {
        self.namespace = namespace
        self.name = name
        self.port = port
    }

    /// Parses `NAMESPACE/NAME:PORT`.
    public init(parsing text: String) throws(ConsoleError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        let service = parts.count == 2 ? parts[1].split(separator: ":", omittingEmptySubsequences: false) : []
        guard parts.count == 2, service.count == 2, !parts[0].isEmpty, !service[0].isEmpty, !service[1].isEmpty else {
            throw .badRequest("expected NAMESPACE/NAME:PORT, e.g. tinyflow-system/tinyflow-operator:debug, got \"\(text)\"")
        }
        self.init(namespace: String(parts[0]), name: String(service[0]), port: String(service[1]))
    }

    /// The path of the service proxy, without a trailing slash.
    var proxyPath: String { "/api/v1/namespaces/\(escaped(namespace))/services/\(escaped(name)):\(escaped(port))/proxy" }

    public var description: String { "\(namespace)/\(name):\(port)" }
}
