import PostgresNIO
import Store

/// The central schema, in numbered versions applied in order and never edited once released
/// (as the SQLite migrations): `schema_version` says which are in, `jitsh init` adds the rest.
enum Schema {
    struct Version {
        var number: Int
        var name: String
        var statements: [String]
    }

    /// What auditors rely on: never updated or deleted, by anyone, the owner included.
    static let appendOnly = ["grants", "grant_events", "sessions", "session_ends", "audit_events", "chunks", "session_locks",
                             "recording_text"]

    static let versions: [Version] = [
        Version(number: 1, name: "grants, sessions, audit, recordings, locks, outbox, full text", statements: [
            """
            CREATE TABLE grants (
                id bigserial PRIMARY KEY, identity text NOT NULL, role text NOT NULL, contract text NOT NULL,
                host_pattern text NOT NULL, reason text NOT NULL, requested_at bigint NOT NULL, starts_at bigint NOT NULL,
                duration bigint NOT NULL, approvals_needed bigint NOT NULL, max_duration bigint NOT NULL,
                pending_ttl bigint NOT NULL, break_glass boolean NOT NULL DEFAULT false)
            """,
            "CREATE INDEX grants_identity ON grants (identity)",
            """
            CREATE TABLE grant_events (
                id bigserial PRIMARY KEY, grant_id bigint NOT NULL REFERENCES grants (id), kind text NOT NULL,
                actor text NOT NULL, at bigint NOT NULL, comment text NOT NULL DEFAULT '', seconds bigint NOT NULL DEFAULT 0)
            """,
            "CREATE INDEX grant_events_grant ON grant_events (grant_id)",
            // grant_id names a grant of this database, but a fleet host's spool ships sessions of
            // grants it saw: no foreign key, so shipping never depends on order across tables.
            """
            CREATE TABLE sessions (
                id text PRIMARY KEY, identity text NOT NULL, login text NOT NULL, role text NOT NULL, grant_id bigint,
                host text NOT NULL, client text NOT NULL, mode text NOT NULL, command text NOT NULL DEFAULT '',
                started_at bigint NOT NULL, width bigint NOT NULL DEFAULT 80, height bigint NOT NULL DEFAULT 24)
            """,
            "CREATE INDEX sessions_started ON sessions (started_at)",
            """
            CREATE TABLE session_ends (
                session_id text PRIMARY KEY REFERENCES sessions (id), ended_at bigint NOT NULL, exit_reason text NOT NULL,
                exit_status bigint, chunks bigint NOT NULL, chain_head bytea NOT NULL, signature bytea,
                key_id text NOT NULL DEFAULT '')
            """,
            """
            CREATE TABLE audit_events (
                id bigserial PRIMARY KEY, at bigint NOT NULL, session_id text, identity text NOT NULL, host text NOT NULL,
                kind text NOT NULL, line text NOT NULL DEFAULT '', decision text NOT NULL DEFAULT '',
                rule text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '', data text NOT NULL DEFAULT '{}')
            """,
            "CREATE INDEX audit_session ON audit_events (session_id)",
            "CREATE INDEX audit_identity ON audit_events (identity, kind, at)",
            "CREATE INDEX audit_kind_reason ON audit_events (kind, reason)",
            // Keyed by session and sequence: a chunk shipped twice is stored once.
            """
            CREATE TABLE chunks (
                session_id text NOT NULL REFERENCES sessions (id), seq bigint NOT NULL, started_at bigint NOT NULL,
                frames bigint NOT NULL, raw_bytes bigint NOT NULL, data bytea NOT NULL, prev_hash bytea NOT NULL,
                hash bytea NOT NULL, PRIMARY KEY (session_id, seq))
            """,
            """
            CREATE TABLE session_locks (
                session_id text PRIMARY KEY, actor text NOT NULL, reason text NOT NULL, at bigint NOT NULL)
            """,
            """
            CREATE TABLE outbox (
                id bigserial PRIMARY KEY, created_at bigint NOT NULL, event text NOT NULL, payload text NOT NULL,
                attempts bigint NOT NULL DEFAULT 0, next_attempt_at bigint NOT NULL, delivered_at bigint,
                last_error text NOT NULL DEFAULT '')
            """,
            "CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL",
            // The document is built from jitsh's own tokens (TextQuery.tokens) with their positions,
            // so PostgreSQL's search answers exactly what SQLite's FTS5 and the memory store answer.
            """
            CREATE TABLE recording_text (
                session_id text NOT NULL, seq bigint NOT NULL, at bigint NOT NULL, body text NOT NULL,
                document tsvector NOT NULL, PRIMARY KEY (session_id, seq))
            """,
            "CREATE INDEX recording_text_document ON recording_text USING gin (document)",
            "CREATE INDEX recording_text_at ON recording_text (at)",
            """
            CREATE FUNCTION jitsh_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
            END $$
            """,
        ] + appendOnly.flatMap { table in [
            "CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table) FOR EACH ROW EXECUTE FUNCTION jitsh_append_only()",
            "CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION jitsh_append_only()",
            "REVOKE UPDATE, DELETE, TRUNCATE ON \(table) FROM PUBLIC",
        ] } + [
            // The group every host's role joins: it reads and inserts, and changes only the
            // outbox's delivery state. Made when the role running init may create roles.
            """
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jitsh_hosts')
                   AND (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
                    -- Roles belong to the cluster: two databases initialised at once race here.
                    BEGIN
                        CREATE ROLE jitsh_hosts NOLOGIN;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN
                        NULL;
                    END;
                END IF;
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jitsh_hosts') THEN
                    GRANT SELECT, INSERT ON \(appendOnly.joined(separator: ", ")), schema_version TO jitsh_hosts;
                    GRANT SELECT, INSERT, UPDATE ON outbox TO jitsh_hosts;
                    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO jitsh_hosts;
                END IF;
            END $$
            """,
        ]),
        // Fleet shipping: an event shipped twice (a shipper killed between the two commits) is
        // stored once, keyed by the host and its spool's id; a change to grants or locks is
        // announced, so every host's sync refreshes its view at once instead of at its next poll.
        Version(number: 2, name: "shipped events keyed by host and spool id, grant and lock notifications", statements: [
            "ALTER TABLE audit_events ADD COLUMN origin_host text, ADD COLUMN origin_id bigint",
            "CREATE UNIQUE INDEX audit_events_origin ON audit_events (origin_host, origin_id)",
            """
            CREATE FUNCTION jitsh_notify_grants() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('\(Schema.grantChannel)', TG_TABLE_NAME);
                RETURN NULL;
            END $$
            """,
        ] + ["grants", "grant_events", "session_locks"].map { table in
            "CREATE TRIGGER \(table)_notify AFTER INSERT ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION jitsh_notify_grants()"
        }),
        // Least privilege by the database: each host's role is mapped to its host name, and row-level
        // security lets it insert only its own host's sessions, chunks, ends, events and keys (it
        // still reads everything: review runs on any host). Its public signing key and tags are
        // registered here, so any host can verify another's recordings and resolve host sets.
        Version(number: 3, name: "per-host roles with row-level security, host keys and tags", statements: [
            "CREATE TABLE fleet_hosts (role name PRIMARY KEY, host text NOT NULL UNIQUE, added_at timestamptz NOT NULL DEFAULT now())",
            """
            CREATE FUNCTION jitsh_host() RETURNS text LANGUAGE sql STABLE AS
            $$ SELECT host FROM fleet_hosts WHERE role = current_user $$
            """,
            """
            CREATE TABLE host_keys (
                host text NOT NULL, key_id text NOT NULL, public_key bytea NOT NULL, registered_at bigint NOT NULL,
                PRIMARY KEY (host, key_id))
            """,
            """
            CREATE TABLE host_tags (
                id bigserial PRIMARY KEY, host text NOT NULL, tags text NOT NULL CHECK (tags::jsonb IS NOT NULL),
                reported_at bigint NOT NULL)
            """,
            "CREATE INDEX host_tags_host ON host_tags (host, id)",
            // Review reads data as JSON: a row that is not cannot be shipped (it is quarantined).
            "ALTER TABLE audit_events ADD CONSTRAINT audit_events_data_json CHECK (data::jsonb IS NOT NULL)",
        ] + ["host_keys", "host_tags"].flatMap(appendOnlyStatements) + ownHostRows.flatMap { table, check in [
            "ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY \(table)_read ON \(table) FOR SELECT USING (true)",
            "CREATE POLICY \(table)_own_host ON \(table) FOR INSERT WITH CHECK (\(check))",
        ] } + [
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jitsh_hosts') THEN
                    GRANT SELECT ON fleet_hosts TO jitsh_hosts;
                    GRANT SELECT, INSERT ON host_keys, host_tags TO jitsh_hosts;
                    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO jitsh_hosts;
                END IF;
            END $$
            """,
        ]),
        // Locks on users, roles and hosts: made by admins on any host, announced like grants so
        // every host's sync mirrors them at once; lifted by a removal row, never changed.
        Version(number: 4, name: "locks on users, roles and hosts", statements: [
            """
            CREATE TABLE locks (
                id bigserial PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('user', 'role', 'host')), value text NOT NULL,
                actor text NOT NULL, reason text NOT NULL, at bigint NOT NULL, until bigint)
            """,
            """
            CREATE TABLE lock_removals (
                lock_id bigint PRIMARY KEY REFERENCES locks (id), actor text NOT NULL, reason text NOT NULL, at bigint NOT NULL)
            """,
        ] + ["locks", "lock_removals"].flatMap { table in appendOnlyStatements(table) + [
            "CREATE TRIGGER \(table)_notify AFTER INSERT ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION jitsh_notify_grants()",
        ] } + [
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jitsh_hosts') THEN
                    GRANT SELECT, INSERT ON locks, lock_removals TO jitsh_hosts;
                    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO jitsh_hosts;
                END IF;
            END $$
            """,
        ]),
        // Columns added to append-only tables: existing rows keep '' (a count of approvers, as before).
        Version(number: 5, name: "approval rules and approvers' groups", statements: [
            "ALTER TABLE grants ADD COLUMN approval text NOT NULL DEFAULT ''",
            "ALTER TABLE grant_events ADD COLUMN groups text NOT NULL DEFAULT ''",
        ]),
        // Images of watched files, shipped with the recording that names them; each host inserts
        // only its own sessions' (as chunks), no one changes them.
        Version(number: 6, name: "snapshot images and contents", statements: [
            """
            CREATE TABLE snapshot_images (
                session_id text NOT NULL REFERENCES sessions (id), seq bigint NOT NULL, line bigint NOT NULL, at bigint NOT NULL,
                path text NOT NULL, before text NOT NULL, after text NOT NULL, prev_hash bytea NOT NULL, hash bytea NOT NULL,
                PRIMARY KEY (session_id, seq))
            """,
            """
            CREATE TABLE snapshot_contents (
                session_id text NOT NULL REFERENCES sessions (id), digest text NOT NULL, size bigint NOT NULL, data bytea NOT NULL,
                PRIMARY KEY (session_id, digest))
            """,
        ] + snapshotTables.flatMap { table in appendOnlyStatements(table) + [
            "ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY \(table)_read ON \(table) FOR SELECT USING (true)",
            "CREATE POLICY \(table)_own_host ON \(table) FOR INSERT WITH CHECK (\(ownSession))",
        ] } + [
            """
            DO $$
            BEGIN
                IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'jitsh_hosts') THEN
                    GRANT SELECT, INSERT ON \(snapshotTables.joined(separator: ", ")) TO jitsh_hosts;
                END IF;
            END $$
            """,
        ]),
        // One time unit: grants, their events, locks and the outbox counted seconds, sessions,
        // chunks and audit microseconds; now everything does. The owner lifts each append-only
        // table's trigger for this one UPDATE inside the migration's transaction (DDL is
        // transactional here: no other session ever sees the table changeable).
        Version(number: 7, name: "one time unit: microseconds", statements: microseconds),
        // `command rm` asked every line event's JSON for its argv: the programs a line ran are
        // kept beside it, as run (/bin/rm) and by name (rm), computed by the database from the
        // row itself (no host can write them otherwise) and indexed.
        Version(number: 8, name: "programs of each line, indexed", statements: [
            """
            CREATE FUNCTION jitsh_programs(data text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
                SELECT coalesce(array_agg(DISTINCT p), '{}') FROM (
                    SELECT unnest(ARRAY[c -> 'argv' ->> 0, regexp_replace(c -> 'argv' ->> 0, '^.*/', '')]) p
                    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(data::jsonb -> 'commands') = 'array'
                                                   THEN data::jsonb -> 'commands' ELSE '[]'::jsonb END) c
                    WHERE jsonb_typeof(c -> 'argv') = 'array') programs
                WHERE p IS NOT NULL
            $$
            """,
            "ALTER TABLE audit_events ADD COLUMN programs text[] GENERATED ALWAYS AS (jitsh_programs(data)) STORED",
            "CREATE INDEX audit_events_programs ON audit_events USING gin (programs)",
        ]),
        // A window of denials (`decision deny and since …`) is a range of this index, not the
        // whole table read newest first.
        Version(number: 9, name: "audit decisions by time", statements: [
            "CREATE INDEX audit_events_decision ON audit_events (decision, at)",
        ]),
    ]

    /// Version 7's statements: the seconds columns of the tables this schema has, moved to
    /// microseconds, and the extension length renamed for what it holds.
    static var microseconds: [String] {
        TimeUnit.secondColumns.filter { !["tombstones", "review_tokens"].contains($0.table) }.flatMap { table, columns, appendOnly in
            appendOnly ? ["ALTER TABLE \(table) DISABLE TRIGGER \(table)_append_only", TimeUnit.update(table, columns),
                          "ALTER TABLE \(table) ENABLE TRIGGER \(table)_append_only"] : [TimeUnit.update(table, columns)]
        } + ["ALTER TABLE grant_events RENAME COLUMN seconds TO extra"]
    }

    static let snapshotTables = ["snapshot_images", "snapshot_contents"]

    /// A row of one of this host's sessions.
    static let ownSession = "EXISTS (SELECT 1 FROM sessions s WHERE s.id = session_id AND s.host = jitsh_host())"

    /// The tables added after version 1 that no one may change either.
    static let appendOnlySince1 = ["host_keys", "host_tags", "locks", "lock_removals"] + snapshotTables

    static func appendOnlyStatements(_ table: String) -> [String] {
        [
            "CREATE TRIGGER \(table)_append_only BEFORE UPDATE OR DELETE ON \(table) FOR EACH ROW EXECUTE FUNCTION jitsh_append_only()",
            "CREATE TRIGGER \(table)_no_truncate BEFORE TRUNCATE ON \(table) FOR EACH STATEMENT EXECUTE FUNCTION jitsh_append_only()",
            "REVOKE UPDATE, DELETE, TRUNCATE ON \(table) FROM PUBLIC",
        ]
    }

    /// The tables a host inserts only its own rows into, and the check that says so.
    static let ownHostRows: [(String, String)] = [
        ("sessions", "host = jitsh_host()"),
        ("audit_events", "host = jitsh_host() AND coalesce(origin_host, host) = jitsh_host()"),
        ("host_keys", "host = jitsh_host()"),
        ("host_tags", "host = jitsh_host()"),
    ] + ["chunks", "session_ends", "recording_text"].map { table in (table, ownSession) }

    /// The channel grant, grant-event and lock inserts notify (LISTEN/NOTIFY).
    static let grantChannel = "jitsh_grants"

    static var current: Int { versions.last!.number }

    /// The version in the database; 0 when it has no jitsh schema.
    static func installed(_ link: Link) throws(StoreError) -> Int {
        let exists = try link.query("SELECT to_regclass('schema_version') IS NOT NULL")
        guard try decode(Bool.self, exists.first, 0) else { return 0 }
        let rows = try link.query("SELECT coalesce(max(version), 0)::bigint FROM schema_version")
        return Int(try decode(Int64.self, rows.first, 0))
    }

    /// Applies what is missing in one transaction (PostgreSQL's DDL is transactional: a failed
    /// upgrade leaves the schema as it was), one migrating process at a time (an advisory lock:
    /// two hosts running init at once). Returns the versions before and after.
    static func migrate(_ connections: Connections) throws -> (from: Int, to: Int) {
        // A host's role may not create tables: init on an up-to-date schema changes nothing.
        let found = try connections.with { link in try installed(link) }
        if found == current { return (current, current) }
        do { return try upgrade(connections) } catch let e as StoreError where e.kind == .permission {
            throw StoreError(.permission, "\(e.message); the schema is version \(found) and this jitsh needs \(current): run jitsh init as the database's owner once")
        }
    }

    private static func upgrade(_ connections: Connections) throws -> (from: Int, to: Int) {
        try connections.transaction { link in
            try link.execute("SELECT pg_advisory_xact_lock(7020020)")
            try link.execute("""
                CREATE TABLE IF NOT EXISTS schema_version (
                    version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            let from = try installed(link)
            guard from <= current else {
                throw StoreError(.conflict, "the central store \(connections.settings.location) has schema version \(from), newer than this jitsh's \(current); upgrade jitsh")
            }
            for v in versions where v.number > from {
                for statement in v.statements { try link.execute(statement) }
                try link.query("INSERT INTO schema_version (version, name) VALUES (\(Int64(v.number)), \(v.name))")
            }
            return (from, current)
        }
    }

    static func decode<T: PostgresDecodable>(_ type: T.Type, _ row: PostgresRandomAccessRow?, _ column: Int) throws(StoreError) -> T {
        guard let row, column < row.count else { throw StoreError(.corrupt, "the central store answered without a value") }
        do { return try row[column].decode(T.self) } catch {
            throw StoreError(.corrupt, "the central store answered a value jitsh cannot read (column \(column))")
        }
    }
}
