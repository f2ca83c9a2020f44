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
enum MessageSchema {
    /// The component's name in `tinyflow_schema_versions`.
    static let component = "message-store"

    /// The class of the advisory locks on queues (two-int form, `"tflq"`): the first int of
    /// `pg_advisory_xact_lock(int, int)`, the second being the queue's `hashtext`. The context
    /// store's scope locks are one-bigint locks and its migration lock has another class, so
    /// none of them ever meets these.
    static let queueLockClass: Int32 = 0x7466_6c71

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
        ]
    ]

    /// How many expired messages one claim dead-letters at most (the rest go at the next claim).
    static let expiredPerClaim = 1_000
}
