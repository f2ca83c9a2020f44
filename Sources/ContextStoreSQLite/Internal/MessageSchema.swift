/// The tables of durable edges' queues (schema version 2, ``Schema/migrations``), in the
/// context store's file.
///
/// - `messages` holds one row per stored message, leased or waiting. `id` is the message's
///   id, from `AUTOINCREMENT` so that an id is never handed out twice, even after the newest
///   message was removed: it orders arrivals and names leases and dead letters.
///   `visible_at_ms` is when a claim may next take the message: its `availableAt` while it
///   waits, its lease's expiry while it is leased (a lease is a visibility timeout, so "available
///   and not leased" is one comparison). `lease_token` is the token of the last claim (`NULL`
///   while no claim holds it: never claimed, or released for a retry). `deadline_ms` is `NULL`
///   when the message has none. `body` is the JSON encoding of the `Message`.
/// - `messages_claim` serves a claim: a queue's rows in claim order (priority descending,
///   deadline ascending with none last, arrival), with the visibility time in the index so that
///   leased and delayed rows are skipped without reading the table, and the minimum visibility
///   time (`nextAvailableTime`) read from the index alone.
/// - `messages_deadline` finds a queue's messages whose deadline passed (a claim dead-letters
///   them) without scanning the queue.
/// - `message_queues` holds each queue's backlog (its rows in `messages`), kept by triggers on
///   every insert and delete, so that the backlog limit is checked without counting a long
///   queue. A queue's row stays (at 0) until its node's queues are deleted.
/// - `dead_letters` keeps the rows dead-lettered, under their message's id, with why.
/// - `message_lease_sequence` is a one-row counter: each claim takes the next number as its
///   lease token, so a message claimed again never gets a token handed out before, whichever
///   process claims it.
enum MessageSchema {
    /// The sort key of "no deadline": after every deadline.
    static let noDeadline = "9223372036854775807"

    /// Migration 1 → 2. Never change it once shipped: append a new migration instead.
    static let tables = """
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            node TEXT NOT NULL,
            port TEXT NOT NULL,
            edge_node TEXT NOT NULL,
            edge_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            deadline_ms INTEGER,
            visible_at_ms INTEGER NOT NULL,
            lease_token INTEGER,
            attempts INTEGER NOT NULL,
            last_error TEXT,
            enqueued_at_ms INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX messages_claim ON messages (
            namespace, node, port, priority DESC, ifnull(deadline_ms, 9223372036854775807), id, visible_at_ms);
        CREATE INDEX messages_deadline ON messages (namespace, node, port, deadline_ms)
            WHERE deadline_ms IS NOT NULL;
        CREATE TABLE message_queues (
            namespace TEXT NOT NULL,
            node TEXT NOT NULL,
            port TEXT NOT NULL,
            backlog INTEGER NOT NULL,
            PRIMARY KEY (namespace, node, port)
        ) WITHOUT ROWID;
        CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN
            INSERT INTO message_queues (namespace, node, port, backlog) VALUES (NEW.namespace, NEW.node, NEW.port, 1)
            ON CONFLICT (namespace, node, port) DO UPDATE SET backlog = backlog + 1;
        END;
        CREATE TRIGGER messages_uncounted AFTER DELETE ON messages BEGIN
            UPDATE message_queues SET backlog = backlog - 1
            WHERE namespace = OLD.namespace AND node = OLD.node AND port = OLD.port;
        END;
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            namespace TEXT NOT NULL,
            node TEXT NOT NULL,
            port TEXT NOT NULL,
            edge_node TEXT NOT NULL,
            edge_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            deadline_ms INTEGER,
            attempts INTEGER NOT NULL,
            reason TEXT NOT NULL,
            last_error TEXT NOT NULL,
            enqueued_at_ms INTEGER NOT NULL,
            dead_lettered_at_ms INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX dead_letters_node ON dead_letters (namespace, node, id);
        CREATE TABLE message_lease_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
        INSERT INTO message_lease_sequence (id, last) VALUES (1, 0);
        """
}
