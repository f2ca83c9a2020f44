public import GRPCNIOTransportHTTP2

/// Certificates for mutually authenticated TLS between module hosts (and the
/// operator): this side's certificate chain and key, and the roots the peer's
/// certificate must chain to.
public struct MutualTLSConfiguration: Sendable {
    /// This side's certificate chain, leaf first.
    public var certificateChain: [TLSConfig.CertificateSource]
    /// This side's private key.
    public var privateKey: TLSConfig.PrivateKeySource
    /// The certificates the peer's chain must lead to.
    public var trustRoots: [TLSConfig.CertificateSource]
    /// Whether a client checks that the server's certificate names the host it
    /// dialled (pods dialled by IP usually cannot; the chain is checked either way).
    public var verifyServerHostname: Bool

    /// Creates a configuration.
    public init(
        certificateChain: [TLSConfig.CertificateSource], privateKey: TLSConfig.PrivateKeySource,
        trustRoots: [TLSConfig.CertificateSource], verifyServerHostname: Bool = false
    ) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
        self.verifyServerHostname = verifyServerHostname
    }

    /// The same configuration, read from PEM files.
    public static func pemFiles(
        certificateChain: String, privateKey: String, trustRoots: String, verifyServerHostname: Bool = false
    ) -> Self {
        Self(
            certificateChain: [.file(path: certificateChain, format: .pem)],
            privateKey: .file(path: privateKey, format: .pem),
            trustRoots: [.file(path: trustRoots, format: .pem)],
            verifyServerHostname: verifyServerHostname)
    }

    /// Server side: presents the chain and requires a client certificate that chains to the roots.
    var serverSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: certificateChain, privateKey: privateKey) { tls in
            tls.trustRoots = .certificates(trustRoots)
            tls.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Client side: presents the chain and checks the server's against the roots.
    var clientSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: certificateChain, privateKey: privateKey) { tls in
            tls.trustRoots = .certificates(trustRoots)
            tls.serverCertificateVerification = verifyServerHostname ? .fullVerification : .noHostnameVerification
        }
    }
}

/// Parses `host:port` (IPv6 hosts in brackets) into a gRPC target.
func resolvableTarget(_ address: String) -> (any ResolvableTarget)? {
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
        (0...65535).contains(port)
    else { return nil }
    var host = String(address[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") {
        host = String(host.dropFirst().dropLast())
        return .ipv6(address: host, port: port)
    }
    guard !host.isEmpty else { return nil }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) {
        return .ipv4(address: host, port: port)
    }
    return .dns(host: host, port: port)
}
