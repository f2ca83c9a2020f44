public import Foundation
import Synchronization

/// Everything a ``KubernetesClient`` needs to reach and authenticate to an
/// API server: from a kubeconfig, from the in-cluster service account, or
/// built directly (tests).
public struct ClientConfiguration: Sendable {
    /// The API server's base URL, e.g. `https://10.0.0.1:443`.
    public var server: URL
    /// The namespace namespaced `Api`s default to.
    public var namespace: String = "default"
    /// How requests authenticate.
    public var credentials: Credentials = .none
    /// PEM certificate authorities to trust instead of the system's.
    public var certificateAuthorityPEM: Data?
    /// Accept any server certificate (`insecure-skip-tls-verify`). For development only.
    public var insecureSkipTLSVerify: Bool = false
    /// The name to verify the server certificate against, if not the URL's host.
    public var tlsServerName: String?
    /// How long a non-watch request may take, end to end.
    public var requestTimeout: Duration = .seconds(30)
    /// How long a connection attempt may take.
    public var connectTimeout: Duration = .seconds(5)
    /// The most HTTP/1.1 connections to the server at once. Every open watch holds
    /// one for its lifetime (a controller watches several kinds per namespace), so
    /// this must exceed the watches plus the requests made concurrently; over
    /// HTTP/2 (TLS with ALPN, as kube-apiserver serves) requests share one connection.
    public var maximumConnections: Int = 64
    /// Sent as `User-Agent`.
    public var userAgent: String = "tinyflow-kubernetes-client"

    /// A configuration for `server` with the given credentials.
    public init(server: URL, namespace: String = "default", credentials: Credentials = .none) {
        self.server = server
        self.namespace = namespace
        self.credentials = credentials
    }

    /// How requests authenticate.
    public enum Credentials: Sendable, Hashable {
        /// No authentication.
        case none
        /// A fixed bearer token.
        case bearerToken(String)
        /// A bearer token read from a file and re-read at most every `refreshInterval`
        /// (and after a `401`), so rotated service-account tokens are picked up.
        case tokenFile(path: String, refreshInterval: Duration = .seconds(60))
        /// A TLS client certificate and its private key, both PEM.
        case clientCertificate(certificatePEM: Data, keyPEM: Data)
    }

