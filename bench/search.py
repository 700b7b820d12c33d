#!/usr/bin/env python3
"""8. Search: `jitsh audit search` over a store of 10,000 sessions and 1,000,000 audit events,
in SQLite (a lone host's store) and in PostgreSQL (a fleet's central store).

    search.py --root DIR --jitsh BIN [--sessions N] [--events N] [--runs N] [--no-postgres]

Writes the store directly with sqlite3 against the schema jitsh itself creates (`jitsh init`),
with realistic rows: identities, hosts and roles, sessions spread over 30 days, lines from
bench/lines.txt decided by `jitsh check` (so argv, decision, rule and reason are jitsh's own),
session start and end events (inserted in time order, as a store receives them: its ids follow
time), and two recording chunks per session (compressed, hash-chained, as the recorder writes
them) for `--text`. Then times the searches, whole commands.

Then the same rows go into a private PostgreSQL (bench/fleet.py's: initdb as nobody on a free
loopback port, removed at the end) whose schema `jitsh init` made with an admin's configuration:
sessions, their ends, audit events (with their ids; origin_host and origin_id stay NULL, as for
events written centrally) and chunks, copied with COPY, then VACUUM ANALYZE (so autovacuum does
not start in the middle of the timings). The same searches run through that configuration and
must find what SQLite found. The first `--text` search there indexes every chunk into
recording_text, as a fleet host's `jitsh sync` does for its own chunks as they arrive.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet import Postgres, admin_config, csv_line  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench-host"
LIMIT = 1000  # audit search's default --limit
# What the searches read, in the order the keys want them; the columns both schemas have.
TABLES = [
    ("sessions", "id, identity, login, role, grant_id, host, client, mode, command, started_at, width, height"),
    ("session_ends", "session_id, ended_at, exit_reason, exit_status, chunks, chain_head, signature, key_id"),
    ("audit_events", "id, at, session_id, identity, host, kind, line, decision, rule, reason, data"),
    ("chunks", "session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash"),
]


def log(message):
    print("bench:   " + message, file=sys.stderr, flush=True)


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def frame(kind, offset, data):
    return bytes([kind]) + varint(offset) + varint(len(data)) + data


def chunk_hash(previous, session, seq, started, frames, raw_bytes, data):
    h = hashlib.sha256(previous + session.encode())
    for v in (seq, started, frames, raw_bytes):
        h.update(struct.pack(">q", v))
    h.update(data)
    return h.digest()


def decided(jitsh, policies, role, lines):
    """jitsh's own decision of each line: (line, decision, rule, reason, commands)."""
    def check(line):
        p = subprocess.run([jitsh, "check", "--policy-dir", policies, "--role", role, "--host", HOST, "--json", "--", line],
                           capture_output=True, text=True)
        try:
            d = json.loads(p.stdout)
        except ValueError:
            return None
        commands = [{"argv": c.get("argv") or [], "decision": c.get("decision") or "", "rule": c.get("rule") or "",
                     "reason": c.get("reason") or ""} for c in d.get("commands") or []]
        return (line, d.get("decision") or "deny", d.get("rule") or "", d.get("reason") or "", commands)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        return [d for d in pool.map(check, lines) if d]


