#!/usr/bin/env python3
"""11. The fleet, for `make bench`: a fleet host beside a lone host, then concurrent sessions
across fleet hosts, each recording into its own spool while its `jitsh sync` ships to one
central PostgreSQL.

    fleet.py --root DIR --jitsh BIN --tools DIR [--sessions N] [--seconds S] [--rate B] [--hosts H]
             [--pair-starts N] [--pair-mib M] [--pair-runs R]

Everything is private to the run: a PostgreSQL cluster made by initdb in a temporary directory,
run as `nobody` (the server refuses root) on a free loopback port, stopped and removed at the
end whatever happens; H host configurations (own name, spool, signing key and database role, as
`jitsh fleet add-host` makes it), one `jitsh sync` service per host. Prints JSON lines read by
bench/report.py: `section` fleet-pair for the pair, fleet for the load.

The pair (issue 20: a fleet host within a few percent of a lone host): the first fleet host,
with its `jitsh sync` running, against a lone host (store: a SQLite file) with the same
policies, role and grant, taken in turns so what else the machine does falls on both. Session
start as part 5 measures it (N exec-mode starts of the stamp tool, each host), and exec-mode
recording throughput (M MiB of log lines, and a `cat` of M MiB of text, R runs each).

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
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sessions import MB, compare, decode_chunks, emit, log, make_text_file, percentile, spawn_timed, writer_result  # noqa: E402

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

    def copy(self, table, columns, lines):
        """Bulk-loads `lines` (CSV, see csv_line) into `table` with one COPY."""
        p = subprocess.Popen([PG_BIN + "/psql", "-h", self.dir, "-p", str(self.port), "-U", ADMIN, "-d", DATABASE, "-X", "-q",
                              "-v", "ON_ERROR_STOP=1", "-c", "\\copy %s (%s) FROM pstdin (FORMAT csv)" % (table, columns)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        try:
            batch = []
            for line in lines:
                batch.append(line)
                if len(batch) >= 10000:
                    p.stdin.write("".join(batch).encode())
                    batch = []
            p.stdin.write("".join(batch).encode())
        except BrokenPipeError:
            pass
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError("COPY %s exited %d: %s" % (table, p.returncode, err.decode(errors="replace").strip()[-400:]))

    def stop(self):
        if self.started:
            try:
                self.as_user([PG_BIN + "/pg_ctl", "-D", self.dir + "/data", "-m", "fast", "-w", "-t", "60", "stop"])
            except (subprocess.SubprocessError, OSError) as e:
                log("fleet: stopping PostgreSQL: %s" % e)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)


def csv_line(row):
    """One row as COPY's CSV reads it: NULL unquoted and empty, text always quoted (so '' stays
    text), bytea as \\x hex."""
    fields = []
    for v in row:
        if v is None:
            fields.append("")
        elif isinstance(v, bytes):
            fields.append("\\x" + v.hex())
        elif isinstance(v, int):
            fields.append(str(v))
        else:
            fields.append('"' + v.replace('"', '""') + '"')
    return ",".join(fields) + "\n"


def write_policies(root, tools):
    policies = os.path.join(root, "policies")
    shutil.copytree(os.path.join(REPO, "policies"), policies, ignore=shutil.ignore_patterns("tests"))
    # A cached view of 10 minutes: what is measured is shipping, not how fresh the view stays.
    with open(os.path.join(policies, "roles/bench.yaml"), "w") as f:
        f.write("role: bench\ndescription: the fleet workloads of make bench\nallow:\n  - cmd: [cat]\n  - cmd: [%s, %s]\n"
                "writes: [\"/tmp/**\"]\noffline: {cached: 10m}\n" % (os.path.join(tools, "loggen"), os.path.join(tools, "stamp")))
    return policies


def write_config(path, store, password_file, spool, policies, key, name):
    # Each host's service has its metrics on a port of its own (the default one is shared).
    with open(path, "w") as f:
        f.write("store: %s\nstore_password_file: %s\nspool: %s\npolicies: %s\nsigning_key: %s\nhost: {name: %s, tags: {env: bench}}\n"
                "sync_metrics: 127.0.0.1:%d\n" % (store, password_file, spool, policies, key, name, free_port()))
    os.chmod(path, 0o644)


def admin_config(jitsh, pg, directory, policies):
    """An admin's configuration for the central store (its password file root:jitsh 0640), after
    `jitsh init` made or checked the schema through it; its path."""
    os.makedirs(directory)
    password = os.path.join(directory, "db.password")
    with open(password, "w") as f:
        f.write(pg.password + "\n")
    os.chown(password, 0, grp.getgrnam("jitsh").gr_gid)
    os.chmod(password, 0o640)
    config = os.path.join(directory, "jitsh.yaml")
    write_config(config, "postgresql://%s@127.0.0.1:%d/%s" % (ADMIN, pg.port, DATABASE), password,
                 os.path.join(directory, "spool.db"), policies, os.path.join(directory, "signing.key"), "bench-admin")
    run([jitsh, "init", "--config", config])
    return config


def stop_services(services):
    """SIGTERM to each `jitsh sync` (it ships what it can, then exits), SIGKILL after 30 s."""
    for p, out in services:
        p.send_signal(signal.SIGTERM)
    for p, out in services:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out.close()


def setup(args, pg):
    """The admin's configuration (it makes the schema and the grant) and the hosts', each with its
    own database role; every spool has the grant view after one sync."""
    root = args.root
    jitsh = args.jitsh
    policies = write_policies(root, args.tools)
    admin = admin_config(jitsh, pg, os.path.join(root, "admin"), policies)
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
    return hosts, policies


def lone_host(args, policies):
    """A host of its own (store: a SQLite file) with the fleet hosts' policies, role and grant."""
    d = os.path.join(args.root, "bench-lone")
    os.makedirs(os.path.join(d, "store"))
    config = os.path.join(d, "jitsh.yaml")
    with open(config, "w") as f:
        f.write("store: %s\npolicies: %s\nsigning_key: %s\nhost: {name: bench-lone, tags: {env: bench}}\n"
                % (os.path.join(d, "store", "jitsh.db"), policies, os.path.join(d, "store", "signing.key")))
    os.chmod(config, 0o644)
    run([args.jitsh, "init", "--config", config])
    run([args.jitsh, "grant", "create", "--config", config, "--for", "bench", "--role", "bench", "--host", "bench-lone",
         "--duration", "4h", "--reason", "make bench"])
    return {"name": "bench-lone", "config": config, "dir": d}


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


