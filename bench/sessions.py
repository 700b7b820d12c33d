#!/usr/bin/env python3
"""Session benchmarks of `make bench`: jitsh itself, run as sshd would run it, against its peers.

    sessions.py setup      --root DIR --jitsh BIN --tools DIR   a private config, store, policies, grants
    sessions.py throughput --root DIR [--mib N] [--runs N]      3. recording throughput
    sessions.py exec-throughput --root DIR [--mib N] [--runs N] 3. the same in exec mode
    sessions.py latency    --root DIR [--keys N]                4. keystroke latency
    sessions.py start      --root DIR [--runs N]                5. session start
    sessions.py guard      --root DIR [--execs N] [--runs N]    6. exec guard
    sessions.py load       --root DIR --sessions N --seconds S  7. store under load

Each measurement prints one JSON object a line (read by bench/report.py). jitsh runs as the
forced command does, without sshd: as root, `jitsh --config C --as NAME`, on a pseudo-terminal
of the harness for interactive sessions, with SSH_ORIGINAL_COMMAND for exec mode.
"""
import argparse
import fcntl
import hashlib
import json
import os
import select
import shutil
import sqlite3
import statistics
import struct
import subprocess
import sys
import termios
import time
import zlib
import ctypes
import ctypes.util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench-host"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1_000_000


def chunk_frames(data, raw_bytes):
    """A chunk's frame bytes: zstd (what jitsh writes now) or zlib (chunks from before), told by
    the first bytes as jitsh tells them (ChunkCodec)."""
    if data[:4] == b"\x28\xb5\x2f\xfd":
        out = ctypes.create_string_buffer(max(raw_bytes, 1))
        n = _zstd().ZSTD_decompress(out, raw_bytes, data, len(data))
        if _zstd().ZSTD_isError(n):
            raise ValueError("zstd: chunk does not decode")
        return out.raw[:n]
    return zlib.decompress(data)


_libzstd = None


def _zstd():
    global _libzstd
    if _libzstd is None:
        _libzstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
        _libzstd.ZSTD_decompress.restype = ctypes.c_size_t
        _libzstd.ZSTD_decompress.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
        _libzstd.ZSTD_isError.restype = ctypes.c_uint
        _libzstd.ZSTD_isError.argtypes = [ctypes.c_size_t]
    return _libzstd


def log(message):
    print("bench:   " + message, file=sys.stderr, flush=True)


def emit(record):
    print(json.dumps(record, sort_keys=True), flush=True)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


# MARK: the test bed


