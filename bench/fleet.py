#!/usr/bin/env python3
"""11. The fleet under load, for `make bench`: concurrent sessions across fleet hosts, each
recording into its own spool while its `jitsh sync` ships to one central PostgreSQL.

    fleet.py --root DIR --jitsh BIN --tools DIR [--sessions N] [--seconds S] [--rate B] [--hosts H]

Everything is private to the run: a PostgreSQL cluster made by initdb in a temporary directory,
run as `nobody` (the server refuses root) on a free loopback port, stopped and removed at the
end whatever happens; H host configurations (own name, spool, signing key and database role, as
`jitsh fleet add-host` makes it), one `jitsh sync` service per host. Prints one JSON line
(`section`: fleet, read by bench/report.py).

What it checks from PostgreSQL: every session's chunks decoded there, the chain checked and the
output compared byte for byte (length and SHA-256) with what its writer wrote; no chunk or audit
event twice. Shipping lag is per chunk: the wall clock when the session's writer committed it to
the spool (jitsh's JITSH_BENCH_COMMIT_LOG) to the commit time of the central transaction that
inserted it (PostgreSQL's track_commit_timestamp), both on this machine's clock; `jitsh sync
--status` is also sampled each second for the oldest unshipped row's age.
"""
import argparse
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sessions import MB, compare, decode_chunks, emit, log, percentile, writer_result  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "nobody"
ADMIN = "jitsh_admin"
DATABASE = "jitsh"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "LANG": "C.UTF-8", "HOME": "/root",
       "LOGNAME": "root", "USER": "root"}


