import ContextStorePostgres
import ContextStores
import Testing

@Suite("--context-store locations")
struct ContextStoreLocationTests {
    @Test("memory, sqlite:PATH and postgres URLs parse to their stores")
    func parses() throws {
        #expect(try ContextStoreLocation(parsing: "memory") == .memory)
        #expect(try ContextStoreLocation(parsing: "sqlite:/var/lib/tinyflow/context.db") == .sqlite(path: "/var/lib/tinyflow/context.db"))
        #expect(try ContextStoreLocation(parsing: "sqlite://tmp/context.db") == .sqlite(path: "tmp/context.db"))
        #expect(
            try ContextStoreLocation(parsing: "postgres://u:p@db:5432/flows")
                == .postgres(PostgresContextStore.Configuration(host: "db", user: "u", password: "p", database: "flows")))
        #expect(
            try ContextStoreLocation(parsing: " postgresql://u@db/flows?sslmode=require ")
                == .postgres(PostgresContextStore.Configuration(host: "db", user: "u", database: "flows", tlsMode: .require)))
        #expect(try ContextStoreLocation(parsing: "memory").isPersistent == false)
        #expect(try ContextStoreLocation(parsing: "sqlite:x.db").isPersistent)
        #expect(try ContextStoreLocation(parsing: "postgres://u@db").isPersistent)
    }

    @Test("an unknown store or an empty SQLite path is refused naming what is accepted, without repeating credentials")
    func refuses() {
        #expect(throws: ContextStoreLocationError.self) { try ContextStoreLocation(parsing: "sqlite:") }
        do {
            _ = try ContextStoreLocation(parsing: "mysql://root:hunter2@db/flows")
            Issue.record("mysql was accepted")
        } catch {
            #expect(error.description.contains("use memory, sqlite:PATH or postgres://"))
            #expect(error.description.contains("\"mysql\""))
            #expect(!error.description.contains("hunter2"))
        }
        // Without a scheme the text may be anything, a bare password included: it is not repeated.
        let bare = #expect(throws: ContextStoreLocationError.self) { try ContextStoreLocation(parsing: "hunter2") }
        #expect(bare?.description.contains("hunter2") == false)
        let odd = #expect(throws: ContextStoreLocationError.self) { try ContextStoreLocation(parsing: "hunter 2:x") }
        #expect(odd?.description.contains("hunter") == false)
    }

    @Test(
        "a malformed PostgreSQL URL is refused when parsed, naming the wrong part and never the password",
        arguments: [
            ("postgres://u:topsecret@db:99999/flows", "port"),
            ("postgres://:topsecret@db/flows", "user"),
            ("postgres://u:top/secret@db/flows", "password"),
            ("postgres://u:topsecret%zz@db/flows", "password"),
            ("postgres://db/flows?password=topsecret", "user"),
            ("postgres://u@db/flows?pass%77ord=%zztopsecret", "password"),
            ("postgres://u:topsecret@db/flows?sslmode=sometimes", "parameter sslmode"),
            ("postgres:u:topsecret@db/flows", "scheme"),
        ])
    func refusesMalformedPostgresURL(url: String, part: String) {
        let error = #expect(throws: ContextStoreLocationError.self) { try ContextStoreLocation(parsing: url) }
        #expect(error?.postgresURL?.part == part)
        #expect(error?.description.hasPrefix("invalid PostgreSQL URL: \(part): ") == true, "\(String(describing: error))")
        #expect(error.map { "\($0) \(String(reflecting: $0))" }?.contains("secret") == false)
    }

    @Test(
        "a PostgreSQL location shows the configuration's redacted form, wherever the password was",
        arguments: [
            ("postgres://tinyflow:s3cret@db:5432/flows?sslmode=require", "postgres://tinyflow:***@db:5432/flows"),
            ("postgres://db/flows?user=a&password=s3cret", "postgres://a:***@db:5432/flows"),
            ("postgres://a@db/flows?pass%77ord=s3cret", "postgres://a:***@db:5432/flows"),
            ("postgres://a@db/flows?%70assword=s3cret&sslmode=disable", "postgres://a:***@db:5432/flows"),
            ("postgres://a:s3cr%65t@db/flows", "postgres://a:***@db:5432/flows"),
            ("postgresql://a@db", "postgres://a@db:5432/a"),
        ])
    func redacts(url: String, redacted: String) throws {
        let location = try ContextStoreLocation(parsing: url)
        #expect(location.description == redacted)
        guard case .postgres(let configuration) = location else { Issue.record("not postgres: \(location)"); return }
        #expect(location.description == configuration.redacted)
        var dumped = ""
        dump(location, to: &dumped)
        var dumpedConfiguration = ""
        dump(configuration, to: &dumpedConfiguration)
        for shown in [
            "\(location)", String(reflecting: location), dumped, "\(configuration)", String(reflecting: configuration),
            dumpedConfiguration, String(describing: Mirror(reflecting: location).children.map(\.value)),
        ] {
            #expect(!shown.contains("s3cr"), "\(shown)")
        }
        #expect(dumpedConfiguration.contains(configuration.password == nil ? "nil" : "***"), "\(dumpedConfiguration)")
        #expect(dumpedConfiguration.contains("db"))
    }
}