class Bed:
    """The private installation every measurement uses (written by `setup`, read back from env.json)."""

    def __init__(self, root):
        self.root = root
        with open(os.path.join(root, "env.json")) as f:
            self.__dict__.update(json.load(f))

    def tool(self, name):
        return os.path.join(self.tools, name)

    def jitsh_env(self, extra=None):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin", "TERM": "xterm", "LANG": "C.UTF-8",
               "HOME": "/root", "LOGNAME": "root", "USER": "root"}
        env.update(extra or {})
        return env

    def jitsh_argv(self, identity):
        return [self.jitsh, "--config", self.config, "--as", identity]

    def latest_session(self):
        with sqlite3.connect(self.store) as db:
            return db.execute("SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()[0]

    def stored_bytes(self, session):
        """Bytes the session's chunks take: compressed frames plus their hashes and columns."""
        with sqlite3.connect(self.store) as db:
            row = db.execute("SELECT COALESCE(SUM(length(data) + length(prev_hash) + length(hash) + 40), 0), COUNT(*) "
                             "FROM chunks WHERE session_id = ?", (session,)).fetchone()
        return row[0], row[1]

    def store_file_bytes(self):
        """The store's size on disk after a checkpoint (what the disk really holds)."""
        db = sqlite3.connect(self.store)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        return sum(os.path.getsize(self.store + s) for s in ("", "-wal") if os.path.exists(self.store + s))


def setup(args):
    root = os.path.abspath(args.root)
    if os.path.exists(root):
        shutil.rmtree(root)
    for d in ("store", "policies", "work"):
        os.makedirs(os.path.join(root, d))
    os.chmod(root, 0o755)
    tools = os.path.abspath(args.tools)
    jitsh = os.path.abspath(args.jitsh)
    policies = os.path.join(root, "policies")
    shutil.rmtree(policies)
    shutil.copytree(os.path.join(REPO, "policies"), policies, ignore=shutil.ignore_patterns("tests"))
    programs = ", ".join(os.path.join(tools, t) for t in ("loggen", "stamp"))
    role = """role: {name}
description: the workloads of make bench{extra_description}
allow:
  - cmd: [cat, true, seq, printf, echo, sleep]
  - cmd: [{programs}]
writes: ["/tmp/**"]
{extra}"""
    with open(os.path.join(policies, "roles/bench.yaml"), "w") as f:
        f.write(role.format(name="bench", programs=programs, extra_description="", extra=""))
    with open(os.path.join(policies, "roles/bench-noguard.yaml"), "w") as f:
        f.write(role.format(name="bench-noguard", programs=programs, extra_description=", without the exec guard",
                            extra="guard: off\n"))
    store = os.path.join(root, "store", "jitsh.db")
    config = os.path.join(root, "jitsh.yaml")
    with open(config, "w") as f:
        f.write("store: %s\npolicies: %s\nsigning_key: %s\nhost: {name: %s, tags: {env: bench}}\n"
                % (store, policies, os.path.join(root, "store", "signing.key"), HOST))
    os.chmod(config, 0o644)
    subprocess.run([jitsh, "init", "--config", config], check=True, stdout=subprocess.DEVNULL)
    grants = {"bench": "bench", "bench-noguard": "bench-noguard"}
    for identity, r in grants.items():
        subprocess.run([jitsh, "grant", "create", "--config", config, "--for", identity, "--role", r, "--host", HOST,
                        "--duration", "4h", "--reason", "make bench"], check=True, stdout=subprocess.DEVNULL)
    # The recording workloads: a file of real text (the system's C headers, cycled), and log lines.
    with open(os.path.join(root, "env.json"), "w") as f:
        json.dump({"jitsh": jitsh, "tools": tools, "config": config, "store": store, "work": os.path.join(root, "work")}, f)
    log("test bed in %s (store %s)" % (root, store))
    emit({"section": "versions", "versions": versions(jitsh)})


def versions(jitsh):
    """What ran: the peers' own version lines."""
    def first(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        lines = (p.stdout or p.stderr).strip().splitlines()
        return lines[0].strip() if lines else None
    found = {"jitsh": first([jitsh, "--version"]), "bash": first(["bash", "--version"]),
             "script": first(["script", "--version"]), "tlog-rec": first(["tlog-rec", "--version"]),
             "asciinema": first(["asciinema", "--version"]), "strace": first(["strace", "-V"])}
    return {k: v for k, v in found.items() if v}


# MARK: a program on a pseudo-terminal of ours


class Pty:
    """Runs argv as the session leader of a new pseudo-terminal; we hold the master, as sshd does."""

    def __init__(self, argv, env, rows=50, cols=160):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                os.closerange(3, 1024)
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        os.close(slave)
        self.pid = pid
        self.pending = bytearray()
        self.status = None

    def write(self, data):
        while data:
            n = os.write(self.master, data)
            data = data[n:]

    def read(self, timeout):
        """Some bytes, b"" on timeout, None when the terminal closed."""
        r, _, _ = select.select([self.master], [], [], timeout)
        if not r:
            return b""
        try:
            data = os.read(self.master, 1 << 16)
        except OSError:
            return None
        return data if data else None

    def expect(self, needle, timeout=20.0, what=None):
        deadline = time.monotonic() + timeout
        while needle not in self.pending:
            left = deadline - time.monotonic()
            data = self.read(max(0.0, left)) if left > 0 else b""
            if data is None or (not data and time.monotonic() >= deadline):
                raise RuntimeError("%s: waited for %r; last output: %r" % (what or "session", needle, bytes(self.pending[-300:])))
            self.pending += data
        k = self.pending.index(needle) + len(needle)
        seen = bytes(self.pending[:k])
        del self.pending[:k]
        return seen

    def drain(self, quiet=0.1):
        while True:
            data = self.read(quiet)
            if not data:
                self.pending.clear()
                return

    def count_until(self, marker, timeout):
        """Reads until `marker`; returns the number of bytes read (the transfer). What follows the
        marker stays pending."""
        total = len(self.pending)
        window = bytes(self.pending)
        self.pending.clear()
        fd = self.master
        deadline = time.monotonic() + timeout
        while marker not in window:
            r, _, _ = select.select([fd], [], [], 5.0)
            if not r:
                if time.monotonic() > deadline:
                    raise RuntimeError("no end marker after %d bytes" % total)
                continue
            try:
                data = os.read(fd, 1 << 16)
            except OSError:
                data = b""
            if not data:
                raise RuntimeError("the session ended after %d bytes, before the end marker" % total)
            total += len(data)
            window = window[-len(marker):] + data
        self.pending += window[window.index(marker) + len(marker):]
        return total

    def wait(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, 9)
                os.wait4(self.pid, 0)
                raise RuntimeError("%d did not exit" % self.pid)
            if self.read(0.05) is None:
                time.sleep(0.01)
        os.close(self.master)
        return self.status


def session_processes(leader):
    """The recorder's own processes: those of its session (jobs and shells run in sessions of their own)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == leader:
            pids.append(int(name))
    return pids


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def peak_memory(pids):
    """Sum of VmHWM (peak resident set) of the processes, in bytes."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


# MARK: the recorders


BASH = ["/bin/bash", "--norc", "--noprofile", "-i"]
# What script and asciinema run through a shell (`bash -c` drops PS1 from the environment).
BASH_LINE = "env PS1='$ ' /bin/bash --norc --noprofile -i"


class Recorder:
    """One tool under test: how to start it around an interactive shell, and what it stored."""

    def __init__(self, bed, name):
        self.bed = bed
        self.name = name
        self.files = []
        self.session = None

    def argv(self, run):
        work = self.bed.work
        if self.name == "bare relay":
            return [self.bed.tool("relay")] + BASH
        if self.name == "script":
            self.files = [os.path.join(work, "script-%d.out" % run), os.path.join(work, "script-%d.tm" % run)]
            return ["script", "-q", "-O", self.files[0], "-T", self.files[1], "-c", BASH_LINE]
        if self.name == "asciinema":
            self.files = [os.path.join(work, "asciinema-%d.cast" % run)]
            return ["asciinema", "rec", "-q", "-y", "--overwrite", "-c", BASH_LINE, self.files[0]]
        if self.name == "tlog-rec":
            self.files = [os.path.join(work, "tlog-%d.json" % run)]
            return ["tlog-rec", "--writer=file", "--file-path=" + self.files[0], "--log-input=true"] + BASH
        if self.name == "jitsh":
            return self.bed.jitsh_argv("bench")
        raise ValueError(self.name)

    def env(self):
        env = self.bed.jitsh_env({"PS1": "$ ", "SHELL": "/bin/bash"})
        if self.name == "asciinema":
            env["ASCIINEMA_CONFIG_HOME"] = os.path.join(self.bed.work, "asciinema-config")
        return env

    def start(self, run):
        for f in self.files:
            if os.path.exists(f):
                os.unlink(f)
        argv = self.argv(run)
        for f in self.files:
            if os.path.exists(f):
                os.unlink(f)
        p = Pty(argv, self.env())
        p.expect(b"$ ", what=self.name)
        p.drain(0.3)
        return p

    def exit(self, p, after_job=True):
        if after_job:
            # The prompt first: jitsh discards what was typed while a job ran.
            p.expect(b"$ ", what=self.name)
            p.drain(0.05)
        p.write(b"exit\r")
        status = p.wait()
        if self.name == "jitsh":
            self.session = self.bed.latest_session()
        return status

    def stored(self):
        if self.name == "bare relay":
            return 0
        if self.name == "jitsh":
            return self.bed.stored_bytes(self.session)[0]
        return sum(os.path.getsize(f) for f in self.files if os.path.exists(f))

    def cleanup(self):
        for f in self.files:
            if os.path.exists(f):
                os.unlink(f)


TOOLS = ["bare relay", "jitsh", "script", "tlog-rec", "asciinema"]


def available(name):
    return name in ("bare relay", "jitsh") or shutil.which(name.split()[0]) is not None


def make_text_file(path, size):
    """`size` bytes of real text: the system's C headers, in a fixed order, cycled."""
    headers = []
    for d, _, files in os.walk("/usr/include"):
        headers += [os.path.join(d, f) for f in files if f.endswith(".h")]
    headers.sort()
    written = 0
    with open(path, "wb") as out:
        while written < size:
            for h in headers:
                try:
                    data = open(h, "rb").read()
                except OSError:
                    continue
                data = data[:size - written]
                out.write(data)
                written += len(data)
                if written >= size:
                    break


def throughput(args):
    bed = Bed(args.root)
    size = args.mib << 20
    text = os.path.join(bed.work, "text-%d.txt" % args.mib)
    if not os.path.exists(text):
        make_text_file(text, size)
    workloads = {
        "cat of a file": "cat %s" % text,
        "log-like lines": "%s %d" % (bed.tool("loggen"), size),
    }
    marker = b"__BENCH_DONE__"
    tools = [t for t in TOOLS if available(t)]
    for t in TOOLS:
        if t not in tools:
            emit({"section": "throughput", "tool": t, "missing": True})
    samples = {}
    # Round robin, so what else the machine does falls on every tool alike.
    for run in range(args.runs):
        for workload, command in workloads.items():
            for name in tools:
                r = Recorder(bed, name)
                p = r.start(run)
                pids = session_processes(p.pid)
                cpu0 = cpu_seconds(pids)
                line = ("%s; printf '%%s%%s\\n' __BENCH_ DONE__" % command).encode()
                t0 = time.monotonic()
                p.write(line + b"\r")
                received = p.count_until(marker, timeout=600)
                elapsed = time.monotonic() - t0
                pids = session_processes(p.pid)
                cpu = cpu_seconds(pids) - cpu0
                memory = peak_memory(pids)
                status = r.exit(p)
                stored = r.stored()
                s = {"seconds": elapsed, "mb_s": size / MB / elapsed, "cpu_s_per_mb": cpu / (size / MB),
                     "peak_memory": memory, "stored_per_mb": stored / (size / MB), "received": received, "status": status}
                samples.setdefault((workload, name), []).append(s)
                log("throughput %-15s %-10s run %d: %7.1f MB/s, %.4f CPU s/MB, %5.1f MB peak, %8.0f B stored/MB"
                    % (workload, name, run + 1, s["mb_s"], s["cpu_s_per_mb"], memory / MB, s["stored_per_mb"]))
                r.cleanup()
    for (workload, name), runs in samples.items():
        emit({"section": "throughput", "workload": workload, "tool": name, "bytes": size, "runs": len(runs),
              "mb_s": statistics.median(s["mb_s"] for s in runs),
              "cpu_s_per_mb": statistics.median(s["cpu_s_per_mb"] for s in runs),
              "peak_memory": statistics.median(s["peak_memory"] for s in runs),
              "stored_per_mb": statistics.median(s["stored_per_mb"] for s in runs),
              "samples": runs})


# MARK: 3. recording throughput in exec mode


def spawn_piped(argv, env):
    """Runs argv with stdin /dev/null and stdout on a pipe read to its end; (bytes, sha256,
    seconds, CPU seconds of it and its waited-for descendants, its own peak RSS, status). The
    peak is VmHWM sampled every 50 ms (wait4's ru_maxrss would count the spawning Python's)."""
    r, w = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_CLOSE, r)]
    t0 = time.monotonic()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    os.close(w)
    n, h, peak, looked = 0, hashlib.sha256(), 0, 0.0
    while True:
        if time.monotonic() - looked >= 0.05:
            peak, looked = max(peak, peak_memory([pid])), time.monotonic()
        if not select.select([r], [], [], 0.05)[0]:
            continue
        data = os.read(r, 1 << 20)
        if not data:
            break
        n += len(data)
        h.update(data)
    peak = max(peak, peak_memory([pid]))
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - t0
    os.close(r)
    return n, h.hexdigest(), elapsed, usage.ru_utime + usage.ru_stime, peak, os.waitstatus_to_exitcode(status)


