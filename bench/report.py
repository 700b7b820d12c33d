"""Prints the Markdown tables of a `make bench` run and keeps its raw numbers as JSON.

    report.py RUN_DIR [WALL_SECONDS]

RUN_DIR holds the JSON lines every part of the bench printed: parse and decide results
(`benchmark`, `tool`, `p50_ns`, `p99_ns`), and session results (`section`: throughput, latency,
start, guard, load, search, serve). Each section becomes one table, peers beside jitsh, with ratios;
a last table says which of the issue's goals were met.
"""
import datetime
import json
import os
import platform
import statistics
import sys

run_dir = sys.argv[1]
wall = float(sys.argv[2]) if len(sys.argv) > 2 else None
results = []
for name in sorted(os.listdir(run_dir)):
    if name.endswith(".json"):
        with open(os.path.join(run_dir, name)) as f:
            for line in f:
                if line.strip():
                    results.append(json.loads(line))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


machine = "%s, %d cores, %.0f GiB, %s" % (cpu_model(), os.cpu_count() or 0,
                                          os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, platform.platform())
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def t(ns):
    if ns < 1e6:
        return "%.2f µs" % (ns / 1e3) if ns < 1e5 else "%.0f µs" % (ns / 1e3)
    if ns < 1e9:
        return "%.2f ms" % (ns / 1e6) if ns < 1e8 else "%.0f ms" % (ns / 1e6)
    return "%.2f s" % (ns / 1e9)