def run(argv, **kw):
    done = subprocess.run(argv, capture_output=True, text=True, env=kw.pop("env", ENV), **kw)
    if done.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(argv[:4]), done.returncode, (done.stderr or done.stdout).strip()[-400:]))
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A private cluster; `stop` removes it (called in a finally and on SIGTERM)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jitsh-bench-pg-")
        self.port = free_port()
        self.password = "bench-" + os.urandom(12).hex()
        nobody = pwd.getpwnam(PG_USER)
        os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
        os.chmod(self.dir, 0o711)
        pwfile = os.path.join(self.dir, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password)
        os.chown(pwfile, nobody.pw_uid, nobody.pw_gid)
        self.started = False

    def start(self):
        pwfile = os.path.join(self.dir, "pwfile")
        self.as_user([PG_BIN + "/initdb", "-D", self.dir + "/data", "-U", ADMIN, "--pwfile", pwfile, "--auth-local=trust",
                      "--auth-host=scram-sha-256", "--no-sync"])
        os.unlink(pwfile)
        # Commit timestamps give each chunk's arrival: the central half of the shipping lag.
        self.as_user([PG_BIN + "/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-t", "60", "-o",
                      "-k %s -p %d -c listen_addresses=127.0.0.1 -c max_connections=100 -c track_commit_timestamp=on"
                      % (self.dir, self.port), "start"])
        self.started = True
        self.psql("CREATE DATABASE %s" % DATABASE, database="postgres")

    def as_user(self, argv):
        # The server must not hold our pipes (it outlives pg_ctl): its output goes to its log.
        subprocess.run(["runuser", "-u", PG_USER, "--"] + argv, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/", timeout=120)

    def psql(self, sql, database=DATABASE):
        return run([PG_BIN + "/psql", "-h", self.dir, "-p", str(self.port), "-U", ADMIN, "-d", database, "-X", "-q",
                    "-v", "ON_ERROR_STOP=1", "-tA", "-F", "|", "-c", sql])

    def rows(self, sql):
        return [line.split("|") for line in self.psql(sql).splitlines() if line]

    def stop(self):
        if self.started:
            try:
                self.as_user([PG_BIN + "/pg_ctl", "-D", self.dir + "/data", "-m", "fast", "-w", "-t", "60", "stop"])
            except (subprocess.SubprocessError, OSError) as e:
                log("fleet: stopping PostgreSQL: %s" % e)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def write_policies(root, tools):
    policies = os.path.join(root, "policies")
    shutil.copytree(os.path.join(REPO, "policies"), policies, ignore=shutil.ignore_patterns("tests"))
    # A cached view of 10 minutes: what is measured is shipping, not how fresh the view stays.
    with open(os.path.join(policies, "roles/bench.yaml"), "w") as f:
        f.write("role: bench\ndescription: the fleet workload of make bench\nallow:\n  - cmd: [%s]\nwrites: [\"/tmp/**\"]\n"
                "offline: {cached: 10m}\n" % os.path.join(tools, "loggen"))
    return policies


def write_config(path, store, password_file, spool, policies, key, name):
    # Each host's service has its metrics on a port of its own (the default one is shared).
    with open(path, "w") as f:
        f.write("store: %s\nstore_password_file: %s\nspool: %s\npolicies: %s\nsigning_key: %s\nhost: {name: %s, tags: {env: bench}}\n"
                "sync_metrics: 127.0.0.1:%d\n" % (store, password_file, spool, policies, key, name, free_port()))
    os.chmod(path, 0o644)


def setup(args, pg):
    """The admin's configuration (it makes the schema and the grant) and the hosts', each with its
    own database role; every spool has the grant view after one sync."""
    root = args.root
    jitsh = args.jitsh
    policies = write_policies(root, args.tools)
    admin_dir = os.path.join(root, "admin")
    os.makedirs(admin_dir)
    admin_password = os.path.join(admin_dir, "db.password")
    with open(admin_password, "w") as f:
        f.write(pg.password + "\n")
    os.chown(admin_password, 0, grp.getgrnam("jitsh").gr_gid)
    os.chmod(admin_password, 0o640)
    admin = os.path.join(admin_dir, "jitsh.yaml")
    write_config(admin, "postgresql://%s@127.0.0.1:%d/%s" % (ADMIN, pg.port, DATABASE), admin_password,
                 os.path.join(admin_dir, "spool.db"), policies, os.path.join(admin_dir, "signing.key"), "bench-admin")
    run([jitsh, "init", "--config", admin])
    hosts = []
    for k in range(args.hosts):
        name = "bench-fleet-%d" % (k + 1)
        d = os.path.join(root, name)
        os.makedirs(os.path.join(d, "spool"))
        role = "jitsh_bench_fleet_%d" % (k + 1)
        password = os.path.join(d, "db.password")
        sql = run([jitsh, "fleet", "add-host", name, "--role", role, "--database", DATABASE, "--password-file", password])
        pg.psql("\n".join(line for line in sql.splitlines() if not line.startswith("jitsh: wrote")))
        config = os.path.join(d, "jitsh.yaml")
        spool = os.path.join(d, "spool", "spool.db")
        write_config(config, "postgresql://%s@127.0.0.1:%d/%s" % (role, pg.port, DATABASE), password, spool, policies,
                     os.path.join(d, "signing.key"), name)
        run([jitsh, "init", "--config", config])
        hosts.append({"name": name, "config": config, "spool": spool, "dir": d})
    run([jitsh, "grant", "create", "--config", admin, "--for", "bench", "--role", "bench", "--host", "bench-fleet-*",
         "--duration", "4h", "--reason", "make bench"])
    for h in hosts:
        run([jitsh, "sync", "--once", "--config", h["config"]])
    return hosts


def status(jitsh, host):
    try:
        out = run([jitsh, "sync", "--status", "--json", "--config", host["config"]], timeout=30)
        return json.loads(out)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return None


def sample_status(jitsh, hosts, samples, stop):
    while not stop.is_set():
        for h in hosts:
            s = status(jitsh, h)
            if s is not None:
                samples.append(s["lag_seconds"])
        stop.wait(1.0)


def load(args, pg, hosts):
    jitsh = args.jitsh
    work = os.path.join(args.root, "work")
    os.makedirs(work)
    commit_log = os.path.join(work, "commits.log")
    per_session = args.rate * args.seconds
    loggen = os.path.join(args.tools, "loggen")
    services = []
    for h in hosts:
        out = open(os.path.join(h["dir"], "sync.log"), "wb")
        services.append((subprocess.Popen([jitsh, "sync", "--config", h["config"]], env=ENV, stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=out), out))
    samples = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_status, args=(jitsh, hosts, samples, stop), daemon=True)
    try:
        env = dict(ENV, TERM="xterm", JITSH_BENCH_COMMIT_LOG=commit_log)
        with open("/proc/stat") as f:
            cpu0 = [int(x) for x in f.readline().split()[1:]]
        sampler.start()
        procs = []
        lines = {}
        t0 = time.monotonic()
        for k in range(args.sessions):
            h = hosts[k % len(hosts)]
            line = "%s %d %d %s/s%d.sum %d" % (loggen, per_session, args.rate, work, k, args.seconds)
            lines[k] = line
            err = open(os.path.join(work, "s%d.err" % k), "wb")
            procs.append((k, subprocess.Popen([jitsh, "--config", h["config"], "--as", "bench"], env=dict(env, SSH_ORIGINAL_COMMAND=line),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err), err))
        statuses = {}
        for k, p, err in procs:
            statuses[k] = p.wait()
            err.close()
        wall = time.monotonic() - t0
        ended = time.time()
        with open("/proc/stat") as f:
            cpu1 = [int(x) for x in f.readline().split()[1:]]
        busy = 1 - (cpu1[3] + cpu1[4] - cpu0[3] - cpu0[4]) / max(1, sum(cpu1) - sum(cpu0))
        # Drained: every host's spool has nothing left to ship.
        deadline = time.monotonic() + args.drain_timeout
        drained = None
        while time.monotonic() < deadline:
            gone = [h["name"] for h, (p, _) in zip(hosts, services) if p.poll() is not None]
            if gone:
                raise RuntimeError("jitsh sync of %s stopped (see its sync.log)" % ", ".join(gone))
            states = [status(jitsh, h) for h in hosts]
            if all(s is not None and s["queued_sessions"] == 0 and s["queued_bytes"] == 0 for s in states):
                drained = time.time() - ended
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for p, out in services:
            p.send_signal(signal.SIGTERM)
        for p, out in services:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            out.close()
    sampler.join(timeout=40)
    return check(args, pg, hosts, work, commit_log, lines, statuses, wall, busy, drained, samples)


