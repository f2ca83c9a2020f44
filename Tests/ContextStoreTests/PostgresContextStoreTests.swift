import ContextStoreAPI
import ContextStorePostgres
import ContextStores
import Foundation
import JSONSchemaKit
import PostgresTestSupport
import TestSupport
import Testing

/// A store on a new database of the shared test server whose `run()` goes on in a task of its
/// own until the store is closed (for the conformance suite's factory, which hands the store
/// out; tests of this file use ``withRunningStore``).
func startedPostgresStore(limits: ContextLimits = ContextLimits()) async throws -> PostgresContextStore {
    let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
    let store = PostgresContextStore(configuration: configuration, limits: limits)
    Task { try await store.run() }  // returns when the store is closed
    return store
}

/// The configuration of `url` with deadlines for semantics, not speed: dozens of tests share a
/// busy machine, each creating its schema on first use.
private func patientConfiguration(url: String) throws -> PostgresContextStore.Configuration {
    var configuration = try PostgresContextStore.Configuration(url: url)
    configuration.operationTimeout = .seconds(20)
    configuration.availabilityTimeout = .seconds(20)
    return configuration
}

/// Runs `body` with a store on `configuration` whose `run()` goes on beside it, then closes it.
private func withRunningStore<T: Sendable>(
    _ configuration: PostgresContextStore.Configuration, limits: ContextLimits = ContextLimits(),
    _ body: @Sendable (PostgresContextStore) async throws -> T
) async throws -> T {
    let store = PostgresContextStore(configuration: configuration, limits: limits)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await store.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body(store)) } catch { result = .failure(error) }
        await store.close()
        try await group.waitForAll()
        return try result.get()
    }
}

/// Whether the PostgreSQL tests run: when PostgreSQL is installed, or required (then they fail if it cannot start).
private let postgresTestsEnabled = PostgresServer.isRequired || PostgresServer.isInstalled
private let postgresMissing: Comment =
    "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres); set TINYFLOW_REQUIRE_POSTGRES=1 to make that a failure"

private let flow = ContextScope.flow(namespace: "default", flow: "orders")
private let node = ContextScope.node(namespace: "default", node: "counter")

@Suite("PostgreSQL context store URL")
struct PostgresConfigurationTests {
    typealias Configuration = PostgresContextStore.Configuration

    @Test("a full URL gives every part, percent-decoded")
    func fullURL() throws {
        let configuration = try Configuration(
            url: "postgres://tiny%20flow:p%40ss%3Aw%2Frd@db.example.com:6543/context%2Ddb"
                + "?sslmode=verify-full&sslrootcert=/etc/tinyflow/ca.pem&pool_max=7&connect_timeout=2.5&operation_timeout=3")
        #expect(configuration.user == "tiny flow")
        #expect(configuration.password == "p@ss:w/rd")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "context-db")
        #expect(configuration.tlsMode == .verifyFull)
        #expect(configuration.rootCertificatePath == "/etc/tinyflow/ca.pem")
        #expect(configuration.maxConnections == 7)
        #expect(configuration.connectTimeout == .milliseconds(2500))
        #expect(configuration.operationTimeout == .seconds(3))
    }

    @Test("postgresql:// works too, and the defaults are libpq's")
    func defaults() throws {
        let configuration = try Configuration(url: "postgresql://tinyflow@postgres")
        #expect(configuration.user == "tinyflow")
        #expect(configuration.password == nil)
        #expect(configuration.host == "postgres")
        #expect(configuration.port == 5432)
        #expect(configuration.database == nil)
        #expect(configuration.tlsMode == .prefer)
        #expect(configuration.maxConnections == 20)
        #expect(configuration.redacted == "postgres://tinyflow@postgres:5432/tinyflow")
    }

