public import ArgumentParser
public import GRPCTransport

/// `--tls-cert`, `--tls-key` and `--tls-ca`: the mutual-TLS credentials of a module host
/// and of the operator (all three or none), as the Helm charts pass them.
public struct MutualTLSOptions: ParsableArguments, Sendable {
    /// PEM certificate chain.
    @Option(help: "PEM certificate chain; with --tls-key and --tls-ca enables mutual TLS.")
    public var tlsCert: String?

    /// PEM private key.
    @Option(help: "PEM private key for mutual TLS.")
    public var tlsKey: String?

    /// PEM trust roots the peer's certificate must chain to.
    @Option(help: "PEM trust roots that peers' certificates must chain to.")
    public var tlsCa: String?

    /// No credentials.
    public init() {}

    public func validate() throws {
        let given = [tlsCert, tlsKey, tlsCa].compactMap { $0 }
        guard given.isEmpty || given.count == 3 else {
            throw ValidationError("--tls-cert, --tls-key and --tls-ca go together: give all three or none")
        }
    }

    /// The credentials, or `nil` without them.
    public var configuration: MutualTLSConfiguration? {
        guard let tlsCert, let tlsKey, let tlsCa else { return nil }
        return .pemFiles(certificateChain: tlsCert, privateKey: tlsKey, trustRoots: tlsCa)
    }
}
