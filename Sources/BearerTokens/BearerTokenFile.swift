import Foundation

/// A bearer token kept in a file: how the operator and the module hosts of one
/// `tinyflow up` run prove to each other that they belong together.
public enum BearerTokenFile {
    /// Why a token file could not be used.
    public struct Failure: Error, CustomStringConvertible {
        /// The file and what is wrong with it (never the token).
        public var description: String
    }

    /// The token in the file at `path`, surrounding whitespace removed.
    public static func read(_ path: String) throws(Failure) -> String {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Failure(description: "cannot read the token file \(path): \(error.localizedDescription)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else { throw Failure(description: "the token file \(path) holds no token of at least 16 characters") }
        return token
    }

    /// Writes a new random token (256 bits, hex) to `path`, readable by its owner only,
    /// and returns it.
    public static func create(at path: String) throws -> String {
        let token = BearerToken.random()
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.removeItem(at: url)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot create the token file \(path)")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: Data(token.utf8))
        return token
    }
}
