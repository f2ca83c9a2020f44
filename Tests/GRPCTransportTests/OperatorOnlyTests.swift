import ComponentKit
import Foundation
import GRPCCore
@testable import GRPCTransport
import ModuleHost
import Synchronization
import TestSupport
import Testing

/// Under mutual TLS with an operator name, the control calls that read or change what a host
/// keeps are the operator's alone; a peer module host's certificate may deliver messages only.
@Suite("Control calls are the operator's", .timeLimit(.minutes(3)))
struct OperatorOnlyTests {
    static let roles = repositoryRoot.appendingPathComponent("Tests/GRPCTransportTests/Fixtures/roles").path

    static func certificate(_ name: String) -> MutualTLSConfiguration {
        .pemFiles(certificateChain: "\(roles)/\(name).pem", privateKey: "\(roles)/\(name)-key.pem", trustRoots: "\(roles)/ca.pem")
    }

    @Test("Context and DeadLetters are refused to a peer's certificate with PERMISSION_DENIED and served to the operator's")
    func contextAndDeadLetters() async throws {
        let control = FakeControl()
        let server = ModuleHostServer(
            host: "127.0.0.1", port: 0, tls: Self.certificate("host"), operatorName: "operator.tinyflow.dev",
            control: control, sink: RecordingSink(), gracePeriod: .seconds(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            defer { server.beginGracefulShutdown() }
            let address = "127.0.0.1:\(try await server.boundPort)"
            let context = ContextRequest(.get, scope: .global(namespace: "shop"), key: "k")
            let deadLetters = DeadLetterRequest(.purge, namespace: "shop", ids: [1])

            try await ModuleHostClient.withClient(address: address, tls: Self.certificate("peer")) { peer in
                let contextError = await #expect(throws: RPCError.self) { try await peer.context(context) }
                #expect(contextError?.code == .permissionDenied)
                let deadLetterError = await #expect(throws: RPCError.self) { try await peer.deadLetters(deadLetters) }
                #expect(deadLetterError?.code == .permissionDenied)
                #expect(deadLetterError?.message.contains("DeadLetters is for the operator") == true)
            }
            #expect(control.contextRequests.withLock { $0 }.isEmpty)
            #expect(control.deadLetterRequests.withLock { $0 }.isEmpty)

            try await ModuleHostClient.withClient(address: address, tls: Self.certificate("operator")) { operatorClient in
                _ = try await operatorClient.context(context)
                let purged = try await operatorClient.deadLetters(deadLetters)
                #expect(purged.count == 1)
            }
            #expect(control.deadLetterRequests.withLock { $0 } == [deadLetters])
        }
    }
}