def exec_throughput(args):
    """As `ssh host CMD` runs: jitsh with SSH_ORIGINAL_COMMAND and its output on a pipe, beside
    the same command run by `sh -c` with nothing recording it (the floor) and by `script` (which
    records through a pseudo-terminal of its own). The recorder's CPU is the run's minus the
    unrecorded run's of the same round (the command's own); jitsh's recording must hold every
    byte the command wrote."""
    bed = Bed(args.root)
    size = args.mib << 20
    text = os.path.join(bed.work, "text-%d.txt" % args.mib)
    if not os.path.exists(text):
        make_text_file(text, size)
    with open(text, "rb") as f:
        text_digest = hashlib.sha256(f.read()).hexdigest()
    workloads = {"cat of a file": "cat %s" % text, "log-like lines": "%s %d" % (bed.tool("loggen"), size)}
    script = shutil.which("script")
    samples = {}
    for run in range(args.runs):
        for workload, command in workloads.items():
            floor = spawn_piped(["/bin/sh", "-c", command], bed.jitsh_env())
            expected = text_digest if workload == "cat of a file" else floor[1]
            cases = [("jitsh", bed.jitsh_argv("bench"), {"SSH_ORIGINAL_COMMAND": command})]
            out = os.path.join(bed.work, "exec-script-%d" % run)
            if script:
                cases.append(("script", [script, "-q", "-O", out + ".out", "-T", out + ".tm", "-c", command], {}))
            results = [("sh -c (nothing recorded)", floor, 0)]
            for name, argv, extra in cases:
                got = spawn_piped(argv, bed.jitsh_env(extra))
                if got[5] != 0:
                    raise RuntimeError("exec throughput: %s exited %d" % (name, got[5]))
                stored = 0
                if name == "jitsh":
                    session = bed.latest_session()
                    with sqlite3.connect(bed.store) as db:
                        recorded, digest, problems, reason = decode_output(db, session)
                    if (got[0], got[1]) != (size, expected) or (recorded, digest) != (size, expected) or problems:
                        raise RuntimeError("exec throughput: jitsh showed %d bytes and recorded %d (%s)" % (got[0], recorded, problems))
                    stored = bed.stored_bytes(session)[0]
                else:
                    stored = sum(os.path.getsize(f) for f in (out + ".out", out + ".tm") if os.path.exists(f))
                    for f in (out + ".out", out + ".tm"):
                        if os.path.exists(f):
                            os.unlink(f)
                results.append((name, got, stored))
            for name, got, stored in results:
                own = got[3] - (floor[3] if got is not floor else 0)
                s = {"seconds": got[2], "mb_s": size / MB / got[2], "cpu_s_per_mb": max(0.0, own) / (size / MB),
                     "peak_memory": got[4], "stored_per_mb": stored / (size / MB)}
                samples.setdefault((workload, name), []).append(s)
                log("exec throughput %-15s %-25s run %d: %7.1f MB/s, %.4f CPU s/MB, %5.1f MB peak, %8.0f B stored/MB"
                    % (workload, name, run + 1, s["mb_s"], s["cpu_s_per_mb"], got[4] / MB, s["stored_per_mb"]))
    for (workload, name), runs in samples.items():
        emit({"section": "throughput-exec", "workload": workload, "tool": name, "bytes": size, "runs": len(runs),
              "mb_s": statistics.median(s["mb_s"] for s in runs),
              "cpu_s_per_mb": statistics.median(s["cpu_s_per_mb"] for s in runs),
              "peak_memory": statistics.median(s["peak_memory"] for s in runs),
              "stored_per_mb": statistics.median(s["stored_per_mb"] for s in runs), "samples": runs})


