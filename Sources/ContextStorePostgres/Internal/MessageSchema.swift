/// The message store's tables, created or migrated on first use like the context schema
/// (``Schema``), in the same database, under the same migration lock, as the component
/// `message-store` of `tinyflow_schema_versions`.
///
/// - `tinyflow_messages` holds the messages waiting in queues or leased: the ``DurableQueue``
///   (`namespace`, `node`, `port`), the edge, the `ComponentKit.Message` as JSON text (`body`),
///   its `priority` and `deadline` copied into columns for the queue's order, and `visible_at`:
///   when the message may be claimed — its `availableAt` while it waits, its lease's expiry
///   while leased (a lease that expires makes the message claimable with no write). `lease_token`
///   is the current claim's token from `tinyflow_message_lease` (`NULL`: never claimed, or
///   released by a retry). Ids come from `tinyflow_message_id`: increasing in arrival order,
///   unique across both tables (a dead letter keeps its message's id; a replay is a new arrival, with a new id).
/// - `tinyflow_messages_claim` serves the claim: a queue's rows in its order (priority
///   descending, deadline ascending with none last, id), filtered by visibility;
///   `tinyflow_messages_visible` serves ``PostgresMessageStore/nextAvailableTime(of:)``;
///   `tinyflow_messages_deadline` (partial) finds the expired messages a claim dead-letters.
/// - `tinyflow_dead_letters` holds dead letters with their reason and last error; by namespace
///   and node (`tinyflow dlq` selects a flow's nodes).
/// - `tinyflow_queue_backlog` counts each queue's messages (waiting or leased), kept by
///   statement triggers on `tinyflow_messages`: the backlog limit and `backlog(of:)` read one
///   row instead of counting the queue. A queue's counter row is also its lock
///   (`tinyflow_lock_queues`), taken in one order by whatever stores into several queues.
enum MessageSchema {
    /// The component's name in `tinyflow_schema_versions`.
    static let component = "message-store"

