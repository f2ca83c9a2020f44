/// The store's tables and functions, created or migrated on first use.
///
/// - `tinyflow_schema_versions` records which migration of each component ran.
/// - `tinyflow_context` holds one row per key: the value as the JSON text `JSONValue.jsonString`
///   writes (text, not jsonb, so values read back byte for byte), its version from the
///   `tinyflow_context_version` sequence, and its expiry. `key` sorts by bytes (`COLLATE "C"`),
///   so `keys(in:prefix:)` comes back in UTF-8 order. `tinyflow_context_expiry` (partial: rows
///   with an expiry only) finds a scope's expired rows without reading its other rows.
/// - `tinyflow_context_insert` and `tinyflow_context_increment` are the new-key paths: they take
///   an advisory lock on the scope, drop its expired rows, count its keys and write, in one
///   statement, so the key limit is exact across processes. Writes to existing live keys never
///   take the lock.
enum Schema {
    /// The component's name in `tinyflow_schema_versions`.
    static let component = "context-store"

    /// The advisory lock (two-int form, so it never meets the scopes' one-bigint locks) held while migrating.
    static let migrationLock: (Int32, Int32) = (0x7466_6c77, 1)  // "tflw"

    /// Creates the version table if needed.
    static let versionTable = """
        CREATE TABLE IF NOT EXISTS tinyflow_schema_versions (
            component text PRIMARY KEY,
            version integer NOT NULL,
            migrated_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// Migration `n` is `migrations[n - 1]`; each runs once, in order, in one transaction,
    /// under ``migrationLock``. The functions are written in their newest form by every
    /// migration that changes them (`CREATE OR REPLACE`), so running them all in order on an
    /// empty database and upgrading step by step end in the same schema.
    static let migrations: [[String]] = [
        // 1: the table, its version sequence and the new-key functions.
        [
            "CREATE SEQUENCE IF NOT EXISTS tinyflow_context_version AS bigint",
            """
            CREATE TABLE IF NOT EXISTS tinyflow_context (
                namespace text NOT NULL,
                kind text NOT NULL,
                name text NOT NULL,
                key text COLLATE "C" NOT NULL,
                value text NOT NULL,
                version bigint NOT NULL,
                expires_at timestamptz,
                PRIMARY KEY (namespace, kind, name, key)
            )
            """,
            insertFunction,
            incrementFunction,
        ],
        // 2: the expiring rows of a scope by index, so the new-key paths' lazy expiry is an
        // index range instead of a walk over the scope's rows, and their live-key count reads
        // indexes only.
        [
            """
            CREATE INDEX IF NOT EXISTS tinyflow_context_expiry ON tinyflow_context (namespace, kind, name, expires_at)
                WHERE expires_at IS NOT NULL
            """,
            insertFunction,
            incrementFunction,
        ],
    ]

    /// Writes a new key (or, unless `p_only_if_absent`, overwrites an existing one) under the
    /// scope's advisory lock: drops the scope's expired rows, then refuses with status 2 when
    /// the scope's live keys reach `p_max_keys`; status 1 (with the current row) when the key
    /// exists and `p_only_if_absent`; status 0 with the new version otherwise.
    static let insertFunction = """
        CREATE OR REPLACE FUNCTION tinyflow_context_insert(
            p_namespace text, p_kind text, p_name text, p_key text, p_value text,
            p_ttl_us bigint, p_max_keys bigint, p_only_if_absent boolean)
        RETURNS TABLE (o_status integer, o_version bigint, o_value text, o_expires_at timestamptz)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            existing record;
            live_keys bigint;
            written bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtextextended(p_namespace || E'\\x1f' || p_kind || E'\\x1f' || p_name, 0));
            DELETE FROM tinyflow_context t
                WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.expires_at <= now();
            SELECT t.value, t.version, t.expires_at INTO existing FROM tinyflow_context t
                WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.key = p_key
                FOR UPDATE;
            IF FOUND THEN
                IF p_only_if_absent THEN
                    RETURN QUERY SELECT 1, existing.version, existing.value, existing.expires_at;
                    RETURN;
                END IF;
            ELSE
                -- Live keys: the scope's keys by the primary key's prefix (an index-only scan),
                -- less any expired since the delete above (a fast-path write from a transaction that
                -- started earlier can set an expiry already past), by the expiry index.
                live_keys := (SELECT count(*) FROM tinyflow_context t
                        WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name)
                    - (SELECT count(*) FROM tinyflow_context t
                        WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.expires_at <= now());
                IF live_keys >= p_max_keys THEN
                    RETURN QUERY SELECT 2, NULL::bigint, NULL::text, NULL::timestamptz;
                    RETURN;
                END IF;
            END IF;
            INSERT INTO tinyflow_context AS t (namespace, kind, name, key, value, version, expires_at)
                VALUES (p_namespace, p_kind, p_name, p_key, p_value, nextval('tinyflow_context_version'),
                        now() + p_ttl_us * interval '1 microsecond')
                ON CONFLICT (namespace, kind, name, key) DO UPDATE
                SET value = EXCLUDED.value, version = EXCLUDED.version, expires_at = EXCLUDED.expires_at
                RETURNING t.version INTO written;
            RETURN QUERY SELECT 0, written, NULL::text, NULL::timestamptz;
        END
        $$
        """

    /// Adds to an integer key or creates it, under the scope's advisory lock as
    /// ``insertFunction``: status 0 with the total, 2 for too many keys, 3 when the value is
    /// not an integer (with its JSON type).
    static let incrementFunction = """
        CREATE OR REPLACE FUNCTION tinyflow_context_increment(
            p_namespace text, p_kind text, p_name text, p_key text, p_amount bigint,
            p_ttl_us bigint, p_max_keys bigint)
        RETURNS TABLE (o_status integer, o_total bigint, o_found text)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            existing text;
            live_keys bigint;
            total bigint;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtextextended(p_namespace || E'\\x1f' || p_kind || E'\\x1f' || p_name, 0));
            DELETE FROM tinyflow_context t
                WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.expires_at <= now();
            SELECT t.value INTO existing FROM tinyflow_context t
                WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.key = p_key
                FOR UPDATE;
            IF FOUND THEN
                IF existing !~ '^-?[0-9]+$' THEN
                    RETURN QUERY SELECT 3, NULL::bigint, jsonb_typeof(existing::jsonb);
                    RETURN;
                END IF;
                UPDATE tinyflow_context t
                    SET value = (t.value::bigint + p_amount)::text, version = nextval('tinyflow_context_version')
                    WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.key = p_key
                    RETURNING t.value::bigint INTO total;
            ELSE
                -- Live keys: the scope's keys by the primary key's prefix (an index-only scan),
                -- less any expired since the delete above (a fast-path write from a transaction that
                -- started earlier can set an expiry already past), by the expiry index.
                live_keys := (SELECT count(*) FROM tinyflow_context t
                        WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name)
                    - (SELECT count(*) FROM tinyflow_context t
                        WHERE t.namespace = p_namespace AND t.kind = p_kind AND t.name = p_name AND t.expires_at <= now());
                IF live_keys >= p_max_keys THEN
                    RETURN QUERY SELECT 2, NULL::bigint, NULL::text;
                    RETURN;
                END IF;
                INSERT INTO tinyflow_context (namespace, kind, name, key, value, version, expires_at)
                    VALUES (p_namespace, p_kind, p_name, p_key, p_amount::text, nextval('tinyflow_context_version'),
                            now() + p_ttl_us * interval '1 microsecond');
                total := p_amount;
            END IF;
            RETURN QUERY SELECT 0, total, NULL::text;
        END
        $$
        """
}