# MARK: 4. keystroke latency


def keystroke(p, k):
    """Types one key and times its echo; Ctrl-U every 40 keys keeps the line short."""
    if k % 40 == 39:
        p.write(b"\x15")
        p.drain(0.02)
    t0 = time.perf_counter_ns()
    p.write(b"a")
    seen = b""
    while b"a" not in seen:
        data = p.read(2.0)
        if not data:
            raise RuntimeError("no echo after %d keys" % k)
        seen += data
    t1 = time.perf_counter_ns()
    p.drain(0.002)
    return t1 - t0


def latency(args):
    bed = Bed(args.root)
    names = ("bare relay", "jitsh")
    warmup = 20
    for where in ("at the prompt", "inside cat"):
        # Both sessions at once, keys alternating: what else the machine does falls on both alike.
        recorders = [Recorder(bed, name) for name in names]
        sessions = [r.start(0) for r in recorders]
        if where == "inside cat":
            for name, p in zip(names, sessions):
                p.write(b"cat\r")
                p.expect(b"\r\n", what=name)
            time.sleep(0.3)
            for p in sessions:
                p.drain(0.05)
        samples = [[] for _ in names]
        for k in range(args.keys + warmup):
            for i, p in enumerate(sessions):
                t = keystroke(p, k)
                if k >= warmup:
                    samples[i].append(t)
        for name, r, p, own in zip(names, recorders, sessions, samples):
            p.write(b"\x15")
            p.drain(0.05)
            if where == "inside cat":
                p.write(b"\x04")
                p.expect(b"$ ", what=name)
                p.drain(0.1)
            r.exit(p, after_job=False)
            emit({"section": "latency", "where": where, "tool": name, "samples": len(own),
                  "p50_ns": percentile(own, 0.5), "p99_ns": percentile(own, 0.99), "max_ns": max(own)})
            log("latency %-13s %-10s p50 %.3f ms, p99 %.3f ms" % (where, name, percentile(own, 0.5) / 1e6,
                                                               percentile(own, 0.99) / 1e6))