    /// Migration `n` is `migrations[n - 1]`; each runs once, in order, in one transaction.
    static let migrations: [[String]] = [
        // 1: the tables, their sequences and indexes.
        [
            "CREATE SEQUENCE IF NOT EXISTS tinyflow_message_id AS bigint",
            "CREATE SEQUENCE IF NOT EXISTS tinyflow_message_lease AS bigint",
            """
            CREATE TABLE IF NOT EXISTS tinyflow_messages (
                id bigint PRIMARY KEY DEFAULT nextval('tinyflow_message_id'),
                namespace text NOT NULL,
                node text NOT NULL,
                port text NOT NULL,
                edge_node text NOT NULL,
                edge text NOT NULL,
                body text NOT NULL,
                priority bigint NOT NULL,
                deadline timestamptz,
                visible_at timestamptz NOT NULL,
                lease_token bigint,
                attempts integer NOT NULL DEFAULT 0,
                last_error text,
                enqueued_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE INDEX IF NOT EXISTS tinyflow_messages_claim
                ON tinyflow_messages (namespace, node, port, priority DESC, deadline ASC NULLS LAST, id)
            """,
            """
            CREATE INDEX IF NOT EXISTS tinyflow_messages_visible ON tinyflow_messages (namespace, node, port, visible_at)
            """,
            """
            CREATE INDEX IF NOT EXISTS tinyflow_messages_deadline ON tinyflow_messages (namespace, node, port, deadline)
                WHERE deadline IS NOT NULL
            """,
            """
            CREATE TABLE IF NOT EXISTS tinyflow_dead_letters (
                id bigint PRIMARY KEY,
                namespace text NOT NULL,
                node text NOT NULL,
                port text NOT NULL,
                edge_node text NOT NULL,
                edge text NOT NULL,
                body text NOT NULL,
                priority bigint NOT NULL,
                deadline timestamptz,
                attempts integer NOT NULL,
                reason text NOT NULL,
                last_error text NOT NULL,
                enqueued_at timestamptz NOT NULL,
                dead_lettered_at timestamptz NOT NULL
            )
            """,
            """
            CREATE INDEX IF NOT EXISTS tinyflow_dead_letters_node ON tinyflow_dead_letters (namespace, node, id)
            """,
        ],
        // 2: the queues' backlog counters, kept by triggers; the enqueue of a group commit's
        // batch as one function call (one round trip).
        [
            """
            CREATE TABLE IF NOT EXISTS tinyflow_queue_backlog (
                namespace text NOT NULL,
                node text NOT NULL,
                port text NOT NULL,
                backlog bigint NOT NULL,
                PRIMARY KEY (namespace, node, port)
            )
            """,
            // Nobody stores or removes messages while the counters start from what is there.
            "LOCK TABLE tinyflow_messages IN SHARE ROW EXCLUSIVE MODE",
            """
            INSERT INTO tinyflow_queue_backlog (namespace, node, port, backlog)
            SELECT namespace, node, port, count(*) FROM tinyflow_messages GROUP BY namespace, node, port
            ON CONFLICT (namespace, node, port) DO UPDATE SET backlog = excluded.backlog
            """,
            """
            CREATE OR REPLACE FUNCTION tinyflow_messages_counted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO tinyflow_queue_backlog (namespace, node, port, backlog)
                SELECT namespace, node, port, count(*) FROM added GROUP BY namespace, node, port
                ORDER BY namespace COLLATE "C", node COLLATE "C", port COLLATE "C"
                ON CONFLICT (namespace, node, port) DO UPDATE SET backlog = tinyflow_queue_backlog.backlog + excluded.backlog;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE OR REPLACE FUNCTION tinyflow_messages_uncounted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE tinyflow_queue_backlog b SET backlog = b.backlog - r.removed
                FROM (SELECT namespace, node, port, count(*) AS removed FROM removed GROUP BY namespace, node, port) AS r
                WHERE b.namespace = r.namespace AND b.node = r.node AND b.port = r.port;
                RETURN NULL;
            END
            $$
            """,
            """
            CREATE TRIGGER tinyflow_messages_counted AFTER INSERT ON tinyflow_messages
                REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tinyflow_messages_counted()
            """,
            """
            CREATE TRIGGER tinyflow_messages_uncounted AFTER DELETE ON tinyflow_messages
                REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION tinyflow_messages_uncounted()
            """,
            lockQueuesFunction,
            enqueueFunction,
        ],
    ]

    /// Locks the counter rows of the queues named by the arrays (one queue per index,
    /// repeats allowed), made if missing, in one order (namespace, node, port, bytewise): the
    /// counter row is the queue's lock. Every statement that stores or removes messages of
    /// several queues takes their locks through it first, so two of them never wait for each
    /// other in a cycle. Returns the queues' backlogs in that order with their keys
    /// (`namespace‹US›node‹US›port`).
    static let lockQueuesFunction = """
        CREATE OR REPLACE FUNCTION tinyflow_lock_queues(p_namespace text[], p_node text[], p_port text[])
        RETURNS TABLE (queue_key text, queue_backlog bigint) LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO tinyflow_queue_backlog (namespace, node, port, backlog)
            SELECT d.namespace, d.node, d.port, 0
            FROM (SELECT DISTINCT * FROM unnest(p_namespace, p_node, p_port) AS q(namespace, node, port)) AS d
            ORDER BY d.namespace COLLATE "C", d.node COLLATE "C", d.port COLLATE "C"
            ON CONFLICT (namespace, node, port) DO NOTHING;
            RETURN QUERY
                SELECT b.namespace || chr(31) || b.node || chr(31) || b.port, b.backlog
                FROM tinyflow_queue_backlog b
                WHERE (b.namespace, b.node, b.port) IN (
                    SELECT q.namespace, q.node, q.port FROM unnest(p_namespace, p_node, p_port) AS q(namespace, node, port))
                ORDER BY b.namespace COLLATE "C", b.node COLLATE "C", b.port COLLATE "C"
                FOR UPDATE OF b;
        END
        $$
        """

