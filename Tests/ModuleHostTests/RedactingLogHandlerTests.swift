import ConfigurationReferences
import Logging
import ModuleHost
import Synchronization
import Testing

/// A handler that keeps what it is asked to write.
private struct RecordingHandler: LogHandler {
    let box: Box
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provider = metadataProvider { all.merge(provider.get()) { _, new in new } }
        if let given = event.metadata { all.merge(given) { _, new in new } }
        let text = "\(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
        box.lines.withLock { $0.append(text) }
    }
}

private final class Box: Sendable {
    let lines = Mutex<[String]>([])
}

@Suite("Redacting log handler")
struct RedactingLogHandlerTests {
    @Test("secret values vanish from the message, the event's metadata, the logger's own metadata and its provider's")
    func redactsEverywhere() {
        let box = Box()
        let redaction = SecretRedaction()
        redaction.add(["hunter2-password"])
        let provider = Logger.MetadataProvider { ["from-provider": "hunter2-password"] }
        var logger = Logger(label: "test") { _ in
            var handler = RecordingHandler(box: box)
            handler.metadataProvider = provider
            return handler
        }.redacting(redaction)
        logger[metadataKey: "node"] = "uses hunter2-password"
        logger.info("connected with hunter2-password", metadata: ["given": "hunter2-password"])
        let line = box.lines.withLock { $0.joined() }
        #expect(!line.contains("hunter2-password"), "\(line)")
        #expect(line.contains("connected with ***"))
        #expect(line.contains("from-provider=***"))
        #expect(line.contains("given=***"))
        #expect(line.contains("node=uses ***"))
    }
}
