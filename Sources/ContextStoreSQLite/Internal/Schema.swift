import ContextStoreAPI
import SQLite

/// The store's tables, created or migrated when a store opens.
///
/// - `context_entries` holds one row per key (expired rows too, until they are purged): the
///   value as JSON text, its version and its expiry in Unix milliseconds.
/// - `context_version` is a one-row counter: every write takes the next number in the same
///   transaction, so all processes sharing the file draw from one increasing sequence.
/// - `context_schema` records the schema version.
/// - Version 2 adds the queues of durable edges (``MessageSchema``), so that a settlement and
///   the context writes it carries commit in one transaction of the same file.
enum Schema {
    /// One script per schema version: `migrations[n]` takes the database from version `n` to `n + 1`.
    /// Append to it; never change a script that shipped.
    static let migrations: [String] = [
        """
        CREATE TABLE context_entries (
            namespace TEXT NOT NULL,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            key TEXT NOT NULL,
            version INTEGER NOT NULL,
            expires_at INTEGER,
            value TEXT NOT NULL,
            PRIMARY KEY (namespace, kind, name, key)
        ) WITHOUT ROWID;
        CREATE INDEX context_entries_expiry ON context_entries (namespace, kind, name, expires_at)
            WHERE expires_at IS NOT NULL;
        CREATE TABLE context_version (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
        INSERT INTO context_version (id, last) VALUES (1, 0);
        """,
        MessageSchema.tables,
    ]

    /// Brings the schema to the newest version, in one transaction, so two processes opening
    /// a new file at once do not both create it. A file that is up to date is only read: opening
    /// it does not wait for another process's write lock.
    static func migrate(_ database: SQLiteDatabase, store: String) throws {
        if try version(of: database) == migrations.count { return }
        try database.transaction {
            try database.execute("CREATE TABLE IF NOT EXISTS context_schema (version INTEGER NOT NULL)")
            let current = try version(of: database)
            guard current <= migrations.count else {
                throw ContextStoreError.unavailable(
                    store: store,
                    reason: "the database has schema version \(current), this tinyflow knows up to \(migrations.count): upgrade tinyflow")
            }
            guard current < migrations.count else { return }
            for script in migrations[Int(current)...] {
                try database.execute(script)
            }
            try database.execute("DELETE FROM context_schema")
            try database.query("INSERT INTO context_schema (version) VALUES (?)", [.int(Int64(migrations.count))])
        }
    }

    /// The schema version of the file (0: none yet).
    private static func version(of database: SQLiteDatabase) throws -> Int64 {
        let table = try database.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'context_schema'")
        guard !table.isEmpty else { return 0 }
        return try database.query("SELECT max(version) FROM context_schema").first?.first?.int ?? 0
    }
}
