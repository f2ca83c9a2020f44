import Console
import KubernetesClient
import KubernetesModels
import Testing

@Suite("What the console answers when the Kubernetes API refuses")
struct ConsoleErrorTests {
    @Test("RBAC's 403 stays a 403 with the API server's message, for the page to show as forbidden")
    func forbidden() {
        let message = #"tinynodes "t" is forbidden: User "bob" cannot patch resource "tinynodes" in API group "tinyflow.dev""#
        let error = ConsoleError(KubernetesError(
            verb: .patch, resource: "tinynodes", code: 403, status: Status(message: message, reason: "Forbidden", code: 403)))
        #expect(error.status == 403)
        #expect(error.reason == "Forbidden")
        #expect(error.message == message)
    }

    @Test("a 422's field causes become details; a server that failed is a 502")
    func invalidAndFailed() {
        let invalid = ConsoleError(KubernetesError(
            verb: .patch, resource: "tinynodes", code: 422,
            status: Status(
                message: "invalid", reason: "Invalid", code: 422,
                details: StatusDetails(causes: [StatusCause(reason: "FieldValueTooLong", message: "too long", field: "spec.edges")]))))
        #expect(invalid.status == 422)
        #expect(invalid.details == [.init(field: "spec.edges", message: "too long")])
        #expect(ConsoleError(KubernetesError(verb: .get, resource: "tinynodes", code: 500)).status == 502)
        #expect(ConsoleError(KubernetesError(verb: .get, resource: "tinynodes", underlying: "connection refused")).status == 502)
    }
}
