import Foundation
import GRDB
import Posix

/// Why the store cannot be used, in words an operator can act on. Nothing runs unrecorded, so
/// every one of these makes jitsh refuse.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        case missing, permission, corrupt, readOnly = "read-only", locked, full, conflict, refused, other
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Maps SQLite's result codes to what they mean for an operator.
    static func from(_ error: Error, path: String) -> StoreError {
        if let e = error as? StoreError { return e }
        guard let db = error as? DatabaseError else { return StoreError(.other, "the store at \(path) failed: \(error)") }
        switch db.resultCode {
        case .SQLITE_CANTOPEN:
            return StoreError(.permission, "cannot open the store at \(path): missing directory or no permission (jitsh must be setgid jitsh; run jitsh doctor)")
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError(.corrupt, "the store at \(path) is corrupt; restore it from a backup (jitsh doctor checks it)")
        case .SQLITE_READONLY:
            // The extended code says which of SQLite's read-only cases this is, so a refusal names it.
            let why = switch db.extendedResultCode {
            case .SQLITE_READONLY_RECOVERY, .SQLITE_READONLY_CANTINIT, .SQLITE_READONLY_CANTLOCK:
                "another process was opening or recovering it"
            case .SQLITE_READONLY_DBMOVED: "the file was moved or replaced while open"
            case .SQLITE_READONLY_DIRECTORY: "its directory is not writable"
            default: "check its permissions, its -wal and -shm files and the file system"
            }
            return StoreError(.readOnly, "the store at \(path) is read-only (\(why))")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(.locked, "the store at \(path) stayed locked longer than \(Int(Database.busyTimeout)) s; another process holds it")
        case .SQLITE_FULL:
            return StoreError(.full, "the disk holding the store at \(path) is full")
        case .SQLITE_PERM, .SQLITE_AUTH:
            return StoreError(.permission, "no permission to use the store at \(path)")
        case .SQLITE_IOERR:
            return StoreError(.other, "the store at \(path) cannot be read or written (I/O error)")
        case .SQLITE_CONSTRAINT:
            return StoreError(.conflict, "the store refused a change: \(db.message ?? "constraint")")
        default:
            return StoreError(.other, "the store at \(path) failed: \(db.message ?? "\(db.resultCode)")")
        }
    }
}

/// How many connections a store keeps. A session or a command keeps one, opened with the jitsh
/// group raised (`JitshGroup`) and kept: nothing in the process opens the file again, so the
/// group is never needed after start. The web app serves requests at once, with a pool.
public enum StoreConnections: Sendable {
    case one, pool
}

/// The SQLite file behind the store: WAL for concurrent readers, a busy timeout so contention
/// waits instead of failing, migrations registered in order and never edited once released.
final class Database: Sendable {
    static let busyTimeout: TimeInterval = 10
    let pool: any DatabaseWriter
    let path: String
    /// The file opened (device and inode): a store unlinked or replaced under a running
    /// session is noticed at its next write, not written into a file nobody will read.
    let identity: (dev: UInt64, ino: UInt64)?

    init(path: String, create: Bool, busyTimeout: TimeInterval = Database.busyTimeout,
         connections: StoreConnections = .one) throws(StoreError) {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        (pool, identity) = try JitshGroup.raised(.store) { () throws(StoreError) in
            if !create && !FileManager.default.fileExists(atPath: path) {
                throw StoreError(.missing, "the store \(path) does not exist; install jitsh (make install) or check store: in jitsh.yaml")
            }
            try Database.mendCompanions(of: path)
            return (try Database.open(path, config, connections: connections), Database.fileIdentity(path))
        }
    }