def generate(args, root, config, store):
    rng = random.Random(10)
    lines = [l.replace("↵", "\n") for l in open(os.path.join(REPO, "bench/lines.txt"), encoding="utf-8").read().split("\n") if l]
    lines += ["rm -rf /var/log/app/old-2026-10", "rm /tmp/report.csv", "kubectl delete pod web-7d9f", "DROP TABLE orders",
              "systemctl restart nginx", "journalctl -u nginx --since today"]
    policies = os.path.join(root, "policies")
    roles = {}
    for role in ("readonly", "operator"):
        roles[role] = decided(args.jitsh, policies, role, lines)
    identities = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"] + \
        ["user%02d" % k for k in range(50)]
    hosts = ["prod-%d" % k for k in range(1, 21)]
    cwds = ["/root", "/var/log", "/var/lib/app", "/etc/nginx", "/tmp"]
    now = int(time.time() * 1e6)
    span = 30 * 86400 * 10**6
    words = open(os.path.join(REPO, "bench/lines.txt"), encoding="utf-8").read().split()

    db = sqlite3.connect(store)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    grants = []
    for g in range(500):
        identity = rng.choice(identities)
        role = rng.choice(list(roles))
        at = now - rng.randrange(span)
        # Microseconds, as every time the store keeps (schema v12).
        db.execute("INSERT INTO grants (identity, role, contract, host_pattern, reason, requested_at, starts_at, duration, "
                   "approvals_needed, max_duration, pending_ttl) VALUES (?, ?, 'bench', 'prod-*', 'INC-1 bench', ?, ?, ?, 1, ?, ?)",
                   (identity, role, at, at, 7200 * 10**6, 7200 * 10**6, 3600 * 10**6))
        grants.append((db.execute("SELECT last_insert_rowid()").fetchone()[0], identity, role))
    per_session = max(3, args.events // args.sessions)
    # Every session's events, inserted at the end in time order: a store receives them as they
    # happen, sessions interleaved, so its ids follow time (newest last), as searches expect.
    events = []
    chunks = []
    sessions = []
    ends = []
    for k in range(args.sessions):
        grant, identity, role = rng.choice(grants)
        host = rng.choice(hosts)
        sid = "%032x" % rng.getrandbits(128)
        started = now - rng.randrange(span)
        sessions.append((sid, identity, identity, role, grant, host, "10.0.%d.%d" % (k % 250, k % 199), "interactive", "", started))
        at = started
        events.append((at, sid, identity, host, "session-start", "", "", "", "", '{"mode":"interactive"}'))
        shown = bytearray()
        for _ in range(per_session - 2):
            at += rng.randrange(1, 30 * 10**6)
            line, decision, rule, reason, commands = rng.choice(roles[role])
            cwd = rng.choice(cwds)
            data = json.dumps({"alert": False, "commands": commands, "cwd": cwd}, sort_keys=True)
            events.append((at, sid, identity, host, "line", line, decision, rule, reason, data))
            if len(shown) < 6000:
                shown += ("%s@%s [%s] %s$ %s\r\n" % (identity, host, role, cwd, line)).encode()
                shown += (" ".join(rng.choice(words) for _ in range(12)) + "\r\n").encode()
        at += 10**6
        events.append((at, sid, identity, host, "session-end", "", "", "", "exit", '{"chunks":2,"status":0}'))
        previous = hashlib.sha256(("jitsh-session:%s" % sid).encode()).digest()
        half = len(shown) // 2
        for seq, part in enumerate((bytes(shown[:half]), bytes(shown[half:]))):
            raw = frame(1, seq * 1000, part)
            data = zlib.compress(raw, 1)
            h = chunk_hash(previous, sid, seq, started + seq, 1, len(raw), data)
            chunks.append((sid, seq, started + seq, 1, len(raw), data, previous, h))
            previous = h
        ends.append((sid, at, "exit", 0, 2, previous))
        if len(chunks) >= 4_000 or k == args.sessions - 1:
            db.executemany("INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessions)
            db.executemany("INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunks)
            db.executemany("INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head) "
                           "VALUES (?, ?, ?, ?, ?, ?)", ends)
            sessions, chunks, ends = [], [], []
    events.sort(key=lambda e: e[0])
    db.executemany("INSERT INTO audit_events (at, session_id, identity, host, kind, line, decision, rule, reason, data) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = [db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in ("sessions", "audit_events", "chunks")]
    db.close()
    return counts


def load_postgres(args, root, store, pg):
    """The SQLite store's rows in the PostgreSQL `pg`, schema by `jitsh init`; returns the admin's
    configuration."""
    config = admin_config(args.jitsh, pg, os.path.join(root, "pg-admin"), os.path.join(root, "policies"))
    db = sqlite3.connect(store)
    for table, columns in TABLES:
        pg.copy(table, columns, (csv_line(row) for row in db.execute("SELECT %s FROM %s" % (columns, table))))
    db.close()
    pg.psql("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), (SELECT max(id) FROM audit_events))")
    pg.psql("VACUUM (ANALYZE)")
    return config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--jitsh", required=True)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = ap.parse_args()
    args.jitsh = os.path.abspath(args.jitsh)
    root = os.path.abspath(args.root)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "store"))
    os.chmod(root, 0o755)
    shutil.copytree(os.path.join(REPO, "policies"), os.path.join(root, "policies"), ignore=shutil.ignore_patterns("tests"))
    store = os.path.join(root, "store", "jitsh.db")
    config = os.path.join(root, "jitsh.yaml")
    with open(config, "w") as f:
        f.write("store: %s\npolicies: %s\nsigning_key: %s\nhost: {name: %s}\n"
                % (store, os.path.join(root, "policies"), os.path.join(root, "store", "signing.key"), HOST))
    subprocess.run([args.jitsh, "init", "--config", config], check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    sessions, events, chunks = generate(args, root, config, store)
    log("search: generated %d sessions, %d events, %d chunks in %.0f s" % (sessions, events, chunks, time.monotonic() - t0))
    store_bytes = os.path.getsize(store)
    print(json.dumps({"section": "search", "backend": "sqlite", "store": True, "sessions": sessions, "events": events,
                      "chunks": chunks, "store_bytes": store_bytes, "runs": args.runs}), flush=True)

    def run(config, argv):
        t = time.monotonic_ns()
        p = subprocess.run([args.jitsh, "audit", "search", "--config", config] + argv, capture_output=True, text=True)
        elapsed = time.monotonic_ns() - t
        if p.returncode != 0:
            raise RuntimeError("audit search %s: exit %d: %s" % (argv, p.returncode, p.stderr.strip()))
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else "0"
        return elapsed, int(last.split()[0]) if last.split()[0].isdigit() else 0

    queries = [
        ("`command rm and user alice`", ["command", "rm", "and", "user", "alice"]),
        ("`decision deny and since \"2 hours ago\"`", ["decision deny and since \"2 hours ago\""]),
        ("`user bob and host prod-3 and kind line`", ["user", "bob", "and", "host", "prod-3", "and", "kind", "line"]),
        ("`--text 'DROP TABLE'`, first (indexes every chunk)", ["--text", "\"DROP TABLE\""]),
        ("`--text 'DROP TABLE'`", ["--text", "\"DROP TABLE\""]),
        ("`--text journalctl`", ["--text", "journalctl"]),
    ]

    def measure(backend, config, like=None):
        """Times the queries; with `like` (what SQLite found), each must find as many."""
        found = {}
        for name, argv in queries:
            runs = 1 if "first" in name else args.runs
            samples = [run(config, argv) for _ in range(runs)]
            times = [s[0] for s in samples]
            found[name] = samples[0][1]
            if like is not None:
                mine, theirs = found[name], like[name]
                if mine == theirs == LIMIT:
                    # Both at the default --limit: compare what each finds without it (untimed).
                    mine, theirs = (run(c, ["--limit", "100000000"] + argv)[1] for c in (config, like["config"]))
                elif mine != theirs and "since" in name:
                    # "since 2 hours ago" moves with the clock: SQLite's count now, not a minute ago.
                    theirs = run(like["config"], argv)[1]
                if mine != theirs:
                    raise RuntimeError("search %s: %d results in %s, %d in SQLite" % (name, mine, backend, theirs))
            print(json.dumps({"section": "search", "backend": backend, "query": name, "runs": runs,
                              "p50_ns": statistics.median(times), "max_ns": max(times), "results": samples[0][1]}), flush=True)
            log("search %-10s %-50s %8.1f ms, %d results" % (backend, name, statistics.median(times) / 1e6, samples[0][1]))
        found["config"] = config
        return found

    in_sqlite = measure("sqlite", config)
    if not args.no_postgres:
        # SIGTERM (make bench stopped) goes through the finally below, so the server never outlives the run.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        pg = Postgres()
        try:
            pg.start()
            t0 = time.monotonic()
            admin = load_postgres(args, root, store, pg)
            loaded = time.monotonic() - t0
            counts = [int(pg.psql("SELECT count(*) FROM %s" % t)) for t in ("sessions", "audit_events", "chunks")]
            if counts != [sessions, events, chunks]:
                raise RuntimeError("PostgreSQL holds %s sessions, events, chunks; SQLite %s" % (counts, [sessions, events, chunks]))
            log("search: copied into PostgreSQL and analysed in %.0f s" % loaded)
            print(json.dumps({"section": "search", "backend": "postgresql", "store": True, "sessions": sessions, "events": events,
                              "chunks": chunks, "store_bytes": int(pg.psql("SELECT pg_database_size(current_database())")),
                              "load_s": loaded, "runs": args.runs}), flush=True)
            measure("postgresql", admin, like=in_sqlite)
        finally:
            pg.stop()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