    /// The configuration of `context` (default: the current context) from the
    /// kubeconfig files in `KUBECONFIG` (colon-separated, first wins per name),
    /// or `~/.kube/config` when it is unset.
    public static func fromKubeconfig(
        context: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ClientConfiguration {
        let files = kubeconfigFiles(environment: environment)
        let config = try KubeConfig.read(files: files)
        guard !config.files.isEmpty else {
            throw ConfigurationError(message: "no kubeconfig found at \(files.joined(separator: ", "))")
        }
        return try ClientConfiguration(kubeconfig: config, context: context)
    }

    /// The kubeconfig files kubectl reads: those of `KUBECONFIG` (colon-separated, first
    /// wins per name), or `~/.kube/config` when it is unset.
    public static func kubeconfigFiles(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        if let list = environment["KUBECONFIG"], !list.isEmpty { return list.split(separator: ":").map(String.init) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return [URL(fileURLWithPath: home).appendingPathComponent(".kube/config").path]
    }

    /// The configuration of `context` (default: the current context) in `kubeconfig`.
    public init(kubeconfig: KubeConfig, context name: String? = nil) throws(ConfigurationError) {
        let origin = kubeconfig.files.joined(separator: ":")
        guard let contextName = name ?? kubeconfig.currentContext, !contextName.isEmpty else {
            throw ConfigurationError(file: origin, field: "current-context", message: "no current context is set")
        }
        guard let context = kubeconfig.contexts[contextName] else {
            throw ConfigurationError(file: origin, field: "contexts", message: "no context named \"\(contextName)\"")
        }
        guard let cluster = kubeconfig.clusters[context.cluster] else {
            throw ConfigurationError(
                file: context.file, field: "contexts[\(contextName)].context.cluster",
                message: "no cluster named \"\(context.cluster)\"")
        }
        guard let url = URL(string: cluster.server) else {
            throw ConfigurationError(file: cluster.file, field: "clusters[\(context.cluster)].cluster.server", message: "not a URL")
        }
        self.init(server: url, namespace: context.namespace ?? "default")
        certificateAuthorityPEM = cluster.certificateAuthorityPEM
        insecureSkipTLSVerify = cluster.insecureSkipTLSVerify
        tlsServerName = cluster.tlsServerName
        if !context.user.isEmpty {
            guard let user = kubeconfig.users[context.user] else {
                throw ConfigurationError(
                    file: context.file, field: "contexts[\(contextName)].context.user",
                    message: "no user named \"\(context.user)\"")
            }
            if let certificate = user.clientCertificatePEM, let key = user.clientKeyPEM {
                credentials = .clientCertificate(certificatePEM: certificate, keyPEM: key)
            } else if let tokenFile = user.tokenFile {
                credentials = .tokenFile(path: tokenFile)
            } else if let token = user.token {
                credentials = .bearerToken(token)
            } else if let unsupported = user.unsupportedCredentials {
                throw ConfigurationError(
                    file: user.file, field: unsupported,
                    message: "exec and auth-provider credentials are not supported; use a token, a token file or a client certificate")
            }
        }
    }

    /// The standard place of the service-account files inside a pod.
    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The configuration of a pod's service account: `KUBERNETES_SERVICE_HOST`
    /// and `KUBERNETES_SERVICE_PORT`, the token (re-read every minute), the
    /// cluster CA and the pod's namespace from `serviceAccountDirectory`.
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountDirectory directory: String = serviceAccountDirectory,
        tokenRefreshInterval: Duration = .seconds(60)
    ) throws(ConfigurationError) -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw ConfigurationError(field: "KUBERNETES_SERVICE_HOST", message: "not set: not running in a cluster")
        }
        guard let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw ConfigurationError(field: "KUBERNETES_SERVICE_PORT", message: "not set: not running in a cluster")
        }
        guard Int(port) != nil else {
            throw ConfigurationError(field: "KUBERNETES_SERVICE_PORT", message: "expected a port number, got \"\(port)\"")
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        guard let url = URL(string: "https://\(hostPart):\(port)") else {
            throw ConfigurationError(field: "KUBERNETES_SERVICE_HOST", message: "not a host: \"\(host)\"")
        }
        let base = URL(fileURLWithPath: directory)
        let tokenPath = base.appendingPathComponent("token").path
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw ConfigurationError(file: tokenPath, message: "service-account token not readable")
        }
        var configuration = ClientConfiguration(
            server: url, credentials: .tokenFile(path: tokenPath, refreshInterval: tokenRefreshInterval))
        let caPath = base.appendingPathComponent("ca.crt").path
        do {
            configuration.certificateAuthorityPEM = try Data(contentsOf: URL(fileURLWithPath: caPath))
        } catch {
            throw ConfigurationError(file: caPath, message: "cluster CA not readable")
        }
        if let namespace = try? String(contentsOfFile: base.appendingPathComponent("namespace").path, encoding: .utf8) {
            let trimmed = namespace.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { configuration.namespace = trimmed }
        }
        return configuration
    }

    /// In-cluster configuration when `KUBERNETES_SERVICE_HOST` is set, otherwise the kubeconfig.
    public static func infer(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ClientConfiguration {
        if environment["KUBERNETES_SERVICE_HOST"] != nil, environment["KUBECONFIG"] == nil {
            return try inCluster(environment: environment)
        }
        return try fromKubeconfig(environment: environment)
    }
}

/// Supplies the bearer token of each request; re-reads token files.
final class TokenSource: Sendable {
    private struct Cached {
        var token: String?
        var readAt: ContinuousClock.Instant?
    }

    private let credentials: ClientConfiguration.Credentials
    private let cache = Mutex(Cached())

    init(_ credentials: ClientConfiguration.Credentials) { self.credentials = credentials }

    /// The `Authorization` header value, if any.
    func authorization() throws(ConfigurationError) -> String? {
        switch credentials {
        case .none, .clientCertificate: return nil
        case .bearerToken(let token): return "Bearer \(token)"
        case .tokenFile(let path, let interval):
            let now = ContinuousClock.now
            if let cached = cache.withLock({ state -> String? in
                guard let readAt = state.readAt, now - readAt < interval else { return nil }
                return state.token
            }) {
                return "Bearer \(cached)"
            }
            let token: String
            do {
                token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ConfigurationError(file: path, message: "cannot read token file")
            }
            cache.withLock { $0 = Cached(token: token, readAt: now) }
            return "Bearer \(token)"
        }
    }

    /// Forgets a cached file token (after a `401`); whether there was one to forget.
    func invalidate() -> Bool {
        guard case .tokenFile = credentials else { return false }
        cache.withLock { $0 = Cached() }
        return true
    }
}