    @Test("an IPv6 host is written in brackets")
    func ipv6() throws {
        let configuration = try Configuration(url: "postgres://u:secret@[::1]:5433/db?sslmode=disable")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5433)
        #expect(configuration.tlsMode == .disable)
        #expect(configuration.redacted == "postgres://u:***@[::1]:5433/db")
    }

    @Test("the redacted form and the description never show the password")
    func redacted() throws {
        let configuration = try Configuration(url: "postgres://tinyflow:hunter2@db:5432/context?password=hunter3")
        #expect(configuration.password == "hunter3")
        #expect(configuration.redacted == "postgres://tinyflow:***@db:5432/context")
        #expect(configuration.description == configuration.redacted)
        #expect(!"\(configuration)".contains("hunter"))
        #expect(!String(reflecting: configuration.redacted).contains("hunter"))
        #expect(!String(reflecting: configuration).contains("hunter"))
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("hunter") && dumped.contains("***"), "\(dumped)")
    }

    @Test("a percent-encoded parameter name is decoded: pass%77ord is the password, and is hidden")
    func encodedParameterName() throws {
        let configuration = try Configuration(url: "postgres://tinyflow@db/context?pass%77ord=hunter2&%73slmode=require")
        #expect(configuration.password == "hunter2")
        #expect(configuration.tlsMode == .require)
        #expect(configuration.redacted == "postgres://tinyflow:***@db:5432/context")
        #expect(!String(reflecting: configuration).contains("hunter"))
    }

    @Test("every connection asks the server for deadlines equal to the operation timeout")
    func serverDeadlines() throws {
        var configuration = try Configuration(url: "postgres://u@h/db?operation_timeout=2.5&application_name=checker")
        var parameters = Dictionary(configuration.startupParameters, uniquingKeysWith: { first, _ in first })
        #expect(parameters == ["application_name": "checker", "statement_timeout": "2500ms", "lock_timeout": "2500ms"])
        configuration.operationTimeout = .microseconds(1)
        parameters = Dictionary(configuration.startupParameters, uniquingKeysWith: { first, _ in first })
        #expect(parameters["statement_timeout"] == "1ms", "0 would mean no deadline")
        configuration.operationTimeout = .seconds(86_400 * 365)
        parameters = Dictionary(configuration.startupParameters, uniquingKeysWith: { first, _ in first })
        #expect(parameters["lock_timeout"] == "\(Int32.max)ms", "the server's largest")
    }

    @Test("an operation whose task is cancelled throws CancellationError, not unavailable")
    func cancelledWhileWaitingForRun() async throws {
        var configuration = try Configuration(url: "postgres://u:topsecret@127.0.0.1:1/db?sslmode=disable")
        configuration.operationTimeout = .seconds(30)
        let store = PostgresContextStore(configuration: configuration)  // never run: the operation waits
        let operation = Task { try await store.get("k", in: node) }
        try await Task.sleep(for: .milliseconds(50))
        operation.cancel()
        await #expect(throws: CancellationError.self) { try await operation.value }
        // Cancelled before it starts, too.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await store.get("k", in: node)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        await store.close()
    }

    @Test(
        "a malformed URL names the wrong part and never the password",
        arguments: [
            ("mysql://u:topsecret@h/db", "scheme"),
            ("postgres://u:topsecret@/db", "host"),
            ("postgres://u:topsecret@h:99999/db", "port"),
            ("postgres://u:topsecret@h:5x/db", "port"),
            ("postgres://u:topsecret@[::1/db", "host"),
            ("postgres://u:topsecret%zz@h/db", "password"),
            ("postgres://u%zz:topsecret@h/db", "user"),
            ("postgres://:topsecret@h/db", "user"),
            ("postgres://u:top/secret@h/db", "password"),
            ("postgres://u:top?secret@h/db", "password"),
            ("postgres://u:topsecret@h/a/b", "database"),
            ("postgres://u:topsecret@h/db?sslmode=sometimes", "parameter sslmode"),
            ("postgres://u:topsecret@h/db?pool_max=0", "parameter pool_max"),
            ("postgres://u:topsecret@h/db?connect_timeout=-1", "parameter connect_timeout"),
            ("postgres://u:topsecret@h/db?frobnicate=1", "parameter frobnicate"),
            ("postgres://u:topsecret@h/db?password=%zztopsecret", "password"),
            ("postgres://u:topsecret@h/db?sslmode=disable&sslrootcert=/ca.pem", "parameter sslrootcert"),
        ])
    func malformed(url: String, part: String) throws {
        let error = #expect(throws: PostgresURLError.self) { try Configuration(url: url) }
        #expect(error?.part == part)
        #expect(error?.description.contains("secret") == false, "\(String(describing: error))")
        #expect(error.map { String(reflecting: $0) }?.contains("secret") == false)
    }

    @Test("an unreadable CA file makes every operation unavailable, naming the file")
    func unreadableCAFile() async throws {
        let configuration = try Configuration(
            url: "postgres://u:topsecret@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
        let error = await #expect(throws: ContextStoreError.self) {
            try await withRunningStore(configuration) { store in try await store.get("k", in: node) }
        }
        guard case .unavailable(let store, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(store == "postgres://u:***@127.0.0.1:1/db")
        #expect(reason.contains("/nonexistent/ca.pem"))
    }
}

