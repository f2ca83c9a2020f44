public import ConfigurationReferences
public import Logging

/// A log handler that replaces known secret values (``SecretRedaction``) by `***` in
/// every message and metadata value — the event's, the logger's and its provider's — before
/// the handler it wraps sees them: a module host's logs never show a secret, even one a flow
/// put into a message that is logged. It wraps value-type handlers (as `StreamLogHandler`),
/// whose copy it writes through.
public struct RedactingLogHandler: LogHandler {
    /// The handler that writes.
    public var base: any LogHandler
    /// The values to redact.
    public let redaction: SecretRedaction

    /// Wraps `base`.
    public init(base: any LogHandler, redaction: SecretRedaction) {
        self.base = base
        self.redaction = redaction
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        let redactor = redaction.redactor
        guard !redactor.isEmpty else {
            base.log(event: event)
            return
        }
        var event = event
        event.message = Logger.Message(stringLiteral: redactor.redact(event.message.description))
        // The logger's own metadata and its provider's are redacted too: merged here, in the
        // precedence the handler would give them, and the writer gets none of its own.
        var metadata = base.metadata
        if let provider = base.metadataProvider { metadata.merge(provider.get()) { _, new in new } }
        if let given = event.metadata { metadata.merge(given) { _, new in new } }
        event.metadata = metadata.isEmpty ? nil : metadata.mapValues { Self.redact($0, redactor) }
        if let error = event.error {
            let text = "\(error)"
            let redacted = redactor.redact(text)
            if redacted != text { event.error = RedactedError(description: redacted) }
        }
        var writer = base
        writer.metadata = [:]
        writer.metadataProvider = nil
        writer.log(event: event)
    }

    private static func redact(_ value: Logger.Metadata.Value, _ redactor: Redactor) -> Logger.Metadata.Value {
        switch value {
        case .string(let string): .string(redactor.redact(string))
        case .stringConvertible(let convertible): .string(redactor.redact(convertible.description))
        case .array(let values): .array(values.map { redact($0, redactor) })
        case .dictionary(let values): .dictionary(values.mapValues { redact($0, redactor) })
        }
    }
}

extension Logger {
    /// This logger with secret values redacted (``RedactingLogHandler``); the same logger
    /// when it redacts with `redaction` already.
    public func redacting(_ redaction: SecretRedaction) -> Logger {
        if let handler = handler as? RedactingLogHandler, handler.redaction === redaction { return self }
        var logger = self
        logger.handler = RedactingLogHandler(base: handler, redaction: redaction)
        return logger
    }
}

/// An error whose text had a secret in it, as logged instead of it.
struct RedactedError: Error, CustomStringConvertible {
    var description: String
}