def central_chunks(pg, session):
    rows = []
    for seq, started, frames, raw, data, prev, h in pg.rows(
            "SELECT seq, started_at, frames, raw_bytes, encode(data, 'hex'), encode(prev_hash, 'hex'), encode(hash, 'hex') "
            "FROM chunks WHERE session_id = '%s' ORDER BY seq" % session):
        rows.append((int(seq), int(started), int(frames), int(raw), bytes.fromhex(data), bytes.fromhex(prev), bytes.fromhex(h)))
    return rows


def check(args, pg, hosts, work, commit_log, lines, statuses, wall, busy, drained, samples):
    errors = []
    by_command = {}
    for sid, command, host in pg.rows("SELECT id, command, host FROM sessions"):
        by_command[command] = (sid, host)
    ends = {sid: (int(chunks), reason) for sid, chunks, reason in pg.rows("SELECT session_id, chunks, exit_reason FROM session_ends")}
    expected = central = lost = 0
    for k, line in lines.items():
        written, digest = writer_result(work, k, statuses[k], args.rate * args.seconds, errors)
        expected += written
        found = by_command.get(line)
        if found is None:
            errors.append("session %d: not in the central store" % k)
            lost += written
            continue
        sid, host = found
        if host != hosts[k % len(hosts)]["name"]:
            errors.append("session %d: central store says host %s" % (k, host))
        count, missing = compare(k, written, digest, decode_chunks(sid, central_chunks(pg, sid), ends.get(sid)), "central", errors)
        central += count
        lost += missing
    # The keys forbid a chunk twice; events are keyed by their host and their id in its spool.
    doubled_chunks = int(pg.psql("SELECT count(*) FROM (SELECT 1 FROM chunks GROUP BY session_id, seq HAVING count(*) > 1) d"))
    doubled_events = int(pg.psql("SELECT count(*) FROM (SELECT 1 FROM audit_events GROUP BY origin_host, origin_id "
                                 "HAVING count(*) > 1) d"))
    stored = {}
    for sid, seq, at in pg.rows("SELECT session_id, seq, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint "
                                "FROM chunks"):
        stored[(sid, int(seq))] = int(at)
    commits = []
    lags = []
    if os.path.exists(commit_log):
        with open(commit_log) as f:
            for entry in f:
                took, at, sid, seq = entry.split()
                commits.append(int(took))
                arrived = stored.get((sid, int(seq)))
                if arrived is None:
                    errors.append("chunk %s/%s committed to its spool, not central" % (sid, seq))
                else:
                    lags.append(arrived - int(at))
    if len(commits) != len(stored):
        errors.append("%d chunks committed to spools, %d central" % (len(commits), len(stored)))
    for e in errors[:10]:
        log("fleet: " + e)
    record = {"section": "fleet", "sessions": args.sessions, "hosts": args.hosts, "seconds": args.seconds, "rate": args.rate,
              "offered_mb_s": args.sessions * args.rate / MB, "wall_s": wall, "achieved_mb_s": central / MB / wall,
              "written_bytes": expected, "central_bytes": central, "lost_bytes": lost, "doubled_chunks": doubled_chunks,
              "doubled_events": doubled_events, "errors": len(errors), "error_samples": errors[:10], "chunks": len(commits),
              "commit_p50_us": percentile(commits, 0.5), "commit_p99_us": percentile(commits, 0.99),
              "commit_max_us": max(commits) if commits else 0,
              "lag_p50_us": percentile(lags, 0.5), "lag_p99_us": percentile(lags, 0.99), "lag_max_us": max(lags) if lags else 0,
              "status_lag_p50_s": percentile(samples, 0.5), "status_lag_p99_s": percentile(samples, 0.99),
              "status_lag_max_s": max(samples) if samples else 0, "status_samples": len(samples),
              "drained_after_s": drained, "cpu_busy": busy}
    emit(record)
    log("fleet %d sessions on %d hosts x %d s: %.1f of %.1f MB/s central, %d of %d bytes lost, %d errors; shipping lag p50 %.2f s "
        "p99 %.2f s; chunk commit p99 %.1f ms; drained %s s after the last session"
        % (args.sessions, args.hosts, args.seconds, record["achieved_mb_s"], record["offered_mb_s"], lost, expected, len(errors),
           record["lag_p50_us"] / 1e6, record["lag_p99_us"] / 1e6, record["commit_p99_us"] / 1000,
           "%.1f" % drained if drained is not None else "never (timed out)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True)
    ap.add_argument("--jitsh", required=True)
    ap.add_argument("--tools", required=True)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--rate", type=int, default=1 << 20)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--drain-timeout", type=float, default=600)
    args = ap.parse_args()
    args.root = os.path.abspath(args.root)
    args.jitsh = os.path.abspath(args.jitsh)
    args.tools = os.path.abspath(args.tools)
    shutil.rmtree(args.root, ignore_errors=True)
    os.makedirs(args.root)
    os.chmod(args.root, 0o755)
    # SIGTERM (make bench stopped) goes through the finally below, so the server never outlives the run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pg = None
    try:
        pg = Postgres()
        pg.start()
        hosts = setup(args, pg)
        load(args, pg, hosts)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
