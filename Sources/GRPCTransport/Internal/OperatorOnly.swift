import GRPCCore
import GRPCNIOTransportHTTP2
import X509

/// Under mutual TLS, serves the control calls (`SyncNodes`, `Catalogue`, `WatchNodeStatus`,
/// `RecentMessages`, `Context`, `DeadLetters`) only to a caller whose certificate names the
/// operator (a DNS name or common name equal to `operatorName`), and `Deliver` to every
/// certificate of the installation's CA: a module host — or code running in one, which can
/// read its pod's key — can send messages to its peers but cannot deploy nodes on them, read
/// their messages, their context or their dead letters, or hold them with a sync of its own.
struct OperatorOnlyInterceptor: ServerInterceptor {
    let operatorName: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if context.descriptor == ModuleHostMethods.deliver { return try await next(request, context) }
        let certificate = (context.transportSpecific as? HTTP2ServerTransport.Posix.Context)?.peerCertificate
        guard let certificate, Self.names(certificate).contains(operatorName) else {
            throw RPCError(
                code: .permissionDenied,
                message: "\(context.descriptor.method) is for the operator (\(operatorName)) only; module hosts may only deliver messages")
        }
        return try await next(request, context)
    }

    /// The DNS names and common names a certificate is issued to.
    static func names(_ certificate: Certificate) -> Set<String> {
        var names = Set(certificate.subject.flatMap { $0 }.compactMap { attribute -> String? in
            attribute.type == .RDNAttributeType.commonName ? attribute.value.description : nil
        })
        if let alternatives = try? certificate.extensions.subjectAlternativeNames {
            for name in alternatives {
                if case .dnsName(let dns) = name { names.insert(dns) }
            }
        }
        return names
    }
}
