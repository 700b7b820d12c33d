#!/usr/bin/env python3
"""8. Search: `jitsh audit search` over a store of 10,000 sessions and 1,000,000 audit events.

    search.py --root DIR --jitsh BIN [--sessions N] [--events N] [--runs N]

Writes the store directly with sqlite3 against the schema jitsh itself creates (`jitsh init`),
with realistic rows: identities, hosts and roles, sessions spread over 30 days, lines from
bench/lines.txt decided by `jitsh check` (so argv, decision, rule and reason are jitsh's own),
session start and end events, and two recording chunks per session (compressed, hash-chained,
as the recorder writes them) for `--text`. Then times the searches, whole commands.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import time
import zlib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench-host"


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
        at = (now - rng.randrange(span)) // 10**6
        db.execute("INSERT INTO grants (identity, role, contract, host_pattern, reason, requested_at, starts_at, duration, "
                   "approvals_needed, max_duration, pending_ttl) VALUES (?, ?, 'bench', 'prod-*', 'INC-1 bench', ?, ?, 7200, 1, 7200, 3600)",
                   (identity, role, at, at))
        grants.append((db.execute("SELECT last_insert_rowid()").fetchone()[0], identity, role))
    per_session = max(3, args.events // args.sessions)
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
        if len(events) >= 200_000 or k == args.sessions - 1:
            db.executemany("INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessions)
            db.executemany("INSERT INTO audit_events (at, session_id, identity, host, kind, line, decision, rule, reason, data) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
            db.executemany("INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", chunks)
            db.executemany("INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head) "
                           "VALUES (?, ?, ?, ?, ?, ?)", ends)
            sessions, events, chunks, ends = [], [], [], []
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = [db.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in ("sessions", "audit_events", "chunks")]
    db.close()
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--jitsh", required=True)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
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
    print(json.dumps({"section": "search", "store": True, "sessions": sessions, "events": events, "chunks": chunks,
                      "store_bytes": store_bytes, "runs": args.runs}), flush=True)

    def run(argv):
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
    for name, argv in queries:
        runs = 1 if "first" in name else args.runs
        samples = [run(argv) for _ in range(runs)]
        times = [s[0] for s in samples]
        print(json.dumps({"section": "search", "query": name, "runs": runs, "p50_ns": statistics.median(times),
                          "max_ns": max(times), "results": samples[0][1]}), flush=True)
        log("search %-50s %8.1f ms, %d results" % (name, statistics.median(times) / 1e6, samples[0][1]))
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
