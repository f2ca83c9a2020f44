import ComponentKit
import Foundation
@testable import GRPCTransport
import ModuleHost
import Synchronization
import TestSupport
import Testing

@Suite("Mutual TLS", .timeLimit(.minutes(3)))
struct MutualTLSTests {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/GRPCTransportTests/Fixtures").path

    static func credentials(_ name: String, trusting roots: String = "ca") -> MutualTLSConfiguration {
        .pemFiles(
            certificateChain: "\(fixtures)/\(name).pem", privateKey: "\(fixtures)/\(name)-key.pem",
            trustRoots: "\(fixtures)/\(roots).pem")
    }

    @Test("a client with a certificate from the trusted CA sends messages and makes control calls")
    func trustedClient() async throws {
        let sink = RecordingSink()
        try await withServer(tls: Self.credentials("server"), sink: sink) { _, port in
            let configuration = GRPCModuleTransport.Configuration(tls: Self.credentials("client"))
            try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await transport.send(message(from: "s", "secret"), toModule: "m")
                #expect(sink.received.withLock { $0.map(\.payload) } == ["secret"])
            }
            try await ModuleHostClient.withClient(address: "127.0.0.1:\(port)", tls: Self.credentials("client")) { client in
                let catalogue = try await client.catalogue()
                #expect(catalogue.module == "common")
            }
        }
    }

    @Test("clients with an untrusted certificate, or none, cannot deliver")
    func untrustedClients() async throws {
        let sink = RecordingSink()
        try await withServer(tls: Self.credentials("server"), sink: sink) { _, port in
            let rogue = GRPCModuleTransport.Configuration(tls: Self.credentials("rogue-client"))
            let plaintext = GRPCModuleTransport.Configuration()
            for configuration in [rogue, plaintext] {
                try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                    await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                    let error = await #expect(throws: TransportError.self) {
                        try await within(.seconds(10)) {
                            try await transport.send(message(from: "s", "x"), toModule: "m")
                        }
                    }
                    if case .unavailable? = error {} else { Issue.record("expected unavailable, got \(String(describing: error))") }
                }
            }
            #expect(sink.count == 0)
        }
    }
}
