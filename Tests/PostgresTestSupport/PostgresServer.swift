public import Foundation
@_exported public import LocalPostgres

/// The real PostgreSQL server tests use: ``LocalPostgresServer`` (which starts, stops and
/// cleans up the server process), plus what only tests need — one server shared by the
/// whole test process and the `TINYFLOW_REQUIRE_POSTGRES` switch.
public typealias PostgresServer = LocalPostgresServer

extension LocalPostgresServer {
    /// What tests check for: set to `1`, tests that need PostgreSQL fail when it cannot start.
    public static let requiredVariable = "TINYFLOW_REQUIRE_POSTGRES"

    /// Whether the environment demands PostgreSQL (`TINYFLOW_REQUIRE_POSTGRES=1`).
    public static var isRequired: Bool { ProcessInfo.processInfo.environment[requiredVariable] == "1" }

    /// The server shared by every test of this process, started on first use.
    public static func shared() async throws -> LocalPostgresServer {
        try await sharedServer.get()
    }

    private static let sharedServer = SharedServer()
}

/// The process's shared server: started once; a failure is remembered, not retried per test.
private actor SharedServer {
    private var server: Result<LocalPostgresServer, any Error>?
    private var starting: Task<LocalPostgresServer, any Error>?

    func get() async throws -> LocalPostgresServer {
        if let server { return try server.get() }
        if let starting { return try await starting.value }
        let task = Task { try await LocalPostgresServer.launch() }
        starting = task
        let result = await task.result
        server = result
        starting = nil
        return try result.get()
    }
}