# MARK: 5. session start


def spawn_timed(argv, env):
    """Runs argv with stdout on a pipe; returns (nanoseconds from just before spawn to the stamp, wall ns, status)."""
    r, w = os.pipe()
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, w, 1),
               (os.POSIX_SPAWN_CLOSE, r)]
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    os.close(w)
    out = b""
    while True:
        data = os.read(r, 4096)
        if not data:
            break
        out += data
    _, status = os.waitpid(pid, 0)
    t1 = time.monotonic_ns()
    os.close(r)
    stamp = int(out.split()[0]) if out.split() else None
    return (stamp - t0 if stamp else None), t1 - t0, os.waitstatus_to_exitcode(status)


def start(args):
    bed = Bed(args.root)
    stamp = bed.tool("stamp")
    cases = {
        "direct exec (the floor)": ([stamp], {}),
        "sh -c": (["/bin/sh", "-c", stamp], {}),
        "jitsh, guarded role": (bed.jitsh_argv("bench"), {"SSH_ORIGINAL_COMMAND": stamp}),
        "jitsh, guard: off role": (bed.jitsh_argv("bench-noguard"), {"SSH_ORIGINAL_COMMAND": stamp}),
    }
    samples = {name: ([], []) for name in cases}
    for run in range(args.runs + 3):
        for name, (argv, extra) in cases.items():
            started, wall, status = spawn_timed(argv, bed.jitsh_env(extra))
            if status != 0 or started is None:
                raise RuntimeError("%s exited %d" % (name, status))
            if run >= 3:
                samples[name][0].append(started)
                samples[name][1].append(wall)
    for name, (started, wall) in samples.items():
        emit({"section": "start", "tool": name, "samples": len(started), "p50_ns": statistics.median(started),
              "p99_ns": percentile(started, 0.99), "wall_p50_ns": statistics.median(wall)})
        log("start %-24s p50 %.2f ms, p99 %.2f ms (whole run %.2f ms)" % (name, statistics.median(started) / 1e6,
                                                                          percentile(started, 0.99) / 1e6,
                                                                          statistics.median(wall) / 1e6))


