public import ContextStorePostgres
import Foundation

/// Where a context store lives, as `--context-store` and the module chart's `context.store`
/// name it: `memory`, `sqlite:PATH` or a PostgreSQL URL (`postgres://user:password@host:port/db?sslmode=…`).
///
/// A PostgreSQL URL is parsed once, here, into its ``PostgresContextStore/Configuration``: a
/// bad URL is refused when the option is read, and everything shown of the location
/// (``description``, ``debugDescription``, ``customMirror``) is that configuration's redacted
/// form, without the password.
public enum ContextStoreLocation: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// In the process's memory: nothing survives it, nothing is shared.
    case memory
    /// One SQLite file, shared by the processes of one machine.
    case sqlite(path: String)
    /// A PostgreSQL database shared by every replica; the configuration holds credentials.
    case postgres(PostgresContextStore.Configuration)

    /// Parses a location; the error says which forms are accepted, or which part of a
    /// PostgreSQL URL is wrong, and never repeats a password.
    public init(parsing text: String) throws(ContextStoreLocationError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let scheme = trimmed.firstIndex(of: ":").map { trimmed[..<$0] }
        if trimmed == "memory" {
            self = .memory
        } else if scheme == "sqlite" {
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard !path.isEmpty else { throw ContextStoreLocationError(message: "sqlite: needs a file path, as in sqlite:/var/lib/tinyflow/context.db") }
            self = .sqlite(path: path)
        } else if scheme == "postgres" || scheme == "postgresql" {
            do {
                self = .postgres(try PostgresContextStore.Configuration(url: trimmed))
            } catch {
                throw ContextStoreLocationError(postgresURL: error)
            }
        } else {
            // Name the scheme only when it looks like one: text without a colon may be anything, a password included.
            let named = scheme.flatMap { $0.count <= 32 && $0.allSatisfy(Self.isSchemeCharacter) ? " \"\($0)\"" : nil } ?? ""
            throw ContextStoreLocationError(
                message: "unknown context store\(named): use memory, sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        }
    }

    /// The location without any password (`postgres://user:***@host:port/db`): what logs and status show.
    public var description: String {
        switch self {
        case .memory: "memory"
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let configuration): configuration.redacted
        }
    }

    /// The case and its redacted details: what `String(reflecting:)` and `print(debug:)` show.
    public var debugDescription: String {
        switch self {
        case .memory: "ContextStoreLocation.memory"
        case .sqlite(let path): "ContextStoreLocation.sqlite(path: \(String(reflecting: path)))"
        case .postgres(let configuration): "ContextStoreLocation.postgres(\(configuration.debugDescription))"
        }
    }

    /// What `dump` shows: the case with a redacted configuration (whose own mirror hides the password).
    public var customMirror: Mirror {
        switch self {
        case .memory: Mirror(self, children: [], displayStyle: .enum)
        case .sqlite(let path): Mirror(self, children: ["sqlite": path], displayStyle: .enum)
        case .postgres(let configuration): Mirror(self, children: ["postgres": configuration], displayStyle: .enum)
        }
    }

    /// Whether state in this store survives the process.
    public var isPersistent: Bool {
        if case .memory = self { return false }
        return true
    }

    private static func isSchemeCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "+-.".contains(character))
    }
}

/// A `--context-store` value that cannot be used: names no known store, or a PostgreSQL URL
/// with a part that is wrong. Never holds a password.
public struct ContextStoreLocationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong and what is accepted.
    public var message: String
    /// For a PostgreSQL URL, the part that is wrong and why.
    public var postgresURL: PostgresURLError?

    /// An error with only a message.
    public init(message: String) {
        self.message = message
        self.postgresURL = nil
    }

    /// A PostgreSQL URL that does not parse; the message is the URL error's.
    public init(postgresURL error: PostgresURLError) {
        self.message = error.description
        self.postgresURL = error
    }

    /// The message.
    public var description: String { message }
}