    /// Stores a group commit's batch of enqueue requests in one call (one round trip, its
    /// plans cached by the session): locks the batch's queues (``lockQueuesFunction``), takes
    /// their backlogs from their counters, accepts each request whose messages fit its
    /// `maxBacklog` after the requests before it, inserts the accepted messages in their
    /// order (their ids increase in it; the trigger counts them) and notifies. Messages are
    /// arrays by column; request `r` is messages `p_first[r] ..< p_first[r] + p_count[r]`
    /// (1-based). Returns per request `''` (stored) or the key (`namespace‹US›node‹US›port`) of
    /// a queue it would overfill. Called outside a transaction, it is a transaction of its own.
    static let enqueueFunction = """
        CREATE OR REPLACE FUNCTION tinyflow_enqueue(
            p_first integer[], p_count integer[], p_max_backlog bigint[],
            p_namespace text[], p_node text[], p_port text[], p_edge_node text[], p_edge text[], p_body text[],
            p_priority bigint[], p_deadline timestamptz[], p_has_deadline boolean[],
            p_available_at timestamptz[], p_has_available_at boolean[],
            p_channel text, p_payloads text[]
        ) RETURNS text[] LANGUAGE plpgsql AS $$
        DECLARE
            requests integer := coalesce(array_length(p_first, 1), 0);
            queue_keys text[];
            queue_counts bigint[];
            adding bigint[];
            outcome text[] := array_fill(''::text, ARRAY[requests]);
            accepted boolean[] := array_fill(false, ARRAY[requests]);
            any_accepted boolean := false;
            full_key text;
            k integer;
        BEGIN
            IF requests = 0 THEN RETURN outcome; END IF;
            SELECT array_agg(l.queue_key), array_agg(l.queue_backlog) INTO queue_keys, queue_counts
            FROM tinyflow_lock_queues(p_namespace, p_node, p_port) AS l;
            FOR r IN 1 .. requests LOOP
                adding := array_fill(0::bigint, ARRAY[array_length(queue_keys, 1)]);
                FOR i IN p_first[r] .. p_first[r] + p_count[r] - 1 LOOP
                    k := array_position(queue_keys, p_namespace[i] || chr(31) || p_node[i] || chr(31) || p_port[i]);
                    adding[k] := adding[k] + 1;
                END LOOP;
                full_key := NULL;
                FOR k IN 1 .. array_length(queue_keys, 1) LOOP
                    IF adding[k] > 0 AND queue_counts[k] + adding[k] > p_max_backlog[r] THEN
                        full_key := queue_keys[k];
                        EXIT;
                    END IF;
                END LOOP;
                IF full_key IS NULL THEN
                    accepted[r] := true;
                    any_accepted := true;
                    FOR k IN 1 .. array_length(queue_keys, 1) LOOP
                        queue_counts[k] := queue_counts[k] + adding[k];
                    END LOOP;
                ELSE
                    outcome[r] := full_key;
                END IF;
            END LOOP;
            IF NOT any_accepted THEN RETURN outcome; END IF;
            INSERT INTO tinyflow_messages (namespace, node, port, edge_node, edge, body, priority, deadline, visible_at)
            SELECT p_namespace[i], p_node[i], p_port[i], p_edge_node[i], p_edge[i], p_body[i], p_priority[i],
                CASE WHEN p_has_deadline[i] THEN p_deadline[i] END,
                CASE WHEN p_has_available_at[i] THEN p_available_at[i] ELSE now() END
            FROM generate_series(1, requests) AS r, generate_series(p_first[r], p_first[r] + p_count[r] - 1) AS i
            WHERE accepted[r]
            ORDER BY i;
            PERFORM pg_notify(p_channel, p) FROM unnest(p_payloads) AS p;
            RETURN outcome;
        END
        $$
        """

    /// How many expired messages one claim dead-letters at most (the rest go at the next claim).
    static let expiredPerClaim = 1_000
}
