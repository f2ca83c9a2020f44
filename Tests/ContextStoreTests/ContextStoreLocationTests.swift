import ContextStores
import Testing

@Suite("--context-store locations")
struct ContextStoreLocationTests {
    @Test("memory, sqlite:PATH and postgres URLs parse to their stores")
    func parses() throws {
        #expect(try ContextStoreLocation(parsing: "memory") == .memory)
        #expect(try ContextStoreLocation(parsing: "sqlite:/var/lib/tinyflow/context.db") == .sqlite(path: "/var/lib/tinyflow/context.db"))
        #expect(try ContextStoreLocation(parsing: "sqlite://tmp/context.db") == .sqlite(path: "tmp/context.db"))
        #expect(try ContextStoreLocation(parsing: "postgres://u:p@db:5432/flows") == .postgres(url: "postgres://u:p@db:5432/flows"))
        #expect(try ContextStoreLocation(parsing: "postgresql://db/flows") == .postgres(url: "postgresql://db/flows"))
        #expect(try ContextStoreLocation(parsing: "memory").isPersistent == false)
        #expect(try ContextStoreLocation(parsing: "sqlite:x.db").isPersistent)
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
    }

    @Test("the description of a PostgreSQL location hides its password, in the user part and in the query")
    func redacts() throws {
        #expect(try ContextStoreLocation(parsing: "postgres://tinyflow:s3cret@db:5432/flows?sslmode=require").description
            == "postgres://tinyflow:***@db:5432/flows?sslmode=require")
        #expect(try ContextStoreLocation(parsing: "postgres://db/flows?user=a&password=s3cret").description
            == "postgres://db/flows?user=a&password=***")
        #expect(try ContextStoreLocation(parsing: "postgres://db/flows").description == "postgres://db/flows")
    }
}
