@testable import ControlPlane
import Foundation
import JSONSchemaKit
import TestSupport
import Testing

@Suite("Control plane data directory", .timeLimit(.minutes(1)))
struct DataDirectoryPermissionsTests {
    /// Runs a control plane on `directory`, stores a Secret and checks, while it serves, that
    /// the database and the files SQLite keeps beside it (the WAL holds the Secret's value
    /// until a checkpoint) are the owner's only.
    private func storeASecret(_ name: String, in directory: URL) async throws {
        try await EmbeddedControlPlane.withRunning(dataDirectory: directory) { plane in
            let client = TestHTTPClient(baseURL: plane.baseURL, token: plane.token)
            let secret: JSONValue = [
                "apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string(name)], "stringData": ["password": "hunter2"],
            ]
            _ = try await client.create(secret, at: "/api/v1/namespaces/default/secrets")
            for name in ["state.db", "state.db-wal", "state.db-shm", "token"] {
                #expect(octal(permissions(of: directory.appendingPathComponent(name).path)) == "0600", "\(name) while serving")
            }
        }
    }

    /// Starts and stops a control plane with TLS on `directory` (it writes the key and certificate).
    private func startWithTLS(in directory: URL) async throws {
        try await EmbeddedControlPlane.withRunning(dataDirectory: directory, configure: { $0.tls = true }) { _ in }
    }

    /// Every file in `directory` is 0600 (the required ones exist) and it is 0700.
    private func expectPrivate(_ directory: URL) {
        #expect(octal(permissions(of: directory.path)) == "0700")
        for name in ["state.db", "token", "tls.key", "tls.crt"] {
            #expect(permissions(of: directory.appendingPathComponent(name).path) != nil, "\(name) exists")
        }
        for entry in permissionsBelow(directory) {
            #expect(octal(entry.mode) == (entry.isDirectory ? "0700" : "0600"), "\(entry.path)")
        }
    }

    @Test("state.db, its WAL and shared memory, the token and the TLS key are 0600 in a 0700 directory")
    func privateFromTheStart() async throws {
        try await withTemporaryDirectory { parent in
            let directory = parent.appendingPathComponent("control-plane")
            try await storeASecret("db", in: directory)
            try await startWithTLS(in: directory)
            expectPrivate(directory)
        }
    }

    @Test("a data directory and database left readable by others are tightened when the control plane starts on them")
    func tightensWhatItFinds() async throws {
        try await withTemporaryDirectory { parent in
            let directory = parent.appendingPathComponent("control-plane")
            try await storeASecret("db", in: directory)
            // As an earlier version left them.
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory.appendingPathComponent("state.db").path)
            try await storeASecret("cache", in: directory)
            try await startWithTLS(in: directory)
            expectPrivate(directory)
        }
    }
}
