import ComponentKit
import Foundation
@testable import GRPCTransport
import JSONSchemaKit
import ModuleHostAPI
import Synchronization
import TestSupport
import Testing

@Suite("Messages too large to cross modules", .timeLimit(.minutes(2)))
struct MessageSizeTests {
    @Test("a message over the limit fails at once with the sizes and the limit, alone or in a batch; the stream carries on")
    func tooLargeFailsAlone() async throws {
        let sink = RecordingSink()
        try await withServer(sink: sink) { _, port in
            try await GRPCModuleTransport.withTransport(configuration: .init(maximumMessageBytes: 64 * 1024)) { transport in
                await transport.updateAddresses(["m": ["127.0.0.1:\(port)"]])
                let big = message(from: "s", .string(String(repeating: "x", count: 100 * 1024)))
                await #expect {
                    try await transport.send(big, toModule: "m")
                } throws: { error in
                    guard case .messageTooLarge(let module, let id, let bytes, let limit)? = error as? TransportError else { return false }
                    return module == "m" && id == big.id && bytes > 100 * 1024 && limit == 64 * 1024
                        && "\(error)".contains("more than the 65536 bytes a message may have across modules")
                }
                // In a batch only the large one fails; the others go through, in order.
                let small = [message(from: "s", 1), message(from: "s", 2)]
                do {
                    try await transport.send(contentsOf: [small[0], big, small[1]], toModule: "m")
                    Issue.record("the batch with a message too large succeeded")
                } catch let error as BatchSendError {
                    #expect(error.failures.map(\.index) == [1])
                    #expect((error.failures.first?.error as? TransportError)?.isPermanent == true)
                }
                try await transport.send(message(from: "s", 3), toModule: "m")
                #expect(sink.received.withLock { $0.map(\.payload) } == [1, 2, 3])
            }
        }
    }
}
