import BearerTokens
import ComponentKit
import Foundation
import GRPCCore
import GRPCTransport
import ModuleHostAPI
import Synchronization
import TestSupport
import Testing

/// Who a module-host process serves: only callers with the installation's credentials —
/// a client certificate from its CA (clusters) or its bearer token (local mode).
@Suite("Module hosts serve authenticated callers only", .timeLimit(.minutes(3)), .serialized)
struct ModuleHostAuthenticationTests {
    static let fixtures = repositoryRoot.appendingPathComponent("Tests/GRPCTransportTests/Fixtures").path

    static func certificate(_ name: String) -> MutualTLSConfiguration {
        .pemFiles(certificateChain: "\(fixtures)/\(name).pem", privateKey: "\(fixtures)/\(name)-key.pem", trustRoots: "\(fixtures)/ca.pem")
    }

    /// The calls an intruder would make: the catalogue, the recent messages (payloads), a sync
    /// that would stop every node, and reading context and purging dead letters.
    static func intrude(_ address: String, tls: MutualTLSConfiguration? = nil, token: String? = nil) async -> [String: (any Error)?] {
        var outcomes: [String: (any Error)?] = [:]
        do {
            try await ModuleHostClient.withClient(address: address, tls: tls, token: token, callTimeout: .seconds(5)) { client in
                func attempt(_ name: String, _ call: () async throws -> Void) async {
                    do {
                        try await call()
                        outcomes[name] = .some(nil)
                    } catch {
                        outcomes[name] = .some(error)
                    }
                }
                await attempt("Catalogue") { _ = try await client.catalogue() }
                await attempt("RecentMessages") { _ = try await client.recentMessages(node: "n") }
                await attempt("SyncNodes") { _ = try await client.sync(DesiredNodes(generation: 9_000_000_000_000_000_000, nodes: [])) }
                await attempt("Context") {
                    _ = try await client.context(ContextRequest(.get, scope: .global(namespace: "default"), key: "k"))
                }
                await attempt("DeadLetters") { _ = try await client.deadLetters(DeadLetterRequest(.purge, namespace: "default")) }
            }
        } catch {
            for name in ["Catalogue", "RecentMessages", "SyncNodes", "Context", "DeadLetters"] where outcomes[name] == nil {
                outcomes[name] = .some(error)
            }
        }
        return outcomes
    }

    /// Waits until the host at `address` answers a caller with `tls` and `token`.
    static func waitUntilServing(_ address: String, tls: MutualTLSConfiguration? = nil, token: String? = nil) async throws {
        try await eventually("the host to serve", timeout: .seconds(20)) {
            (try? await ModuleHostClient.withClient(address: address, tls: tls, token: token, callTimeout: .seconds(2)) {
                try await $0.catalogue()
            }) != nil
        }
    }

    @Test("with a token file: callers without the token, or with another, get UNAUTHENTICATED and change nothing; the token's holder is served")
    func tokenFile() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let tokenPath = directory.appendingPathComponent("module-token").path
        let token = try BearerTokenFile.create(at: tokenPath)
        #expect(try FileManager.default.attributesOfItem(atPath: tokenPath)[.posixPermissions] as? Int == 0o600)
        let port = try freePort()
        try await withHostProcesses { hosts in
            let host = try hosts.start(port: port, extraArguments: ["--token-file", tokenPath])
            try await Self.waitUntilServing(host.address, token: token)
            let debug = NodeDefinition(name: "n", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: ["keep": 10])])
            let synced = try await ModuleHostClient.withClient(address: host.address, token: token) {
                try await $0.sync(DesiredNodes(generation: 1, nodes: [debug]))
            }
            #expect(synced.nodes.map(\.phase) == [.running])

            for (caller, outcomes) in [("no token", await Self.intrude(host.address)),
                                       ("another token", await Self.intrude(host.address, token: String(repeating: "0", count: 64)))] {
                for (call, error) in outcomes {
                    let rpc = error.flatMap { $0 as? RPCError }
                    #expect(rpc?.code == .unauthenticated, "\(call) with \(caller): \(String(describing: error))")
                }
            }
            // The intruders' SyncNodes with an enormous generation stopped nothing.
            let after = try await ModuleHostClient.withClient(address: host.address, token: token) {
                try await $0.sync(DesiredNodes(generation: 2, nodes: [debug]))
            }
            #expect(after.generation == 2)
            #expect(after.nodes.map(\.phase) == [.running])
        }
    }

    static let roles = repositoryRoot.appendingPathComponent("Tests/GRPCTransportTests/Fixtures/roles").path

    static func roleCertificate(_ name: String) -> MutualTLSConfiguration {
        .pemFiles(certificateChain: "\(roles)/\(name).pem", privateKey: "\(roles)/\(name)-key.pem", trustRoots: "\(roles)/ca.pem")
    }

    @Test("with mutual TLS, as the chart starts it: plaintext callers and certificates from another CA are refused; another module host's certificate may deliver but not control; the operator's is served")
    func mutualTLS() async throws {
        let port = try freePort()
        try await withHostProcesses { hosts in
            let host = try hosts.start(port: port, extraArguments: [
                "--tls-cert", "\(Self.roles)/host.pem", "--tls-key", "\(Self.roles)/host-key.pem", "--tls-ca", "\(Self.roles)/ca.pem",
            ])
            let operatorCertificate = Self.roleCertificate("operator")
            try await Self.waitUntilServing(host.address, tls: operatorCertificate)
            for (caller, outcomes) in [("plaintext", await Self.intrude(host.address)),
                                       ("a certificate from another CA", await Self.intrude(host.address, tls: Self.certificate("rogue-client")))] {
                for (call, error) in outcomes {
                    #expect(error != nil, "\(call) by \(caller) was served")
                }
            }
            // A peer (another module host of the installation) is refused every control call …
            for (call, error) in await Self.intrude(host.address, tls: Self.roleCertificate("peer")) {
                #expect((error as? RPCError)?.code == .permissionDenied, "\(call) by a peer: \(String(describing: error))")
            }
            // … but delivers messages.
            let debug = NodeDefinition(name: "n", component: "debug", ports: [PortConfiguration(port: "_settings", configuration: ["keep": 10])])
            let synced = try await ModuleHostClient.withClient(address: host.address, tls: operatorCertificate) {
                try await $0.sync(DesiredNodes(generation: 1, nodes: [debug]))
            }
            #expect(synced.nodes.map(\.phase) == [.running])
            try await GRPCModuleTransport.withTransport(configuration: .init(tls: Self.roleCertificate("peer"))) { transport in
                await transport.updateAddresses(["m": [host.address]])
                try await transport.send(Message(to: PortAddress(node: "n", port: "in"), payload: "from a peer"), toModule: "m")
            }
            let received = try await ModuleHostClient.withClient(address: host.address, tls: operatorCertificate) {
                try await $0.recentMessages(node: "n")
            }
            #expect(received?.map(\.payload) == ["from a peer"])
        }
    }

    @Test("without credentials a module host does not start unless told to serve anyone")
    func refusesToStartOpen() async throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tinyflow")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["module-host", "--listen", "127.0.0.1:\(try freePort())", "--health-address", "none"]
        var environment = ProcessInfo.processInfo.environment
        environment["TINYFLOW_MODULE_TOKEN_FILE"] = nil
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        try await eventually("the process to exit") { !process.isRunning }
        #expect(process.terminationStatus != 0)
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.contains("a module host authenticates its callers"), "\(text)")
        #expect(text.contains("--allow-unauthenticated"), "\(text)")
    }
}
