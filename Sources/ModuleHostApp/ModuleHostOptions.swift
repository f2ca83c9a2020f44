public import ArgumentParser
public import ContextStores
public import ContextStoreAPI
import Foundation
public import Logging

/// The command-line options of a module-host process: `tinyflow module-host`
/// and every component author's own module executable share them.
public struct ModuleHostOptions: ParsableArguments, Sendable {
    /// `host:port` for gRPC (messages from other modules, the operator's control calls).
    @Option(help: "Address for gRPC: messages from other modules and the operator's control calls.")
    public var listen: String = "0.0.0.0:9000"

    /// `host:port` for HTTP `/healthz` and `/readyz`; `none` disables it.
    @Option(help: "Address for HTTP /healthz and /readyz, or 'none'.")
    public var healthAddress: String = "0.0.0.0:8081"

    /// Mutual-TLS credentials.
    @OptionGroup public var tls: MutualTLSOptions

    /// The name the operator's certificate is issued to.
    @Option(help: ArgumentHelp(
        "Under mutual TLS, the name (DNS name or common name) the operator's certificate must carry to make control calls.",
        discussion: "Other certificates of the CA (the module hosts') may only deliver messages."))
    public var operatorName: String = "operator.tinyflow.dev"

    /// A file holding the bearer token every caller must send (local mode).
    @Option(help: ArgumentHelp(
        "A file with the bearer token every caller must send (default: $TINYFLOW_MODULE_TOKEN_FILE).",
        discussion: "How `tinyflow up` authenticates its operator and module hosts to each other; the file should be readable by its owner only."))
    public var tokenFile: String?

    /// Serve callers without credentials.
    @Flag(help: "Serve callers that present neither a client certificate nor a token (only on a network you trust).")
    public var allowUnauthenticated = false

    /// The Lease whose holder runs the module's source nodes; without it this
    /// replica always runs them (one replica, or local mode).
    @Option(help: "Lease (coordination.k8s.io) whose holder runs source nodes; omit for a single replica.")
    public var sourceLease: String?

    /// The namespace of the source Lease.
    @Option(help: "Namespace of --source-lease (default: $POD_NAMESPACE, else 'default').")
    public var leaseNamespace: String?

    /// Where nodes keep their context; without it `$TINYFLOW_CONTEXT_STORE`, else `memory`.
    @Option(
        help: ArgumentHelp(
            "Context store: memory, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=…",
            discussion: "Without it, $TINYFLOW_CONTEXT_STORE (how the module chart passes a URL from a Secret), else memory."))
    public var contextStore: String?

    /// How many live keys one context scope (a node, a flow, a namespace) may hold.
    @Option(help: "Live keys one context scope (node, flow or namespace) may hold; writing one more new key fails.")
    public var contextMaxKeysPerScope: Int = ContextLimits().maxKeysPerScope

    /// Seconds a node being stopped may go on handling what it holds.
    @Option(help: ArgumentHelp(
        "Seconds a node being stopped (deleted, replaced, or at shutdown) may go on handling the messages it holds.",
        discussion: "Then its handlers are cancelled and what it did not handle is dropped: counted in status.metrics.dropped, reported to its error port."))
    public var nodeStopTimeout: Double = 5

    /// Log level.
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: Logger.Level = .info

    /// Default options.
    public init() {}

    public mutating func validate() throws {
        _ = try HostPort(parsing: listen, option: "--listen")
        if healthAddress != "none" { _ = try HostPort(parsing: healthAddress, option: "--health-address") }
        do {
            _ = try contextStoreLocation
        } catch {
            throw ValidationError("--context-store: \(error)")
        }
        guard contextMaxKeysPerScope > 0 else { throw ValidationError("--context-max-keys-per-scope must be positive") }
        guard nodeStopTimeout > 0, nodeStopTimeout <= 3600 else {
            throw ValidationError("--node-stop-timeout must be more than 0 and at most 3600 seconds, got \(nodeStopTimeout)")
        }
        guard tls.configuration != nil || tokenFileLocation != nil || allowUnauthenticated else {
            throw ValidationError(
                "a module host authenticates its callers: give --tls-cert, --tls-key and --tls-ca (mutual TLS), or --token-file, "
                    + "or --allow-unauthenticated to serve anyone who can reach \(listen)")
        }
    }
}

extension ModuleHostOptions {
    /// The token file: `--token-file`, else `$TINYFLOW_MODULE_TOKEN_FILE`.
    public var tokenFileLocation: String? {
        tokenFile ?? ProcessInfo.processInfo.environment["TINYFLOW_MODULE_TOKEN_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The context store: `--context-store`, else `$TINYFLOW_CONTEXT_STORE`, else memory.
    public var contextStoreLocation: ContextStoreLocation {
        get throws(ContextStoreLocationError) {
            let text = contextStore ?? ProcessInfo.processInfo.environment["TINYFLOW_CONTEXT_STORE"] ?? "memory"
            return try ContextStoreLocation(parsing: text)
        }
    }
}

/// A `host:port` pair from the command line.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// The host or IP address.
    public var host: String
    /// The port.
    public var port: Int

    /// Parses `host:port` (IPv6 as `[::1]:port`); errors name the option.
    public init(parsing text: String, option: String) throws(ValidationError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
        else {
            throw ValidationError("\(option): expected host:port, got \"\(text)\"")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("\(option): expected host:port, got \"\(text)\"") }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