def drain(jitsh, host, timeout):
    """Seconds until the host's spool has nothing left to ship; None when it still had after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        s = status(jitsh, host)
        if s is not None and s["queued_sessions"] == 0 and s["queued_bytes"] == 0:
            return time.monotonic() - t0
        time.sleep(0.2)
    return None


def exec_timed(argv, env, err_path):
    """One exec-mode session whose output we read as sshd would: (seconds from spawn to its exit
    and the end of its output, bytes read, exit status, what it said on stderr)."""
    with open(err_path, "wb") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        received = 0
        fd = p.stdout.fileno()
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            received += len(data)
        status = p.wait()
        elapsed = time.monotonic() - t0
        p.stdout.close()
    with open(err_path, "rb") as f:
        said = f.read().decode(errors="replace").strip()
    return elapsed, received, status, said


def pair(args, pg, fleet_host, lone):
    """The first fleet host, its `jitsh sync` running, against the lone host, in turns."""
    jitsh = args.jitsh
    work = os.path.join(args.root, "pair")
    os.makedirs(work)
    size = args.pair_mib << 20
    text = os.path.join(work, "text.txt")
    make_text_file(text, size)
    hosts = {"lone": lone, "fleet": fleet_host}
    stamp = os.path.join(args.tools, "stamp")
    workloads = {"log-like lines": "%s %d" % (os.path.join(args.tools, "loggen"), size), "cat of a file": "cat %s" % text}
    env = dict(ENV, TERM="xterm")
    out = open(os.path.join(fleet_host["dir"], "pair-sync.log"), "wb")
    service = subprocess.Popen([jitsh, "sync", "--config", fleet_host["config"]], env=ENV, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=out)
    runs = 0
    try:
        if drain(jitsh, fleet_host, 60) is None:
            raise RuntimeError("jitsh sync of %s did not start shipping (see its pair-sync.log)" % fleet_host["name"])
        starts = {name: ([], []) for name in hosts}
        # Three rounds to warm the page cache and both stores; the order flips each round so
        # neither host always runs just after the other.
        for k in range(args.pair_starts + 3):
            for name in (("lone", "fleet") if k % 2 == 0 else ("fleet", "lone")):
                argv = [jitsh, "--config", hosts[name]["config"], "--as", "bench"]
                started, wall, code = spawn_timed(argv, dict(env, SSH_ORIGINAL_COMMAND=stamp))
                if code != 0 or started is None:
                    raise RuntimeError("session start on the %s host exited %d" % (name, code))
                runs += name == "fleet"
                if k >= 3:
                    starts[name][0].append(started)
                    starts[name][1].append(wall)
        for name, (started, wall) in starts.items():
            if not started:
                continue
            emit({"section": "fleet-pair", "measure": "start", "host": name, "samples": len(started),
                  "p50_ns": statistics.median(started), "p99_ns": percentile(started, 0.99), "wall_p50_ns": statistics.median(wall)})
            log("fleet pair: start on the %-5s host p50 %.2f ms, p99 %.2f ms" % (name, statistics.median(started) / 1e6,
                                                                                percentile(started, 0.99) / 1e6))
        rates = {}
        shipped_after = []
        for k in range(args.pair_runs):
            for workload, line in workloads.items():
                for name in (("lone", "fleet") if k % 2 == 0 else ("fleet", "lone")):
                    # Each run starts with the fleet host's spool empty: the shipping beside a
                    # fleet run is its own session's, and none of it falls on the lone run after.
                    waited = drain(jitsh, fleet_host, args.drain_timeout)
                    if waited is None:
                        raise RuntimeError("the spool of %s did not drain in %.0f s" % (fleet_host["name"], args.drain_timeout))
                    argv = [jitsh, "--config", hosts[name]["config"], "--as", "bench"]
                    seconds, received, code, said = exec_timed(argv, dict(env, SSH_ORIGINAL_COMMAND=line),
                                                               os.path.join(work, "run.err"))
                    if code != 0 or said or received != size:
                        raise RuntimeError("%s on the %s host: exit %d, %d of %d bytes out: %s"
                                           % (workload, name, code, received, size, said[:300]))
                    runs += name == "fleet"
                    rates.setdefault((workload, name), []).append(size / MB / seconds)
                    if name == "fleet":
                        shipped_after.append(drain(jitsh, fleet_host, args.drain_timeout))
        for (workload, name), mb_s in rates.items():
            emit({"section": "fleet-pair", "measure": "throughput", "workload": workload, "host": name, "bytes": size,
                  "runs": len(mb_s), "mb_s": statistics.median(mb_s), "samples": mb_s})
            log("fleet pair: %-14s on the %-5s host %.1f MB/s (median of %d)" % (workload, name, statistics.median(mb_s), len(mb_s)))
        drained = drain(jitsh, fleet_host, args.drain_timeout)
    finally:
        stop_services([(service, out)])
    # The pair's fleet sessions are central and ended: what ran beside them was real shipping.
    central = int(pg.psql("SELECT count(*) FROM sessions s JOIN session_ends e ON e.session_id = s.id WHERE s.host = '%s'"
                          % fleet_host["name"]))
    if None in shipped_after or drained is None or central != runs:
        raise RuntimeError("fleet pair: %d of the %d sessions on %s reached the central store ended"
                           % (central, runs, fleet_host["name"]))
    emit({"section": "fleet-pair", "measure": "shipping", "host": "fleet", "sessions": runs, "central_sessions": central,
          "shipped_after_p50_s": statistics.median(shipped_after) if shipped_after else 0,
          "shipped_after_max_s": max(shipped_after) if shipped_after else 0})
    shutil.rmtree(work, ignore_errors=True)


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
        stop_services(services)
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
    load_lines = set(lines.values())
    for sid, command, host in pg.rows("SELECT id, command, host FROM sessions"):
        if command in load_lines:
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
    # The load's chunks only: the pair's sessions on the first host came before.
    ours = set(sid for sid, _ in by_command.values())
    stored = {}
    for sid, seq, at in pg.rows("SELECT session_id, seq, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint "
                                "FROM chunks"):
        if sid in ours:
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
    ap.add_argument("--pair-starts", type=int, default=100)
    ap.add_argument("--pair-mib", type=int, default=64)
    ap.add_argument("--pair-runs", type=int, default=5)
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
        hosts, policies = setup(args, pg)
        if args.pair_starts > 0 or args.pair_runs > 0:
            pair(args, pg, hosts[0], lone_host(args, policies))
        load(args, pg, hosts)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(args.root, ignore_errors=True)


if __name__ == "__main__":
    main()
