import ComponentKit
import Logging
import ModuleHost
@testable import ModuleHostApp
import Testing

@Suite("A module host acts on its own namespace's context and dead letters only", .timeLimit(.minutes(1)))
struct NamespacedControlTests {
    let control = NamespacedContextControl(
        base: ModuleRuntime(module: ModuleDefinition(name: "m", version: "1", components: []), logger: Logger(label: "test")),
        namespace: "shop")

    @Test("dead letters of another namespace are refused naming both namespaces; the host's own reach its runtime")
    func deadLetters() async throws {
        await #expect(throws: DeadLetterAccessError.namespaceNotServed(namespace: "bank", served: "shop")) {
            try await control.deadLetters(DeadLetterRequest(.purge, namespace: "bank"))
        }
        #expect(
            "\(DeadLetterAccessError.namespaceNotServed(namespace: "bank", served: "shop"))"
                == "this module host serves the dead letters of namespace shop, not of bank")
        // The runtime has no message store: the request got past the namespace check.
        await #expect(throws: DeadLetterAccessError.noMessageStore) {
            try await control.deadLetters(DeadLetterRequest(.list, namespace: "shop"))
        }
    }

    @Test("context of another namespace is refused; the host's own is served")
    func context() async throws {
        await #expect(throws: ContextStoreError.namespaceNotServed(namespace: "bank", served: "shop")) {
            try await control.context(ContextRequest(.get, scope: .global(namespace: "bank"), key: "k"))
        }
        _ = try await control.context(ContextRequest(.get, scope: .global(namespace: "shop"), key: "k"))
    }
}