    /// SQLite gives a new `-wal`/`-shm` the database's mode, but one left behind by an earlier
    /// state (the store made read-only and restored, a copy by hand) keeps whatever it had, and
    /// then every session of another user opens the store read-only. Mended when this process
    /// may (its own file, or root); otherwise refused with the command that mends it.
    static func mendCompanions(of path: String) throws(StoreError) {
        var db = stat()
        guard stat(path, &db) == 0 else { return }
        let mode = db.st_mode & 0o777
        for suffix in ["-wal", "-shm"] {
            let file = path + suffix
            var st = stat()
            guard lstat(file, &st) == 0 else { continue }
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw StoreError(.permission, "\(file) is not a regular file; move it away with no session running")
            }
            if st.st_mode & 0o777 == mode && st.st_gid == db.st_gid { continue }
            let mine = st.st_uid == geteuid() || geteuid() == 0
            if mine && chown(file, uid_t.max, db.st_gid) == 0 && chmod(file, mode) == 0 { continue }
            if errno == ENOENT { continue }  // the last connection elsewhere closed and removed it
            throw StoreError(.readOnly, "\(file) has mode \(String(st.st_mode & 0o777, radix: 8)) group \(st.st_gid), not the store's \(String(mode, radix: 8)) group \(db.st_gid), so the store would open read-only; as root: chgrp \(db.st_gid) \(file) && chmod \(String(mode, radix: 8)) \(file)")
        }
    }

    /// SQLite reports a wal-index that another process is creating or recovering as read-only;
    /// that passes in milliseconds, so it is retried a few times before it refuses a login.
    static func open(_ path: String, _ config: Configuration, connections: StoreConnections) throws(StoreError) -> any DatabaseWriter {
        var attempt = 0
        while true {
            do {
                let writer: any DatabaseWriter
                switch connections {
                case .pool: writer = try DatabasePool(path: path, configuration: config)
                case .one:
                    let queue = try DatabaseQueue(path: path, configuration: config)
                    // WAL (as a pool sets it): other processes read while this one writes, and a
                    // write opens no journal file, which would need the group again.
                    try queue.writeWithoutTransaction { db in
                        if try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" {
                            try db.execute(sql: "PRAGMA journal_mode = WAL")
                        }
                    }
                    writer = queue
                }
                try Database.migrator.migrate(writer)
                return writer
            } catch let error as DatabaseError where attempt < 5 && [.SQLITE_READONLY_RECOVERY, .SQLITE_READONLY_CANTINIT,
                                                                         .SQLITE_READONLY_CANTLOCK].contains(error.extendedResultCode) {
                attempt += 1
                usleep(UInt32(20_000 * attempt))
            } catch {
                throw StoreError.from(error, path: path)
            }
        }
    }

    static func fileIdentity(_ path: String) -> (dev: UInt64, ino: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Fails when the path no longer leads to the file this store opened.
    func checkFile() throws(StoreError) {
        guard let identity else { return }
        guard let now = JitshGroup.raised(.store, { Database.fileIdentity(path) }) else {
            throw StoreError(.missing, "the store \(path) was removed while in use; nothing more can be recorded")
        }
        if now.dev != identity.dev || now.ino != identity.ino {
            throw StoreError(.conflict, "the store \(path) was replaced by another file while in use; nothing more can be recorded")
        }
    }

    func write<T>(_ body: (GRDB.Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.write(body) } catch { throw StoreError.from(error, path: path) }
    }

    func read<T>(_ body: (GRDB.Database) throws -> T) throws(StoreError) -> T {
        do { return try pool.read(body) } catch { throw StoreError.from(error, path: path) }
    }

    /// `PRAGMA integrity_check`: "ok", or what is wrong.
    func integrity() throws(StoreError) -> [String] {
        try read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
    }

    static let appendOnly = ["grants", "grant_events", "sessions", "session_ends", "audit_events"]

    /// The triggers that make `table` refuse UPDATE and DELETE.
    static func appendOnlyTriggers(_ table: String) -> String {
        """
        CREATE TRIGGER \(table)_append_only_update BEFORE UPDATE ON \(table)
        BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END;
        CREATE TRIGGER \(table)_append_only_delete BEFORE DELETE ON \(table)
        BEGIN SELECT RAISE(ABORT, '\(table) is append-only'); END;
        """
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1 grants, sessions, audit, recordings, outbox") { db in
            try db.execute(sql: """
                CREATE TABLE grants (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    identity TEXT NOT NULL,
                    role TEXT NOT NULL,
                    contract TEXT NOT NULL,
                    host_pattern TEXT NOT NULL,
                    reason TEXT NOT NULL,
                    requested_at INTEGER NOT NULL,
                    starts_at INTEGER NOT NULL,
                    duration INTEGER NOT NULL,
                    approvals_needed INTEGER NOT NULL,
                    max_duration INTEGER NOT NULL,
                    pending_ttl INTEGER NOT NULL,
                    break_glass INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX grants_identity ON grants(identity);
                CREATE TABLE grant_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    grant_id INTEGER NOT NULL REFERENCES grants(id),
                    kind TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    comment TEXT NOT NULL DEFAULT '',
                    seconds INTEGER NOT NULL DEFAULT 0
                );
                CREATE INDEX grant_events_grant ON grant_events(grant_id);
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,
                    identity TEXT NOT NULL,
                    login TEXT NOT NULL,
                    role TEXT NOT NULL,
                    grant_id INTEGER REFERENCES grants(id),
                    host TEXT NOT NULL,
                    client TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    command TEXT NOT NULL DEFAULT '',
                    started_at INTEGER NOT NULL,
                    width INTEGER NOT NULL DEFAULT 80,
                    height INTEGER NOT NULL DEFAULT 24
                );
                CREATE INDEX sessions_started ON sessions(started_at);
                CREATE INDEX sessions_grant ON sessions(grant_id);
                CREATE TABLE session_ends (
                    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
                    ended_at INTEGER NOT NULL,
                    exit_reason TEXT NOT NULL,
                    exit_status INTEGER,
                    chunks INTEGER NOT NULL,
                    chain_head BLOB NOT NULL,
                    signature BLOB,
                    key_id TEXT NOT NULL DEFAULT ''
                );
                CREATE TABLE audit_events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL,
                    session_id TEXT,
                    identity TEXT NOT NULL,
                    host TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    line TEXT NOT NULL DEFAULT '',
                    decision TEXT NOT NULL DEFAULT '',
                    rule TEXT NOT NULL DEFAULT '',
                    reason TEXT NOT NULL DEFAULT '',
                    data TEXT NOT NULL DEFAULT '{}'
                );
                CREATE INDEX audit_at ON audit_events(at);
                CREATE INDEX audit_session ON audit_events(session_id);
                CREATE INDEX audit_identity ON audit_events(identity, at);
                CREATE INDEX audit_kind ON audit_events(kind, decision, at);
                CREATE TABLE chunks (
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    seq INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    frames INTEGER NOT NULL,
                    raw_bytes INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    prev_hash BLOB NOT NULL,
                    hash BLOB NOT NULL,
                    PRIMARY KEY (session_id, seq)
                ) WITHOUT ROWID;
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    created_at INTEGER NOT NULL,
                    event TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL,
                    delivered_at INTEGER,
                    last_error TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX outbox_due ON outbox(delivered_at, next_attempt_at);
                """)
            // What auditors rely on is never changed in place: the database itself refuses.
            for table in appendOnly { try db.execute(sql: appendOnlyTriggers(table)) }
            try db.execute(sql: """
                CREATE TRIGGER chunks_append_only_update BEFORE UPDATE ON chunks
                BEGIN SELECT RAISE(ABORT, 'chunks are append-only'); END;
                """)
        }
        m.registerMigration("v2 tombstones, full-text index of recordings") { db in
            try db.execute(sql: """
                CREATE TABLE tombstones (
                    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
                    pruned_at INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    chunks INTEGER NOT NULL,
                    first_at INTEGER NOT NULL,
                    last_at INTEGER NOT NULL,
                    chain_head BLOB NOT NULL,
                    signature BLOB NOT NULL,
                    key_id TEXT NOT NULL
                );
                CREATE TRIGGER tombstones_append_only_update BEFORE UPDATE ON tombstones
                BEGIN SELECT RAISE(ABORT, 'tombstones is append-only'); END;
                CREATE TRIGGER tombstones_append_only_delete BEFORE DELETE ON tombstones
                BEGIN SELECT RAISE(ABORT, 'tombstones is append-only'); END;
                CREATE VIRTUAL TABLE recording_text USING fts5(text, session_id UNINDEXED, seq UNINDEXED, at UNINDEXED);
                CREATE TABLE recording_index (
                    session_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    PRIMARY KEY (session_id, seq)
                ) WITHOUT ROWID;
                CREATE INDEX audit_kind_session ON audit_events(kind, session_id);
                """)
        }
        // A WITHOUT ROWID table keeps whole rows as keys, so interior pages carry copies of
        // chunk blobs: one bad page then made every recording unreadable, and page splits copied
        // blobs. Chunks become a rowid table with their key as a unique index.
        m.registerMigration("v3 chunks in a rowid table") { db in
            try db.execute(sql: """
                CREATE TABLE chunks_v3 (
                    id INTEGER PRIMARY KEY,
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    seq INTEGER NOT NULL,
                    started_at INTEGER NOT NULL,
                    frames INTEGER NOT NULL,
                    raw_bytes INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    prev_hash BLOB NOT NULL,
                    hash BLOB NOT NULL
                );
                INSERT INTO chunks_v3 (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash)
                    SELECT session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash FROM chunks ORDER BY session_id, seq;
                DROP TRIGGER chunks_append_only_update;
                DROP TABLE chunks;
                ALTER TABLE chunks_v3 RENAME TO chunks;
                CREATE UNIQUE INDEX chunks_session_seq ON chunks(session_id, seq);
                CREATE TRIGGER chunks_append_only_update BEFORE UPDATE ON chunks
                BEGIN SELECT RAISE(ABORT, 'chunks are append-only'); END;
                """)
        }
        registerSnapshots(&m)
        // One-time sign-in tokens of `jitsh review login` and the browser sessions they become;
        // only hashes are kept, so a copy of the store signs nobody in.
        m.registerMigration("v5 review sign-in tokens") { db in
            try db.execute(sql: """
                CREATE TABLE review_tokens (
                    hash BLOB PRIMARY KEY,
                    kind TEXT NOT NULL,
                    identity TEXT NOT NULL,
                    is_root INTEGER NOT NULL DEFAULT 0,
                    unix_groups TEXT NOT NULL DEFAULT '',
                    issued_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    used_at INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX review_tokens_expiry ON review_tokens(expires_at);
                """)
        }
        SQLiteStore.registerSessionLocks(&m)
        SQLiteStore.registerFullText(&m)
        SQLiteStore.registerSpool(&m)
        SQLiteStore.registerLocks(&m)
        SQLiteStore.registerApprovalRules(&m)
        SQLiteStore.registerImageShipping(&m)
        SQLiteStore.registerMicroseconds(&m)
        SQLiteStore.registerPrograms(&m)
        SQLiteStore.registerDecisionIndex(&m)
        return m
    }
}