def size(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return "%.1f %s" % (n / scale, unit)
    return "%d B" % n


def table(header, rows):
    """A Markdown table; a first column repeating the row above is left blank."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    previous = None
    for r in rows:
        cells = [str(c) for c in r]
        first = cells[0]
        if first == previous:
            cells[0] = ""
        previous = first
        print("| " + " | ".join(cells) + " |")
    print()


section = {}
for r in results:
    section.setdefault(r.get("section", "parse"), []).append(r)
goals = []

print("Machine: %s. Run: %s%s." % (machine, stamp, ", whole `make bench` %.0f s" % wall if wall else ""))
print()
for r in section.get("versions", []):
    print("Versions: " + "; ".join(r["versions"].values()) + ".")
    print()

# 1–2. Parser and decisions (jitsh-bench and bashlex).
if "parse" in section:
    print("**1–2. Parse + extract per line, and parse + decide** (`bench/lines.txt`, every line many times)")
    print()
    by_benchmark = {}
    for r in section["parse"]:
        by_benchmark.setdefault(r["benchmark"], []).append(r)
    rows = []
    labels = {"parse": "parse + extract, %d realistic lines" % len(open("bench/lines.txt").read().split("\n")[:-1])}
    for benchmark in sorted(by_benchmark, key=lambda b: (b != "parse", int(b.split("-")[1]) if b.startswith("decide-") else 0)):
        rs = by_benchmark[benchmark]
        label = labels.get(benchmark) or "parse + decide, {:,} rules".format(int(benchmark.split("-")[1]))
        ours = next((r for r in rs if r["tool"].startswith("jitsh")), None)
        for r in rs:
            ratio = ""
            if ours and r is not ours and ours["p50_ns"] > 0:
                ratio = "%.0f× (jitsh faster)" % (r["p50_ns"] / ours["p50_ns"])
            rows.append((label, r["tool"], t(r["p50_ns"]), t(r["p99_ns"]), ratio))
    table(("benchmark", "tool", "p50", "p99", "peer p50 / jitsh p50"), rows)

# 3. Recording throughput.
if "throughput" in section:
    rs = [r for r in section["throughput"] if not r.get("missing")]
    missing = [r["tool"] for r in section["throughput"] if r.get("missing")]
    mib = rs[0]["bytes"] >> 20 if rs else 0
    print("**3. Recording throughput**: %d MiB of output through an interactive session on a pseudo-terminal, "
          "median of %d runs; MB = 10⁶ bytes; CPU and memory of the recorder's own processes (not the shell or cat)%s"
          % (mib, rs[0]["runs"] if rs else 0, "; not installable: " + ", ".join(missing) if missing else ""))
    print()
    rows = []
    for workload in dict.fromkeys(r["workload"] for r in rs):
        w = {r["tool"]: r for r in rs if r["workload"] == workload}
        relay, ours = w.get("bare relay"), w.get("jitsh")
        for name, r in w.items():
            share = "%.0f %%" % (100 * r["mb_s"] / relay["mb_s"]) if relay else ""
            vs = ""
            if ours and r is not ours and name != "bare relay":
                vs = "speed %.2f×, CPU %.2f×, stored %.2f×" % (ours["mb_s"] / r["mb_s"], ours["cpu_s_per_mb"] / r["cpu_s_per_mb"],
                                                                ours["stored_per_mb"] / r["stored_per_mb"])
            rows.append((workload, name, "%.1f" % r["mb_s"], share, "%.4f" % r["cpu_s_per_mb"], size(r["peak_memory"]),
                         size(r["stored_per_mb"]) if r["stored_per_mb"] else "—", vs))
        if ours and relay:
            goals.append(("recording ≥ 90 %% of bare relay throughput (%s)" % workload,
                          "%.0f %%" % (100 * ours["mb_s"] / relay["mb_s"]), ours["mb_s"] >= 0.9 * relay["mb_s"]))
        peers = [n for n in w if n not in ("bare relay", "jitsh")]
        if ours and peers:
            slower = [n for n in peers if w[n]["mb_s"] >= ours["mb_s"]]
            costlier = [n for n in peers if w[n]["cpu_s_per_mb"] <= ours["cpu_s_per_mb"]]
            goals.append(("faster than each peer (%s)" % workload,
                          "slower than " + ", ".join(slower) if slower else "faster than all", not slower))
            goals.append(("less CPU than each peer (%s)" % workload,
                          "more than " + ", ".join(costlier) if costlier else "less than all", not costlier))
        if ours and "script" in w and workload.startswith("log"):
            share = ours["stored_per_mb"] / w["script"]["stored_per_mb"]
            goals.append(("stored ≤ 1/3 of script's on log-like output", "%.2f of script's" % share, share <= 1 / 3))
    table(("output", "tool", "MB/s", "of bare relay", "CPU s / MB", "peak memory", "stored / MB of output",
           "jitsh ÷ this tool"), rows)

# 4. Keystroke latency.
if "latency" in section:
    rs = section["latency"]
    print("**4. Keystroke latency**: a key written to the session's terminal until its echo is read back "
          "(%d keys, the two sessions typed into alternately)" % rs[0]["samples"])
    print()
    rows = []
    for where in dict.fromkeys(r["where"] for r in rs):
        w = {r["tool"]: r for r in rs if r["where"] == where}
        relay, ours = w.get("bare relay"), w.get("jitsh")
        for name, r in w.items():
            added = ""
            if r is ours and relay:
                added = "%s / %s" % (t(ours["p50_ns"] - relay["p50_ns"]), t(ours["p99_ns"] - relay["p99_ns"]))
                goals.append(("keystroke latency < 1 ms added at p99 (%s)" % where, t(ours["p99_ns"] - relay["p99_ns"]),
                              ours["p99_ns"] - relay["p99_ns"] < 1e6))
            rows.append((where, name, t(r["p50_ns"]), t(r["p99_ns"]), added))
    table(("where", "tool", "p50", "p99", "added by jitsh (p50 / p99)"), rows)

# 5. Session start.
if "start" in section:
    rs = {r["tool"]: r for r in section["start"]}
    n = next(iter(rs.values()))["samples"]
    print("**5. Session start**: from spawning the program until the user's command runs (a program that prints "
          "the monotonic clock), exec mode, %d runs; jitsh includes identity, grant lookup, policy load, store open, "
          "session record and the job's spawn" % n)
    print()
    rows = []
    base = rs.get("sh -c")
    for name, r in rs.items():
        added = t(r["p50_ns"] - base["p50_ns"]) if base and name.startswith("jitsh") else ""
        rows.append((name, t(r["p50_ns"]), t(r["p99_ns"]), t(r["wall_p50_ns"]), added))
        if base and name == "jitsh, guarded role":
            goals.append(("session start < 10 ms added (median)", t(r["p50_ns"] - base["p50_ns"]), r["p50_ns"] - base["p50_ns"] < 10e6))
    table(("tool", "start p50", "start p99", "whole run p50", "added vs sh -c (p50)"), rows)

# 6. Exec guard.
if "guard" in section:
    rs = {r["tool"]: r for r in section["guard"]}
    first = next(iter(rs.values()))
    print("**6. Exec guard**: `for i in $(seq %d); do /bin/true; done`, %d fork+exec, median of %d runs "
          "(jitsh in exec mode: the whole session)" % (first["execs"], first["execs"], first["runs"]))
    print()
    rows = []
    pairs = {"jitsh, guarded role": "jitsh, guard: off role", "strace -f -e trace=execve": "bash -c (no jitsh)"}
    overhead = {}
    for name, r in rs.items():
        extra = ""
        if name in pairs and pairs[name] in rs:
            base = rs[pairs[name]]["p50_ns"]
            overhead[name] = (r["p50_ns"] - base) / base
            extra = "+%.0f %% over %s" % (100 * overhead[name], pairs[name])
        rows.append((name, t(r["p50_ns"]), t(r["p50_ns"] / r["execs"]), extra))
    table(("tool", "%d execs" % first["execs"], "per exec", "overhead"), rows)
    if "jitsh, guarded role" in overhead:
        g = overhead["jitsh, guarded role"]
        goals.append(("exec guard overhead < 20 %", "%.0f %%" % (100 * g), g < 0.2))
        if "strace -f -e trace=execve" in overhead:
            s = overhead["strace -f -e trace=execve"]
            goals.append(("exec guard overhead below strace's", "%.0f %% vs %.0f %%" % (100 * g, 100 * s), g < s))

# 7. Store under load.
if "load" in section:
    print("**7. Store under load**: concurrent exec-mode sessions into one store, each running a writer of "
          "log lines paced to 1 MiB/s (4 KiB writes) that stops at the duration (slowed by back-pressure, it writes less); every session's chunks decoded, chain checked and its output "
          "compared byte for byte (length and SHA-256) with what the writer wrote")
    print()
    rows = []
    for r in section["load"]:
        rows.append(("%d × %d s" % (r["sessions"], r["seconds"]), "%.1f" % r["offered_mb_s"], "%.1f" % r["achieved_mb_s"],
                     size(r["recorded_bytes"]), str(r["lost_bytes"]), str(r["errors"]), "{:,}".format(r["commits"]),
                     "%s / %s / %s" % (t(r["commit_p50_us"] * 1e3), t(r["commit_p99_us"] * 1e3), t(r["commit_max_us"] * 1e3)),
                     "%.0f %%" % (100 * r["cpu_busy"])))
        goals.append(("%d sessions: no lost byte, no error" % r["sessions"],
                      "%d bytes lost, %d errors" % (r["lost_bytes"], r["errors"]), r["lost_bytes"] == 0 and r["errors"] == 0))
    table(("sessions × duration", "offered MB/s", "recorded MB/s", "recorded", "bytes lost", "errors", "chunk commits",
           "commit p50 / p99 / max", "CPU busy (both cores)"), rows)

# 8. Search.
if "search" in section:
    rs = section["search"]
    info = next((r for r in rs if r.get("store")), None)
    if info:
        print("**8. Search**: a store of %s sessions, %s audit events and %s recording chunks (%s on disk), generated; "
              "`jitsh audit search --config …` as a reviewer runs it (the whole command), median of %d runs (the first "
              "`--text` search once)" % ("{:,}".format(info["sessions"]),
                                                                         "{:,}".format(info["events"]),
                                                                         "{:,}".format(info["chunks"]), size(info["store_bytes"]),
                                                                         info["runs"]))
        print()
    rows = [(r["query"], t(r["p50_ns"]), t(r["max_ns"]), "{:,}".format(r["results"])) for r in rs if r.get("query")]
    table(("search", "p50", "max", "results (at most 1,000: the default --limit)"), rows)

# 9. Snapshot cost per line.
if "snapshot" in section:
    info = next((r for r in section["snapshot"] if "files" in r), {"files": 0, "lines": 0})
    print("**9. Snapshot cost per line**: a role watching %s files of 2 KiB in 20 directories (`snapshot:`), "
          "%d lines each; what jitsh adds to a line around the line itself" % ("{:,}".format(info["files"]), info["lines"]))
    print()
    rows = [(r["benchmark"], t(r["p50_ns"]), t(r["p99_ns"]), t(r["max_ns"])) for r in section["snapshot"] if "benchmark" in r]
    table(("case", "p50", "p99", "max"), rows)
# 10. The web app.
if "serve" in section:
    rs = section["serve"]
    info = next((r for r in rs if r.get("store")), None)
    if info:
        print("**10. The web app** (`jitsh serve`): search's store (%s sessions, %s audit events) plus one %d MiB recording; "
              "each page fetched whole over a new connection by a signed-in reviewer" % (
                  "{:,}".format(info["sessions"]), "{:,}".format(info["events"]), info["recording_mib"]))
        print()
    rows = [(r["page"], t(r["p50_ns"]), t(r["max_ns"])) for r in rs if r.get("page")]
    table(("page", "p50", "max"), rows)
    for r in rs:
        if r.get("page", "").startswith("`/sessions") and "ID" not in r["page"] or r.get("page", "").startswith("`/search"):
            goals.append(("%s under 200 ms (p50)" % r["page"], t(r["p50_ns"]), r["p50_ns"] < 200e6))
        if r.get("page", "").startswith("first chunk"):
            goals.append(("the player starts a %d MiB recording in under 1 s" % info["recording_mib"], t(r["p50_ns"]), r["p50_ns"] < 1e9))

if goals:
    print("**Goals of issue 10**")
    print()
    table(("goal", "measured", "met"), [(g, m, "met" if ok else "**not met**") for g, m, ok in goals])

os.makedirs("bench/results", exist_ok=True)
with open("bench/results/latest.json", "w") as f:
    json.dump({"machine": machine, "date": stamp, "wall_seconds": wall, "results": results,
               "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals]}, f, indent=2, sort_keys=True)
    f.write("\n")
