import ControlPlaneTestSupport
import Foundation
import KubernetesClient
import KubernetesModels
import Testing

@Suite("Retries and errors, against a scripted transport", .timeLimit(.minutes(2)))
struct RetryTests {
    func client(_ transport: ScriptedTransport, policy: RequestRetryPolicy = fastRetries) throws -> KubernetesClient {
        try KubernetesClient(
            configuration: ClientConfiguration(server: URL(fileURLWithPath: "/"), credentials: .bearerToken("t")),
            transport: transport, retryPolicy: policy)
    }

    static let conflict = #"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","details":{"name":"a","kind":"configmaps"},"code":409}"#
    static let ok = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"3"}}"#

    @Test("429 is retried after Retry-After, even for a create")
    func tooManyRequests() async throws {
        let transport = ScriptedTransport([
            .init(status: 429, headers: [("Retry-After", "1")], body: #"{"kind":"Status","code":429,"reason":"TooManyRequests"}"#),
            .init(status: 201, body: Self.ok),
        ])
        let created = try await client(transport).api(ConfigMap.self).create(configMap("a"))
        #expect(created.metadata.resourceVersion == "3")
        let times = transport.times
        #expect(times.count == 2)
        #expect(times[1] - times[0] >= .seconds(1))
    }

    @Test("5xx answers to idempotent requests are retried with growing backoff")
    func serverErrorsRetried() async throws {
        let transport = ScriptedTransport([
            .init(status: 500), .init(status: 503), .init(status: 502), .init(status: 200, body: Self.ok),
        ])
        let policy = RequestRetryPolicy(maxAttempts: 5, backoff: Backoff(initial: .milliseconds(40), maximum: .seconds(1), jitter: 0))
        let object = try await client(transport, policy: policy).api(ConfigMap.self).get("a")
        #expect(object.metadata.name == "a")
        let times = transport.times
        #expect(times.count == 4)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps[0] >= .milliseconds(40))
        #expect(gaps[1] >= .milliseconds(80))
        #expect(gaps[2] >= .milliseconds(160))
    }

    @Test("5xx answers to a create are not retried")
    func createNotRetried() async throws {
        let transport = ScriptedTransport([.init(status: 500), .init(status: 201, body: Self.ok)])
        let error = await #expect(throws: KubernetesError.self) {
            try await client(transport).api(ConfigMap.self).create(configMap("a"))
        }
        #expect(error?.code == 500)
        #expect(transport.requests.count == 1)
    }

    @Test("422 is not retried and its causes are reported")
    func invalidNotRetried() async throws {
        let transport = ScriptedTransport([
            .init(status: 422, body: #"{"kind":"Status","code":422,"reason":"Invalid","message":"TinyNode \"a\" is invalid","details":{"causes":[{"field":"spec.module","message":"Required value"}]}}"#),
        ])
        let error = await #expect(throws: KubernetesError.self) {
            try await client(transport).api(ConfigMap.self).replace(configMap("a"))
        }
        #expect(error?.isInvalid == true)
        #expect(transport.requests.count == 1)
        #expect(error?.description == #"update configmaps "a" in namespace "default": 422 Invalid: TinyNode "a" is invalid (spec.module: Required value)"#)
    }

    @Test("errors carry the server's Status, the verb and the resource")
    func errorCarriesStatus() async throws {
        let transport = ScriptedTransport([.init(status: 409, body: Self.conflict)])
        let error = await #expect(throws: KubernetesError.self) {
            try await client(transport).api(ConfigMap.self, namespace: "flows").replace(configMap("a"))
        }
        #expect(error?.isConflict == true)
        #expect(error?.verb == .update)
        #expect(error?.resource == #"configmaps "a" in namespace "flows""#)
        #expect(error?.status?.reason == "Conflict")
        #expect(error?.status?.details?.name == "a")
    }

    @Test("a non-Status error body still gives a reason")
    func plainErrorBody() async throws {
        let transport = ScriptedTransport([.init(status: 404, body: "404 page not found")])
        let error = await #expect(throws: KubernetesError.self) { try await client(transport).api(ConfigMap.self).get("a") }
        #expect(error?.isNotFound == true)
        #expect(error?.status?.reason == "NotFound")
        #expect(error?.status?.message == "404 page not found")
    }

    @Test("retryOnConflict re-runs the body on 409 and stops on other errors")
    func retryOnConflictHelper() async throws {
        let transport = ScriptedTransport([
            .init(status: 409, body: Self.conflict), .init(status: 409, body: Self.conflict), .init(status: 200, body: Self.ok),
        ])
        let api = try client(transport).api(ConfigMap.self)
        let result = try await retryOnConflict { try await api.replace(configMap("a")) }
        #expect(result.metadata.resourceVersion == "3")
        #expect(transport.requests.count == 3)
    }

    @Test("backoff grows exponentially, is capped, and jitters within bounds")
    func backoff() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1), jitter: 0.2)
        #expect(backoff.delay(attempt: 0, random: 0.5) == .milliseconds(100))
        #expect(backoff.delay(attempt: 3, random: 0.5) == .milliseconds(800))
        #expect(backoff.delay(attempt: 10, random: 0.5) == .seconds(1))
        #expect(backoff.delay(attempt: 0, random: 0) == .milliseconds(80))
        #expect(backoff.delay(attempt: 0, random: 1) == .milliseconds(120))
    }
}