@Suite(
    "PostgreSQL context store", .enabled(if: postgresTestsEnabled, postgresMissing), .timeLimit(.minutes(3)))
struct PostgresContextStoreTests {
    @Test("two stores (two pools, as two replicas) incrementing one flow key 2,000 times each end at exactly 4,000")
    func twoReplicasIncrement() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        let configuration = try patientConfiguration(url: url)
        let clock = ContinuousClock()
        let start = clock.now
        try await withRunningStore(configuration) { first in
            try await withRunningStore(configuration) { second in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for store in [first, second] {
                        for _ in 0..<8 {
                            group.addTask { for _ in 0..<250 { _ = try await store.increment("total", in: flow) } }
                        }
                    }
                    try await group.waitForAll()
                }
                #expect(try await first.get("total", in: flow)?.value == 4_000)
                #expect(try await second.get("total", in: flow)?.value == 4_000)
            }
        }
        let elapsed = start.duration(to: clock.now)
        print("two replicas: 4,000 contended increments in \(elapsed)")
    }

    @Test("the key limit is exact when two stores write new keys into one scope at once")
    func keyLimitAcrossReplicas() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        let configuration = try patientConfiguration(url: url)
        let limits = ContextLimits(maxKeysPerScope: 50)
        try await withRunningStore(configuration, limits: limits) { first in
            try await withRunningStore(configuration, limits: limits) { second in
                let written = try await withThrowingTaskGroup(of: Int.self) { group in
                    for (index, store) in [first, second].enumerated() {
                        for task in 0..<4 {
                            group.addTask {
                                var written = 0
                                for key in 0..<20 {
                                    do {
                                        try await store.set("k-\(index)-\(task)-\(key)", to: 1, in: node)
                                        written += 1
                                    } catch ContextStoreError.tooManyKeys {}
                                }
                                return written
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(written == 50)
                #expect(try await first.keys(in: node).count == 50)
            }
        }
    }

    @Test("several stores starting at once on an empty database create the schema once, without errors")
    func concurrentMigration() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        let configuration = try patientConfiguration(url: url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<6 {
                group.addTask {
                    _ = try await withRunningStore(configuration) { store in
                        try await store.set("k\(index)", to: .integer(index), in: node)
                    }
                }
            }
            try await group.waitForAll()
        }
        let keys = try await withRunningStore(configuration) { store in try await store.keys(in: node) }
        #expect(keys == ["k0", "k1", "k2", "k3", "k4", "k5"])
    }

    @Test("an operation before run() started fails within the deadline; after close it fails at once")
    func notRunning() async throws {
        var configuration = try PostgresContextStore.Configuration(url: try await PostgresServer.shared().createDatabase())
        configuration.operationTimeout = .milliseconds(300)
        let store = PostgresContextStore(configuration: configuration)
        let error = await #expect(throws: ContextStoreError.self) { try await store.get("k", in: node) }
        guard case .unavailable(_, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(reason.contains("run()"))
        await store.close()
        await #expect(throws: ContextStoreError.unavailable(store: configuration.redacted, reason: "the store is closed")) {
            try await store.get("k", in: node)
        }
        try await store.run()  // returns at once: the store is closed
    }

    @Test("a location parsed from a real URL shows and dumps neither the password nor its encoded form")
    func locationHidesRealPassword() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        #expect(url.contains(PostgresServer.encodedPassword), "the URL carries the encoded password")
        let location = try ContextStoreLocation(parsing: url)
        guard case .postgres(let configuration) = location else { Issue.record("not postgres: \(location)"); return }
        #expect(configuration.password == PostgresServer.password)
        var dumped = ""
        dump(location, to: &dumped)
        for shown in ["\(location)", String(reflecting: location), dumped, String(reflecting: configuration)] {
            #expect(!shown.contains(PostgresServer.password) && !shown.contains(PostgresServer.encodedPassword), "\(shown)")
        }
    }

    @Test("operations cancelled while they talk to the server throw CancellationError; the store works afterwards")
    func cancelledWhileRunning() async throws {
        let configuration = try patientConfiguration(url: try await PostgresServer.shared().createDatabase())
        try await withRunningStore(configuration) { store in
            _ = try await store.increment("n", in: flow)  // the schema is in place
            var cancelled = 0
            for attempt in 0..<30 {
                let operation = Task {
                    if attempt.isMultiple(of: 2) {
                        _ = try await store.increment("n", in: flow)
                    } else {
                        try await store.set("new-\(attempt)", to: .integer(attempt), in: flow, ttl: .seconds(600))
                    }
                }
                try await Task.sleep(for: .microseconds(attempt * 200))
                operation.cancel()
                do {
                    try await operation.value
                } catch is CancellationError {
                    cancelled += 1
                } catch {
                    Issue.record("attempt \(attempt): \(String(reflecting: error))")
                }
            }
            print("cancelled \(cancelled) of 30 writes mid-flight")
            #expect(try await store.increment("n", in: flow) >= 2)
            try await store.checkAvailability()
        }
    }

    @Test("a wrong password is reported by checkAvailability as an authentication failure, without the password")
    func wrongPassword() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        var wrong = try PostgresContextStore.Configuration(url: url)
        wrong.password = "not-the-password"
        // The refusal comes at once; the time is for a loaded machine, where connecting to a
        // server that many parallel tests share took more than 3 s.
        wrong.operationTimeout = .seconds(20)
        wrong.availabilityTimeout = .seconds(20)
        let configuration = wrong
        try await withRunningStore(configuration) { store in
            let error = await #expect(throws: ContextStoreError.self) { try await store.checkAvailability() }
            guard case .unavailable(let name, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(name == configuration.redacted)
            #expect(reason.contains("password authentication failed"), "\(reason)")
            #expect(!reason.contains("not-the-password") && !reason.contains(PostgresServer.password))
            #expect(!reason.contains("not%2Dthe%2Dpassword") && !reason.contains(PostgresServer.encodedPassword))
        }
    }

    @Test("sslmode=require against a server without TLS is reported as such by checkAvailability")
    func tlsRequired() async throws {
        let url = try await PostgresServer.shared().createDatabase()
        var required = try PostgresContextStore.Configuration(url: url)
        required.tlsMode = .require
        // The refusal comes at once; the time is for a loaded machine, where connecting to a
        // server that many parallel tests share took more than 3 s.
        required.operationTimeout = .seconds(20)
        required.availabilityTimeout = .seconds(20)
        let configuration = required
        try await withRunningStore(configuration) { store in
            let error = await #expect(throws: ContextStoreError.self) { try await store.checkAvailability() }
            guard case .unavailable(_, let reason)? = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(reason.contains("does not support TLS"), "\(reason)")
        }
    }

    @Test("PostgreSQL stopped: operations fail as unavailable within the deadline; started again: the same store works")
    func outageAndRecovery() async throws {
        let server = try await PostgresServer.launch()
        do {
            try await outage(on: server)
        } catch {
            await server.terminate()
            throw error
        }
        await server.terminate()
    }

    private func outage(on server: PostgresServer) async throws {
        var short = try PostgresContextStore.Configuration(url: try await server.createDatabase())
        short.operationTimeout = .seconds(2)
        short.connectTimeout = .seconds(1)
        let configuration = short
        try await withRunningStore(configuration) { store in
            try await store.set("k", to: "before", in: flow)
            #expect(try await store.increment("n", in: flow) == 1)
            try await store.checkAvailability()

            await server.stop()
            let clock = ContinuousClock()
            for operation in ["get", "set", "increment", "checkAvailability"] {
                let start = clock.now
                let error = await #expect(throws: ContextStoreError.self, "\(operation)") {
                    switch operation {
                    case "get": _ = try await store.get("k", in: flow)
                    case "set": try await store.set("k", to: "during", in: flow)
                    case "increment": _ = try await store.increment("n", in: flow)
                    default: try await store.checkAvailability()
                    }
                }
                let elapsed = start.duration(to: clock.now)
                #expect(elapsed < .seconds(5), "\(operation) took \(elapsed)")
                guard case .unavailable(let name, let reason)? = error else {
                    Issue.record("\(operation): expected unavailable, got \(String(describing: error))")
                    continue
                }
                #expect(name == configuration.redacted)
                #expect(!reason.isEmpty && !reason.contains(PostgresServer.password))
                #expect(!reason.contains(PostgresServer.encodedPassword))
            }

            try await server.start()
            // The same store instance, once its pool reconnected (an operation can still miss its
            // 2 s deadline on a loaded machine: each is retried until it answers).
            try await eventually("the store reads what it wrote before", timeout: .seconds(60), interval: .milliseconds(100)) {
                (try? await store.get("k", in: flow))?.value == "before"
            }
            try await eventually("an increment counts again", timeout: .seconds(30), interval: .milliseconds(100)) {
                ((try? await store.increment("n", in: flow)) ?? 0) >= 2
            }
            try await eventually("available again", timeout: .seconds(30), interval: .milliseconds(100)) {
                (try? await store.checkAvailability()) != nil
            }
        }
    }
}
