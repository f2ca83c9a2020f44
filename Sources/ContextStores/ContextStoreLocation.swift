import Foundation

/// Where a context store lives, as `--context-store` and the module chart's `context.store`
/// name it: `memory`, `sqlite:PATH` or a PostgreSQL URL (`postgres://user:password@host:port/db?sslmode=…`).
public enum ContextStoreLocation: Sendable, Hashable, CustomStringConvertible {
    /// In the process's memory: nothing survives it, nothing is shared.
    case memory
    /// One SQLite file, shared by the processes of one machine.
    case sqlite(path: String)
    /// A PostgreSQL database shared by every replica; the URL holds credentials.
    case postgres(url: String)

    /// Parses a location; the error says which forms are accepted (and never repeats a password).
    public init(parsing text: String) throws(ContextStoreLocationError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "memory" {
            self = .memory
        } else if trimmed.hasPrefix("sqlite:") {
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else { throw ContextStoreLocationError(message: "sqlite: needs a file path, as in sqlite:/var/lib/tinyflow/context.db") }
            self = .sqlite(path: path)
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(url: trimmed)
        } else {
            let scheme = trimmed.split(separator: ":", maxSplits: 1).first.map(String.init) ?? trimmed
            throw ContextStoreLocationError(
                message: "unknown context store \"\(scheme.prefix(32))\": use memory, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
    }

    /// The location with any password replaced by `***`: what logs and status show.
    public var description: String {
        switch self {
        case .memory: "memory"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): Self.redacting(url)
        }
    }

    /// Whether state in this store survives the process.
    public var isPersistent: Bool {
        if case .memory = self { return false }
        return true
    }

    /// `postgres://user:***@host/db` for `postgres://user:secret@host/db`.
    static func redacting(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else {
            return redactingQueryPassword(url)
        }
        let redacted = url[..<schemeEnd.upperBound] + rest[..<colon] + ":***" + rest[at...]
        return redactingQueryPassword(String(redacted))
    }

    /// Replaces a `password=` query parameter's value too.
    private static func redactingQueryPassword(_ url: String) -> String {
        guard let query = url.firstIndex(of: "?") else { return url }
        let parameters = url[url.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { parameter in
            parameter.lowercased().hasPrefix("password=") ? "password=***" : String(parameter)
        }
        return url[...query] + parameters.joined(separator: "&")
    }
}

/// A `--context-store` value that names no known store.
public struct ContextStoreLocationError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what is accepted.
    public var message: String
    /// The message.
    public var description: String { message }
}
