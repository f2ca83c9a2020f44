public import Foundation
import JSONSchemaKit
import YAMLValues

/// A configuration that could not be read: says which file and which field.
public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the problem is in, if it came from one.
    public var file: String?
    /// The field path, e.g. `users[0].user.client-certificate-data`.
    public var field: String?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(file: String? = nil, field: String? = nil, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    /// `file: field: message`.
    public var description: String {
        [file, field, message].compactMap { $0 }.joined(separator: ": ")
    }
}

/// A kubeconfig (`~/.kube/config`): named clusters, users and contexts, and
/// the current context. Several files merge with the first file winning per
/// name, as kubectl merges the files in `KUBECONFIG`.
public struct KubeConfig: Sendable, Hashable {
    /// Clusters by name.
    public var clusters: [String: Cluster] = [:]
    /// Users (credentials) by name.
    public var users: [String: User] = [:]
    /// Contexts by name.
    public var contexts: [String: Context] = [:]
    /// The context used unless another is asked for.
    public var currentContext: String?
    /// The files read, in order (for error messages).
    public var files: [String] = []

    /// Creates an empty configuration.
    public init() {}

    /// An API server and how to trust it.
    public struct Cluster: Sendable, Hashable {
        /// The server URL, e.g. `https://127.0.0.1:6443`.
        public var server: String
        /// PEM certificate authorities to trust (from `certificate-authority-data` or the file it names).
        public var certificateAuthorityPEM: Data?
        /// Skip verifying the server's certificate (`insecure-skip-tls-verify`).
        public var insecureSkipTLSVerify: Bool = false
        /// The name to check the server's certificate against, if not the host.
        public var tlsServerName: String?
        /// The file this cluster was read from.
        public var file: String?

        /// Creates a cluster entry.
        public init(server: String, certificateAuthorityPEM: Data? = nil, insecureSkipTLSVerify: Bool = false) {
            self.server = server
            self.certificateAuthorityPEM = certificateAuthorityPEM
            self.insecureSkipTLSVerify = insecureSkipTLSVerify
        }
    }

    /// Credentials.
    public struct User: Sendable, Hashable {
        /// A bearer token.
        public var token: String?
        /// A file holding a bearer token, re-read as it changes.
        public var tokenFile: String?
        /// A PEM client certificate (from `client-certificate-data` or the file it names).
        public var clientCertificatePEM: Data?
        /// The PEM private key of the client certificate.
        public var clientKeyPEM: Data?
        /// The field of credentials this client cannot use (`exec`, `auth-provider`), if the
        /// user has them; an error only when the user is selected and has nothing else.
        public var unsupportedCredentials: String?
        /// The file this user was read from.
        public var file: String?

        /// Creates a user entry.
        public init(token: String? = nil, tokenFile: String? = nil, clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil) {
            self.token = token
            self.tokenFile = tokenFile
            self.clientCertificatePEM = clientCertificatePEM
            self.clientKeyPEM = clientKeyPEM
        }
    }

    /// A cluster, a user and a default namespace.
    public struct Context: Sendable, Hashable {
        /// The cluster's name.
        public var cluster: String
        /// The user's name.
        public var user: String
        /// The namespace requests default to.
        public var namespace: String?
        /// The file this context was read from.
        public var file: String?

        /// Creates a context entry.
        public init(cluster: String, user: String, namespace: String? = nil) {
            self.cluster = cluster
            self.user = user
            self.namespace = namespace
        }
    }

