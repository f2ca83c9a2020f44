@testable import ControlPlane
import Foundation
import JSONSchemaKit
import TestSupport
import Testing

/// A fresh temporary directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tinyflow-cp-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}

/// Runs `body` against a control plane on a new data directory, with a client that sends its token.
func withPlane<T: Sendable>(
    configure: @escaping (inout ControlPlaneConfiguration) -> Void = { _ in },
    _ body: (EmbeddedControlPlane, TestHTTPClient) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        try await EmbeddedControlPlane.withRunning(dataDirectory: directory, configure: configure) { plane in
            try await body(plane, TestHTTPClient(baseURL: plane.baseURL, token: plane.token))
        }
    }
}

enum Fixtures {
    static func url(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
    }

    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }

    static let nodes = "/apis/tinyflow.dev/v1alpha1/namespaces/default/tinynodes"
    static let crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

    static func node(_ name: String, module: String = "common", component: String = "ticker", labels: [String: JSONValue] = [:]) -> JSONValue {
        ["apiVersion": "tinyflow.dev/v1alpha1", "kind": "TinyNode",
         "metadata": ["name": .string(name), "labels": .object(labels)],
         "spec": ["module": .string(module), "component": .string(component)]]
    }
}

extension TestHTTPClient {
    /// Installs the TinyNode CRD fixture (YAML body, as `kubectl create --raw` would send).
    func installTinyNodeCRD() async throws {
        let response = try await send("POST", Fixtures.crds, raw: try Fixtures.data("tinynodes-crd.yaml"), contentType: "application/yaml")
        #expect(response.status == 201, "\(String(decoding: response.body, as: UTF8.self))")
    }

    func create(_ object: JSONValue, at path: String = Fixtures.nodes) async throws -> JSONValue {
        let response = try await send("POST", path, json: object)
        try #require(response.status == 201, "\(response.status): \(String(decoding: response.body, as: UTF8.self))")
        return response.json
    }

    func get(_ path: String) async throws -> TestResponse { try await send("GET", path) }
}

extension JSONValue {
    var resourceVersion: String { self["metadata"]?["resourceVersion"]?.stringValue ?? "" }
    var generation: Int { self["metadata"]?["generation"]?.intValue ?? 0 }
}

/// Collects a watch stream's lines in the background so tests can wait for them.
actor WatchRecorder {
    private(set) var lines: [JSONValue] = []
    private(set) var finished = false
    private var task: Task<Void, Never>?

    init(_ stream: AsyncThrowingStream<JSONValue, any Error>) {
        let log = self
        let task = Task {
            do {
                for try await line in stream { await log.append(line) }
            } catch {}
            await log.finish()
        }
        Task { await log.setTask(task) }
    }

    private func setTask(_ task: Task<Void, Never>) { self.task = task }
    private func append(_ line: JSONValue) { lines.append(line) }
    private func finish() { finished = true }

    /// The watch events received so far (the leading status line excluded).
    var events: [JSONValue] { lines.filter { $0["type"] != nil } }

    /// The HTTP status of the watch response, once known.
    var status: Int? { lines.first?["status"]?.intValue }

    func cancel() { task?.cancel() }

    /// Waits until at least `count` events arrived and returns them.
    nonisolated func waitForEvents(
        _ count: Int, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [JSONValue] {
        try await eventually("\(count) watch events", timeout: timeout, context: { "\(await self.events.count) arrived" },
                             sourceLocation: sourceLocation) { await self.events.count >= count }
        return await events
    }

    /// Waits until the server closed the stream.
    nonisolated func waitForEnd(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await eventually("the watch to end", timeout: timeout, sourceLocation: sourceLocation) { await self.finished }
    }
}
