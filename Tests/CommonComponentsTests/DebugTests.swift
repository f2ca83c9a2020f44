import CommonComponents
import ComponentKit
import Logging
import Synchronization
import Testing

/// Keeps every line logged through it.
private struct RecordingLogHandler: LogHandler {
    let lines: Lines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    final class Lines: Sendable {
        private let storage = Mutex<[String]>([])
        func append(_ line: String) { storage.withLock { $0.append(line) } }
        var all: [String] { storage.withLock { $0 } }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) { lines.append(event.message.description) }
}

/// An output for a sink: nothing is wired.
private struct NoOutput: Output {
    struct Unwired: Error {}
    func send(_ port: String, _ message: Message) async throws {}
    func request(_ port: String, _ message: Message) async throws -> JSONValue { throw Unwired() }
    func reply(_ payload: JSONValue) async throws { throw Unwired() }
}

@Suite("Debug component")
struct DebugTests {
    /// Sends `payloads` to a fresh debug node with `settings`; returns what it kept and what it logged.
    private func run(settings: JSONValue?, payloads: [JSONValue]) async throws -> (kept: [Message], logged: [String]) {
        let lines = RecordingLogHandler.Lines()
        let logger = Logger(label: "debug-test") { _ in RecordingLogHandler(lines: lines) }
        let context = NodeContext(
            node: "watch", configurations: settings.map { [PortDefinition.settingsName: $0] } ?? [:], logger: logger)
        let debug = Debug()
        for payload in payloads {
            try await debug.handle(
                port: "in", message: Message(to: PortAddress(node: "watch", port: "in"), payload: payload), context: context,
                output: NoOutput())
        }
        return (await debug.recentMessages(), lines.all)
    }

    @Test("by default a debug node keeps its messages in memory and writes none of them to the log")
    func keepsWithoutLogging() async throws {
        let result = try await run(settings: nil, payloads: [["secret": "s3cr3t-1"], ["secret": "s3cr3t-2"]])
        #expect(result.kept.map(\.payload) == [["secret": "s3cr3t-1"], ["secret": "s3cr3t-2"]])
        #expect(result.logged.isEmpty)
    }

    @Test("with log: true each message is also written to the log")
    func logsWhenAsked() async throws {
        let result = try await run(settings: ["log": true], payloads: [["n": 1], ["n": 2]])
        #expect(result.kept.count == 2)
        #expect(result.logged.count == 2)
        #expect(result.logged.first?.contains("\"n\"") == true)
    }

    @Test("keep bounds the messages kept in memory, oldest dropped first")
    func keepsABoundedNumber() async throws {
        let result = try await run(settings: ["keep": 3], payloads: (1...10).map { JSONValue.integer($0) })
        #expect(result.kept.map(\.payload) == [8, 9, 10])
        #expect(result.logged.isEmpty)
    }
}