    /// Reads one kubeconfig file. Relative file paths inside it are resolved
    /// against the file's directory.
    public static func read(file path: String) throws(ConfigurationError) -> KubeConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(file: path, message: "cannot read: \(error.localizedDescription)")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return try parse(String(decoding: data, as: UTF8.self), file: path, directory: directory)
    }

    /// Reads the files in order and merges them: the first file that names a
    /// cluster, user or context (or sets `current-context`) wins. Files that
    /// do not exist are skipped, as kubectl skips them.
    public static func read(files: [String]) throws(ConfigurationError) -> KubeConfig {
        var merged = KubeConfig()
        for file in files where !file.isEmpty && FileManager.default.fileExists(atPath: file) {
            merged.merge(try read(file: file))
        }
        return merged
    }

    /// Adds what `other` has and `self` lacks.
    public mutating func merge(_ other: KubeConfig) {
        clusters.merge(other.clusters) { mine, _ in mine }
        users.merge(other.users) { mine, _ in mine }
        contexts.merge(other.contexts) { mine, _ in mine }
        if currentContext?.isEmpty ?? true { currentContext = other.currentContext }
        files += other.files
    }

    /// Parses kubeconfig YAML text.
    public static func parse(_ text: String, file: String = "<kubeconfig>", directory: String? = nil) throws(ConfigurationError) -> KubeConfig {
        let documents: [JSONValue]
        do {
            documents = try YAMLDocuments.parse(text, source: file)
        } catch {
            throw ConfigurationError(file: file, message: error.message)
        }
        var config = KubeConfig()
        config.files = [file]
        guard let root = documents.first else { return config }
        let reader = FieldReader(file: file, directory: directory)
        guard root.objectValue != nil else { throw reader.error("", "expected a mapping, got \(root.typeName)") }
        config.currentContext = try reader.string(root, "current-context", at: "")

        for (index, entry) in try reader.list(root, "clusters").enumerated() {
            let path = "clusters[\(index)]"
            let name = try reader.requiredString(entry, "name", at: path)
            guard config.clusters[name] == nil else { continue }
            let body = try reader.requiredObject(entry, "cluster", at: path)
            let bodyPath = "\(path).cluster"
            var cluster = Cluster(server: try reader.requiredString(body, "server", at: bodyPath))
            if URL(string: cluster.server)?.host == nil {
                throw reader.error("\(bodyPath).server", "expected a URL like https://host:port, got \"\(cluster.server)\"")
            }
            cluster.certificateAuthorityPEM = try reader.bytes(
                body, data: "certificate-authority-data", file: "certificate-authority", at: bodyPath)
            cluster.insecureSkipTLSVerify = try reader.bool(body, "insecure-skip-tls-verify", at: bodyPath) ?? false
            cluster.tlsServerName = try reader.string(body, "tls-server-name", at: bodyPath)
            cluster.file = file
            config.clusters[name] = cluster
        }
        for (index, entry) in try reader.list(root, "users").enumerated() {
            let path = "users[\(index)]"
            let name = try reader.requiredString(entry, "name", at: path)
            guard config.users[name] == nil else { continue }
            let body = try reader.object(entry, "user", at: path) ?? .object([:])
            let bodyPath = "\(path).user"
            var user = User()
            user.token = try reader.string(body, "token", at: bodyPath)
            user.tokenFile = try reader.string(body, "tokenFile", at: bodyPath).map(reader.resolve)
            user.clientCertificatePEM = try reader.bytes(
                body, data: "client-certificate-data", file: "client-certificate", at: bodyPath)
            user.clientKeyPEM = try reader.bytes(body, data: "client-key-data", file: "client-key", at: bodyPath)
            if (user.clientCertificatePEM == nil) != (user.clientKeyPEM == nil) {
                let missing = user.clientKeyPEM == nil ? "client-key-data" : "client-certificate-data"
                throw reader.error("\(bodyPath).\(missing)", "a client certificate needs both a certificate and a key")
            }
            if body["exec"] != nil { user.unsupportedCredentials = "\(bodyPath).exec" }
            if body["auth-provider"] != nil { user.unsupportedCredentials = "\(bodyPath).auth-provider" }
            user.file = file
            config.users[name] = user
        }
        for (index, entry) in try reader.list(root, "contexts").enumerated() {
            let path = "contexts[\(index)]"
            let name = try reader.requiredString(entry, "name", at: path)
            guard config.contexts[name] == nil else { continue }
            let body = try reader.requiredObject(entry, "context", at: path)
            let bodyPath = "\(path).context"
            var context = Context(
                cluster: try reader.requiredString(body, "cluster", at: bodyPath),
                user: try reader.string(body, "user", at: bodyPath) ?? "",
                namespace: try reader.string(body, "namespace", at: bodyPath))
            context.file = file
            config.contexts[name] = context
        }
        return config
    }
}

/// Reads typed fields out of a parsed kubeconfig and names the field on failure.
struct FieldReader {
    var file: String
    var directory: String?

    func error(_ field: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, field: field.isEmpty ? nil : field, message: message)
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func resolve(_ path: String) -> String {
        guard let directory, !path.hasPrefix("/") else { return path }
        return URL(fileURLWithPath: directory).appendingPathComponent(path).path
    }

    func string(_ value: JSONValue, _ key: String, at path: String) throws(ConfigurationError) -> String? {
        guard let field = value[key], !field.isNull else { return nil }
        switch field {
        case .string(let text): return text
        case .integer(let number): return String(number)
        case .bool(let flag): return String(flag)
        default: throw error(join(path, key), "expected a string, got \(field.typeName)")
        }
    }

    func requiredString(_ value: JSONValue, _ key: String, at path: String) throws(ConfigurationError) -> String {
        guard let text = try string(value, key, at: path), !text.isEmpty else {
            throw error(join(path, key), "required")
        }
        return text
    }

    func bool(_ value: JSONValue, _ key: String, at path: String) throws(ConfigurationError) -> Bool? {
        guard let field = value[key], !field.isNull else { return nil }
        if let flag = field.boolValue { return flag }
        if let text = field.stringValue, let flag = Bool(text) { return flag }
        throw error(join(path, key), "expected true or false, got \(field.jsonString)")
    }

    func object(_ value: JSONValue, _ key: String, at path: String) throws(ConfigurationError) -> JSONValue? {
        guard let field = value[key], !field.isNull else { return nil }
        guard field.objectValue != nil else { throw error(join(path, key), "expected a mapping, got \(field.typeName)") }
        return field
    }

    func requiredObject(_ value: JSONValue, _ key: String, at path: String) throws(ConfigurationError) -> JSONValue {
        guard let field = try object(value, key, at: path) else { throw error(join(path, key), "required") }
        return field
    }

    func list(_ value: JSONValue, _ key: String) throws(ConfigurationError) -> [JSONValue] {
        guard let field = value[key], !field.isNull else { return [] }
        guard let elements = field.arrayValue else { throw error(key, "expected a list, got \(field.typeName)") }
        for (index, element) in elements.enumerated() where element.objectValue == nil {
            throw error("\(key)[\(index)]", "expected a mapping, got \(element.typeName)")
        }
        return elements
    }

    /// Base64 `data` inline, or the contents of the file `file` names.
    func bytes(_ value: JSONValue, data dataKey: String, file fileKey: String, at path: String) throws(ConfigurationError) -> Data? {
        if let encoded = try string(value, dataKey, at: path) {
            let compact = encoded.filter { !$0.isWhitespace }
            guard let decoded = Data(base64Encoded: compact) else {
                throw error(join(path, dataKey), "not valid base64")
            }
            return decoded
        }
        if let named = try string(value, fileKey, at: path) {
            let resolved = resolve(named)
            do {
                return try Data(contentsOf: URL(fileURLWithPath: resolved))
            } catch {
                throw self.error(join(path, fileKey), "cannot read \(resolved)")
            }
        }
        return nil
    }
}
