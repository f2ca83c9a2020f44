import ComponentKit
import Foundation
import TestSupport
import Testing

@testable import GRPCTransport

@Suite("Reconnecting with one backoff", .timeLimit(.minutes(1)))
struct ReconnectBackoffTests {
    @Test("a host that refuses every stream gets a new one only after a backoff delay, never in a busy loop")
    func refusedStreams() async throws {
        try await withServer(sink: RecordingSink()) { server, port in
            // The host keeps listening but ends every Deliver stream at once.
            server.service.endStreams()
            let configuration = GRPCModuleTransport.Configuration(
                initialBackoff: .milliseconds(40), maximumBackoff: .milliseconds(160))
            try await GRPCModuleTransport.withTransport(configuration: configuration) { transport in
                let clock = ContinuousClock()
                let started = clock.now
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                try await eventually("four stream attempts") { (transport.replicaAttempts.values.first ?? 0) >= 4 }
                let elapsed = clock.now - started
                let attempts = transport.replicaAttempts.values.first ?? 0
                // Each delay is at least 40 ms × (1 − 50 %) = 20 ms: n attempts take ≥ (n − 1) × 20 ms.
                #expect(elapsed >= .milliseconds(20) * (attempts - 1), "\(attempts) attempts in \(elapsed)")
            }
        }
    }
}
