import Crypto
import Foundation
import NIOSSL
import SwiftASN1
import X509

/// The control plane's serving certificate: a self-signed ECDSA P-256 certificate for
/// `localhost`, `127.0.0.1` and `::1` (plus the listen host), created on first start and
/// kept in the data directory so kubeconfigs written earlier stay valid across restarts.
struct SelfSignedTLS {
    var certificatePEM: String
    var privateKeyPEM: String

    static func loadOrCreate(directory: URL, host: String) throws -> SelfSignedTLS {
        let certPath = directory.appendingPathComponent("tls.crt").path
        let keyPath = directory.appendingPathComponent("tls.key").path
        if let cert = try? String(contentsOfFile: certPath, encoding: .utf8),
           let key = try? String(contentsOfFile: keyPath, encoding: .utf8), !cert.isEmpty, !key.isEmpty {
            return SelfSignedTLS(certificatePEM: cert, privateKeyPEM: key)
        }
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("tinyflow-control-plane") }
        var alternativeNames: [GeneralName] = [.dnsName("localhost"), .ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])),
                                               .ipAddress(ASN1OctetString(contentBytes: ArraySlice(repeating: 0, count: 15) + [1]))]
        if let bytes = ipv4Bytes(host), bytes != [127, 0, 0, 1] {
            alternativeNames.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))))
        } else if ipv4Bytes(host) == nil, !["localhost", "::1", "0.0.0.0", "::"].contains(host) {
            alternativeNames.append(.dnsName(host))
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 24 * 3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(alternativeNames)
            },
            issuerPrivateKey: .init(key))
        let tls = SelfSignedTLS(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
        try EmbeddedControlPlane.writePrivate(tls.privateKeyPEM, to: keyPath)
        try EmbeddedControlPlane.writePrivate(tls.certificatePEM, to: certPath)
        return tls
    }

    static func ipv4Bytes(_ host: String) -> [UInt8]? {
        let parts = host.split(separator: ".")
        guard parts.count == 4 else { return nil }
        let bytes = parts.compactMap { UInt8($0) }
        return bytes.count == 4 ? bytes : nil
    }

    func serverConfiguration() throws -> TLSConfiguration {
        TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)))
    }
}