# MARK: 6. exec guard


def guard(args):
    bed = Bed(args.root)
    line = "for i in $(seq %d); do /bin/true; done" % args.execs
    cases = {
        "bash -c (no jitsh)": (["/bin/bash", "-c", line], {}),
        "strace -f -e trace=execve": (["strace", "-f", "-qq", "-e", "trace=execve", "-o", "/dev/null", "/bin/bash", "-c", line], {}),
        "jitsh, guard: off role": (bed.jitsh_argv("bench-noguard"), {"SSH_ORIGINAL_COMMAND": line}),
        "jitsh, guarded role": (bed.jitsh_argv("bench"), {"SSH_ORIGINAL_COMMAND": line}),
    }
    times = {name: [] for name in cases}
    for run in range(args.runs + 1):
        for name, (argv, extra) in cases.items():
            t0 = time.monotonic_ns()
            done = subprocess.run(argv, env=bed.jitsh_env(extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
            elapsed = time.monotonic_ns() - t0
            if done.returncode != 0:
                raise RuntimeError("%s exited %d: %s" % (name, done.returncode, done.stderr.decode(errors="replace")))
            if run >= 1:
                times[name].append(elapsed)
    for name, samples in times.items():
        emit({"section": "guard", "tool": name, "execs": args.execs, "runs": len(samples), "p50_ns": statistics.median(samples),
              "min_ns": min(samples), "max_ns": max(samples), "samples": samples})
        log("guard %-26s %d execs: median %.0f ms" % (name, args.execs, statistics.median(samples) / 1e6))


# MARK: 7. the store under load


def writer_result(work, k, status, fallback, errors):
    """What writer k says it wrote (bytes, digest; digest None when it did not finish), its
    exit and complaints in `errors`."""
    stderr = open(os.path.join(work, "s%d.err" % k), "rb").read().decode(errors="replace").strip()
    if status != 0 or stderr:
        errors.append("session %d: exit %d %s" % (k, status, stderr[:200]))
    try:
        written, digest = open(os.path.join(work, "s%d.sum" % k)).read().split()
        return int(written), digest
    except (OSError, ValueError):
        errors.append("session %d: the writer did not finish" % k)
        return fallback, None


def compare(k, written, digest, decoded, where, errors):
    """Session k's recording (decode_output or decode_chunks) against its writer: the bytes
    found and the bytes lost; what is wrong goes into `errors`."""
    count, got, problems, reason = decoded
    lost = 0
    if count != written or got != digest:
        lost = max(0, written - count)
        errors.append("session %d: %d of %d bytes %s%s" % (k, count, written, where, "" if got == digest else ", content differs"))
    if reason != "exit":
        errors.append("session %d ended: %s" % (k, reason))
    errors.extend("session %d: %s" % (k, p) for p in problems)
    return count, lost


def decode_output(db, session):
    """The session's standard output, from its chunks, with the hash chain checked."""
    rows = db.execute("SELECT seq, started_at, frames, raw_bytes, data, prev_hash, hash FROM chunks WHERE session_id = ? "
                      "ORDER BY seq", (session,))
    end = db.execute("SELECT chunks, exit_reason FROM session_ends WHERE session_id = ?", (session,)).fetchone()
    return decode_chunks(session, rows, end)


def decode_chunks(session, rows, end):
    """`rows` (seq, started_at, frames, raw_bytes, data, prev_hash, hash) in seq order and the
    end (chunks, exit_reason) or None: output bytes, their SHA-256, problems, exit reason."""
    previous = hashlib.sha256(("jitsh-session:%s" % session).encode()).digest()
    out = hashlib.sha256()
    count = 0
    chunks = 0
    problems = []
    for k, (seq, started, frames, raw_bytes, data, prev_hash, stored_hash) in enumerate(rows):
        chunks += 1
        h = hashlib.sha256(previous + session.encode())
        for v in (seq, started, frames, raw_bytes):
            h.update(struct.pack(">q", v))
        h.update(data)
        if seq != k or prev_hash != previous or h.digest() != stored_hash:
            problems.append("chunk %d breaks the chain" % seq)
        previous = stored_hash
        raw = chunk_frames(data, raw_bytes)
        if len(raw) != raw_bytes:
            problems.append("chunk %d: %d bytes, says %d" % (seq, len(raw), raw_bytes))
        i = 0
        while i < len(raw):
            kind = raw[i]
            i += 1
            for _ in range(2):  # offset, then length: varints
                value, shift = 0, 0
                while True:
                    b = raw[i]
                    i += 1
                    value |= (b & 0x7F) << shift
                    shift += 7
                    if b < 0x80:
                        break
            length = value
            if kind == 1:
                out.update(raw[i:i + length])
                count += length
            i += length
    if end is None:
        problems.append("no session end")
    elif end[0] != chunks:
        problems.append("session end counts %d chunks" % end[0])
    return count, out.hexdigest(), problems, (end[1] if end else None)


def load(args):
    bed = Bed(args.root)
    work = os.path.join(bed.work, "load-%d" % args.sessions)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    commit_log = os.path.join(work, "commits.log")
    per_session = args.rate * args.seconds
    env = bed.jitsh_env({"JITSH_BENCH_COMMIT_LOG": commit_log})
    with open("/proc/stat") as f:
        cpu0 = [int(x) for x in f.readline().split()[1:]]
    store0 = bed.store_file_bytes()
    procs = []
    t0 = time.monotonic()
    for k in range(args.sessions):
        line = "%s %d %d %s/s%d.sum %d" % (bed.tool("loggen"), per_session, args.rate, work, k, args.seconds)
        err = open(os.path.join(work, "s%d.err" % k), "wb")
        procs.append((k, subprocess.Popen(bed.jitsh_argv("bench"), env=dict(env, SSH_ORIGINAL_COMMAND=line),
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err), err))
    statuses = {}
    for k, p, err in procs:
        statuses[k] = p.wait()
        err.close()
    wall = time.monotonic() - t0
    with open("/proc/stat") as f:
        cpu1 = [int(x) for x in f.readline().split()[1:]]
    busy = 1 - (cpu1[3] + cpu1[4] - cpu0[3] - cpu0[4]) / max(1, sum(cpu1) - sum(cpu0))
    # Every byte every writer wrote must be in the store, in order.
    lost = 0
    errors = []
    recorded = 0
    expected = 0
    db = sqlite3.connect(bed.store)
    sessions = dict((command, sid) for sid, command in db.execute(
        "SELECT id, command FROM sessions WHERE command LIKE ?", ("%" + work + "/s%",)))
    for k, p, _ in procs:
        line = "%s %d %d %s/s%d.sum %d" % (bed.tool("loggen"), per_session, args.rate, work, k, args.seconds)
        written, digest = writer_result(work, k, statuses[k], per_session, errors)
        if digest is not None:
            expected += written
        sid = sessions.get(line)
        if sid is None:
            errors.append("session %d: not in the store" % k)
            lost += written
            continue
        count, missing = compare(k, written, digest, decode_output(db, sid), "recorded", errors)
        recorded += count
        lost += missing
    db.close()
    store1 = bed.store_file_bytes()
    commits = []
    if os.path.exists(commit_log):
        with open(commit_log) as f:
            commits = [int(line.split()[0]) for line in f if line.strip()]
    for e in errors[:10]:
        log("load: " + e)
    record = {"section": "load", "sessions": args.sessions, "seconds": args.seconds, "rate": args.rate,
              "offered_mb_s": args.sessions * args.rate / MB, "wall_s": wall,
              "achieved_mb_s": recorded / MB / wall, "expected_bytes": expected, "recorded_bytes": recorded,
              "lost_bytes": lost, "errors": len(errors), "error_samples": errors[:10], "commits": len(commits),
              "commit_p50_us": percentile(commits, 0.5), "commit_p99_us": percentile(commits, 0.99),
              "commit_max_us": max(commits) if commits else 0, "cpu_busy": busy, "store_growth": store1 - store0}
    emit(record)
    log("load %d sessions x %d s: %.1f of %.1f MB/s, lost %d bytes, %d errors, %d commits p99 %.1f ms, CPU %.0f %% busy"
        % (args.sessions, args.seconds, record["achieved_mb_s"], record["offered_mb_s"], lost, len(errors), len(commits),
           record["commit_p99_us"] / 1000, busy * 100))
    shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--root", required=True)
    s.add_argument("--jitsh", required=True)
    s.add_argument("--tools", required=True)
    s = sub.add_parser("throughput")
    s.add_argument("--root", required=True)
    s.add_argument("--mib", type=int, default=256)
    s.add_argument("--runs", type=int, default=3)
    s = sub.add_parser("exec-throughput")
    s.add_argument("--root", required=True)
    s.add_argument("--mib", type=int, default=256)
    s.add_argument("--runs", type=int, default=3)
    s = sub.add_parser("latency")
    s.add_argument("--root", required=True)
    s.add_argument("--keys", type=int, default=1000)
    s = sub.add_parser("start")
    s.add_argument("--root", required=True)
    s.add_argument("--runs", type=int, default=100)
    s = sub.add_parser("guard")
    s.add_argument("--root", required=True)
    s.add_argument("--execs", type=int, default=2000)
    s.add_argument("--runs", type=int, default=5)
    s = sub.add_parser("load")
    s.add_argument("--root", required=True)
    s.add_argument("--sessions", type=int, default=50)
    s.add_argument("--seconds", type=int, default=30)
    s.add_argument("--rate", type=int, default=1 << 20)
    args = ap.parse_args()
    {"setup": setup, "throughput": throughput, "exec-throughput": exec_throughput, "latency": latency, "start": start, "guard": guard, "load": load}[args.command](args)


if __name__ == "__main__":
    main()
