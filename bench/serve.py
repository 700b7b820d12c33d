#!/usr/bin/env python3
"""9. The web app: `jitsh serve` page latency over the search bench's store, and time to the
first chunk of a 50 MB recording.

    serve.py --root DIR --jitsh BIN [--sessions N] [--events N] [--runs N] [--mib N]

The store is search.py's (10,000 sessions, 1,000,000 audit events, two chunks a session), plus
one session of --mib MiB of output in 32 KiB chunks, as the recorder writes them. A real
`jitsh serve` on a free loopback port; a reviewer signs in with `jitsh review login`; each page
is fetched whole over a new connection (what a browser's first visit costs).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import search  # noqa: E402  (the store generator)

REPO = search.REPO


def log(message):
    print("bench:   " + message, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fetch(port, path, cookie=None, first_line=False):
    """(status, seconds to the whole answer or to the first body line, body bytes)."""
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % path
    if cookie:
        head += "Cookie: jitsh_review=%s\r\n" % cookie
    s.sendall((head + "\r\n").encode())
    parts, size = [], 0
    while True:
        part = s.recv(1 << 20)
        if not part:
            break
        parts.append(part)
        size += len(part)
        if first_line:
            data = b"".join(parts)
            if b"\r\n\r\n" in data and b"}\n" in data.split(b"\r\n\r\n", 1)[1]:
                # chunked: a size line, then the first JSON line of the recording
                elapsed = time.monotonic() - t
                s.close()
                return int(data.split(b" ", 2)[1]), elapsed, size
    s.close()
    elapsed = time.monotonic() - t
    head = parts[0] if parts else b""
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, elapsed, size


def big_recording(store, mib):
    """One session of `mib` MiB of output in 32 KiB chunks, hash-chained as the recorder does."""
    import sqlite3
    rng = random.Random(7)
    sid = "%032x" % rng.getrandbits(128)
    started = int(time.time() * 1e6) - 3600 * 10**6
    db = sqlite3.connect(store)
    db.execute("BEGIN")
    db.execute("INSERT INTO sessions (id, identity, login, role, grant_id, host, client, mode, command, started_at) "
               "VALUES (?, 'alice', 'alice', 'readonly', NULL, 'prod-1', '10.0.0.1', 'interactive', '', ?)", (sid, started))
    previous = hashlib.sha256(("jitsh-session:%s" % sid).encode()).digest()
    words = open(os.path.join(REPO, "bench/lines.txt"), encoding="utf-8").read().split()
    line = (" ".join(words[:40]) + "\r\n").encode()
    piece = (line * (32768 // len(line) + 1))[:32768]
    chunks = mib * 32
    for seq in range(chunks):
        raw = search.frame(1, seq * 250_000, piece)
        data = zlib.compress(raw, 1)
        h = search.chunk_hash(previous, sid, seq, started + seq * 250_000, 1, len(raw), data)
        db.execute("INSERT INTO chunks (session_id, seq, started_at, frames, raw_bytes, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (sid, seq, started + seq * 250_000, 1, len(raw), data, previous, h))
        previous = h
    db.execute("INSERT INTO session_ends (session_id, ended_at, exit_reason, exit_status, chunks, chain_head) VALUES (?, ?, 'exit', 0, ?, ?)",
               (sid, started + chunks * 250_000, chunks, previous))
    db.execute("COMMIT")
    db.close()
    return sid


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--jitsh", required=True)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mib", type=int, default=50)
    args = ap.parse_args()
    args.jitsh = os.path.abspath(args.jitsh)
    root = os.path.abspath(args.root)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "store"))
    os.chmod(root, 0o755)
    shutil.copytree(os.path.join(REPO, "policies"), os.path.join(root, "policies"), ignore=shutil.ignore_patterns("tests"))
    policy = os.path.join(root, "policies", "policy.yaml")
    text = open(policy, encoding="utf-8").read()
    with open(policy, "w", encoding="utf-8") as f:
        f.write(text.replace("people:\n", "people:\n  rita: [auditors]\n", 1))
    store = os.path.join(root, "store", "jitsh.db")
    config = os.path.join(root, "jitsh.yaml")
    port = free_port()
    with open(config, "w") as f:
        f.write("store: %s\npolicies: %s\nsigning_key: %s\nhost: {name: %s}\nreview_url: http://127.0.0.1:%d\n"
                % (store, os.path.join(root, "policies"), os.path.join(root, "store", "signing.key"), search.HOST, port))
    subprocess.run([args.jitsh, "init", "--config", config], check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    sessions, events, chunks = search.generate(args, root, config, store)
    big = big_recording(store, args.mib)
    log("serve: generated %d sessions, %d events, %d chunks and a %d MiB recording in %.0f s"
        % (sessions, events, chunks, args.mib, time.monotonic() - t0))
    # The full-text index, built once as `audit search --text` builds it (jitsh serve keeps it up
    # to date in the background); timed apart.
    t = time.monotonic()
    subprocess.run([args.jitsh, "audit", "search", "--config", config, "--text", "journalctl"], check=True, stdout=subprocess.DEVNULL)
    log("serve: indexed every chunk for search in %.0f s" % (time.monotonic() - t))
    print(json.dumps({"section": "serve", "store": True, "sessions": sessions, "events": events, "recording_mib": args.mib}), flush=True)
    server = subprocess.Popen([args.jitsh, "serve", "--config", config, "--listen", "127.0.0.1:%d" % port],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        out = subprocess.run([args.jitsh, "review", "login", "--config", config, "--as", "rita"], check=True,
                             capture_output=True, text=True).stdout
        link = [l for l in out.splitlines() if l.startswith("http://")][0]
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % link[link.index("/login"):]).encode())
        reply = s.recv(65536).decode()
        s.close()
        cookie = reply.split("jitsh_review=", 1)[1].split(";", 1)[0]
        pages = [("`/sessions`", "/sessions"), ("`/sessions?page=100`", "/sessions?page=100"),
                 ("`/sessions?user=alice&since=7d`", "/sessions?user=alice&since=7d"),
                 ("`/sessions?denied=1`", "/sessions?denied=1"), ("`/sessions?command=rm`", "/sessions?command=rm"),
                 ("`/search?q=journalctl`", "/search?q=journalctl"), ("`/search?q=\"DROP TABLE\"`", "/search?q=%22DROP+TABLE%22"),
                 ("`/sessions/ID` (the 50 MB one)", "/sessions/%s" % big)]
        for name, path in pages:
            samples = []
            for _ in range(args.runs):
                status, elapsed, size = fetch(port, path, cookie)
                if status != 200:
                    raise RuntimeError("%s: HTTP %d" % (path, status))
                samples.append(elapsed)
            print(json.dumps({"section": "serve", "page": name, "runs": args.runs, "p50_ns": statistics.median(samples) * 1e9,
                              "max_ns": max(samples) * 1e9, "bytes": size}), flush=True)
            log("serve %-45s p50 %7.1f ms  max %7.1f ms" % (name, statistics.median(samples) * 1e3, max(samples) * 1e3))
        samples = [fetch(port, "/sessions/%s/recording" % big, cookie, first_line=True)[1] for _ in range(args.runs)]
        print(json.dumps({"section": "serve", "page": "first chunk of the %d MiB recording" % args.mib, "runs": args.runs,
                          "p50_ns": statistics.median(samples) * 1e9, "max_ns": max(samples) * 1e9}), flush=True)
        log("serve first chunk of %d MiB recording       p50 %7.1f ms  max %7.1f ms" % (args.mib, statistics.median(samples) * 1e3, max(samples) * 1e3))
        t = time.monotonic()
        status, whole, size = fetch(port, "/sessions/%s/recording" % big, cookie)
        print(json.dumps({"section": "serve", "page": "whole %d MiB recording streamed" % args.mib, "runs": 1,
                          "p50_ns": whole * 1e9, "max_ns": whole * 1e9, "bytes": size}), flush=True)
        log("serve whole %d MiB recording streamed          %7.1f ms (%d bytes)" % (args.mib, whole * 1e3, size))
    finally:
        server.kill()
        server.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
