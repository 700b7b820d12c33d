"""Prints the Markdown tables of a `make bench` run and keeps its raw numbers as JSON.

    report.py RUN_DIR [WALL_SECONDS]

RUN_DIR holds the JSON lines every part of the bench printed: parse and decide results
(`benchmark`, `tool`, `p50_ns`, `p99_ns`), and session results (`section`: throughput, latency,
start, guard, load, search, serve, fleet-pair, fleet). Each section becomes one table, peers beside jitsh,
with ratios; a last table says which of issue 23's goals, and issue 20's for the fleet, were met.
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

def recording_table(rs, floor_tool, floor_column, own_cpu):
    """One row per workload and tool, beside the floor (`floor_tool`) and jitsh. `own_cpu`: the
    floor's CPU is a recorder's too (the bare relay), not the command's own (exec mode's floor)."""
    rows = []
    for workload in dict.fromkeys(r["workload"] for r in rs):
        w = {r["tool"]: r for r in rs if r["workload"] == workload}
        floor, ours = w.get(floor_tool), w.get("jitsh")
        for name, r in w.items():
            vs = ""
            if ours and r is not ours and r is not floor:
                vs = "speed %.2f×, CPU %.2f×, stored %.2f×" % (ours["mb_s"] / r["mb_s"], ours["cpu_s_per_mb"] / max(r["cpu_s_per_mb"], 1e-9),
                                                                ours["stored_per_mb"] / r["stored_per_mb"])
            rows.append((workload, name, "%.1f" % r["mb_s"], "%.0f %%" % (100 * r["mb_s"] / floor["mb_s"]) if floor else "",
                         "%.4f" % r["cpu_s_per_mb"] if own_cpu or r is not floor else "—", size(r["peak_memory"]),
                         size(r["stored_per_mb"]) if r["stored_per_mb"] else "—", vs))
    table(("output", "tool", "MB/s", floor_column, "CPU s / MB", "peak memory", "stored / MB of output", "jitsh ÷ this tool"), rows)


# 3. Recording throughput.
if "throughput" in section:
    rs = [r for r in section["throughput"] if not r.get("missing")]
    missing = [r["tool"] for r in section["throughput"] if r.get("missing")]
    mib = rs[0]["bytes"] >> 20 if rs else 0
    print("**3. Recording throughput**: %d MiB of output through an interactive session on a pseudo-terminal, "
          "median of %d runs; MB = 10⁶ bytes; CPU and memory of the recorder's own processes (not the shell or cat)%s"
          % (mib, rs[0]["runs"] if rs else 0, "; not installable: " + ", ".join(missing) if missing else ""))
    print()
    recording_table(rs, "bare relay", "of bare relay", own_cpu=True)

# 3, exec mode.
if "throughput-exec" in section:
    rs = section["throughput-exec"]
    print("**3b. Recording throughput in exec mode** (`ssh host CMD`): %d MiB of output read from the session's pipe until "
          "it exits, median of %d runs; the floor is the command run by `sh -c` with nothing recording; CPU is the "
          "recorder's own (the run's minus the floor's of the same round), memory its own process's peak"
          % (rs[0]["bytes"] >> 20, rs[0]["runs"]))
    print()
    recording_table(rs, "sh -c (nothing recorded)", "of the floor", own_cpu=False)

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
    table(("sessions × duration", "offered MB/s", "recorded MB/s", "recorded", "bytes lost", "errors", "chunk commits",
           "commit p50 / p99 / max", "CPU busy (both cores)"), rows)

# 8. Search: SQLite (a lone host) and PostgreSQL (the fleet's central store), side by side.
if "search" in section:
    rs = section["search"]
    info = {r.get("backend", "sqlite"): r for r in rs if r.get("store")}
    lite, central = info.get("sqlite"), info.get("postgresql")
    if lite:
        print("**8. Search**: a store of %s sessions, %s audit events and %s recording chunks (%s on disk in SQLite%s), generated; "
              "`jitsh audit search --config …` as a reviewer runs it (the whole command), median of %d runs (the first "
              "`--text` search once)%s" % ("{:,}".format(lite["sessions"]), "{:,}".format(lite["events"]),
                                           "{:,}".format(lite["chunks"]), size(lite["store_bytes"]),
                                           ", %s in PostgreSQL" % size(central["store_bytes"]) if central else "", lite["runs"],
                                           "; in PostgreSQL the same rows, copied in (%.0f s with VACUUM ANALYZE), searched "
                                           "through an admin's configuration, each search finding what SQLite found. The first "
                                           "`--text` search indexes every chunk: in SQLite into FTS5; in PostgreSQL it reads "
                                           "each chunk, decodes it and inserts its tsvector row into recording_text (on a fleet "
                                           "each host's `jitsh sync` does this for its chunks as they arrive, so reviewers do "
                                           "not wait for it)" % central["load_s"] if central else ""))
        print()
    by_query = {}
    for r in rs:
        if r.get("query"):
            by_query.setdefault(r["query"], {})[r.get("backend", "sqlite")] = r
    if any("postgresql" in b for b in by_query.values()):
        rows = []
        for query, b in by_query.items():
            lite, pg = b.get("sqlite"), b.get("postgresql")
            rows.append((query, t(lite["p50_ns"]) if lite else "—", t(lite["max_ns"]) if lite else "—",
                         t(pg["p50_ns"]) if pg else "—", t(pg["max_ns"]) if pg else "—",
                         "%.1f×" % (pg["p50_ns"] / lite["p50_ns"]) if lite and pg else "",
                         # Only a `since` search may differ: its window moved with the clock between the two.
                         "{:,} / {:,}".format(lite["results"], pg["results"]) if lite and pg and lite["results"] != pg["results"]
                         else "{:,}".format((lite or pg)["results"])))
        table(("search", "SQLite p50", "SQLite max", "PostgreSQL p50", "PostgreSQL max", "PostgreSQL ÷ SQLite (p50)",
               "results (at most 1,000: the default --limit; SQLite / PostgreSQL where a `since` window moved)"), rows)
    else:
        rows = [(q, t(b["sqlite"]["p50_ns"]), t(b["sqlite"]["max_ns"]), "{:,}".format(b["sqlite"]["results"]))
                for q, b in by_query.items() if "sqlite" in b]
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

# 11, first: a fleet host beside a lone host.
if "fleet-pair" in section:
    rs = section["fleet-pair"]
    starts = {r["host"]: r for r in rs if r["measure"] == "start"}
    flows = [r for r in rs if r["measure"] == "throughput"]
    shipping = next((r for r in rs if r["measure"] == "shipping"), None)
    n = next(iter(starts.values()))["samples"] if starts else 0
    print("**11. A fleet host beside a lone host**: the same policies, role and grant; the fleet host records into its "
          "spool with its `jitsh sync` running (shipping to the private PostgreSQL), the lone host into a SQLite store; "
          "the two taken in turns, the order flipped each round. Session start as in 5 (%d exec-mode starts each); "
          "recording throughput in exec mode, %s of output read from the session's pipe until it exits, median of %d "
          "runs, each run started with the fleet host's spool drained%s" % (
              n, "%d MiB" % (flows[0]["bytes"] >> 20) if flows else "—", flows[0]["runs"] if flows else 0,
              "; every fleet session reached the central store ended (%d), its spool drained %.1f s (median) after each "
              "throughput run" % (shipping["central_sessions"], shipping["shipped_after_p50_s"]) if shipping else ""))
    print()
    rows = []
    lone, fleet = starts.get("lone"), starts.get("fleet")
    if lone and fleet:
        rows.append(("session start p50", t(lone["p50_ns"]), t(fleet["p50_ns"]), "%+.1f %%" % (100 * (fleet["p50_ns"] / lone["p50_ns"] - 1))))
        rows.append(("session start p99", t(lone["p99_ns"]), t(fleet["p99_ns"]), "%+.1f %%" % (100 * (fleet["p99_ns"] / lone["p99_ns"] - 1))))
    for workload in dict.fromkeys(r["workload"] for r in flows):
        w = {r["host"]: r for r in flows if r["workload"] == workload}
        if "lone" in w and "fleet" in w:
            rows.append(("recording, %s (MB/s)" % workload, "%.1f" % w["lone"]["mb_s"], "%.1f" % w["fleet"]["mb_s"],
                         "%+.1f %%" % (100 * (w["fleet"]["mb_s"] / w["lone"]["mb_s"] - 1))))
    table(("measure", "lone host", "fleet host", "fleet vs lone"), rows)

# 11. The fleet under load.
if "fleet" in section:
    print("**11. Fleet under load**: concurrent exec-mode sessions spread over fleet hosts (each its own spool, signing "
          "key and database role), the same paced writer as 7, each host's `jitsh sync` shipping to one private "
          "PostgreSQL 15 on this machine (default settings, fsync on); every session's chunks decoded from PostgreSQL, "
          "chain checked and output compared byte for byte with what its writer wrote. Shipping lag: per chunk, from its "
          "commit in the spool to the commit of the central transaction that inserted it; the status lag is `jitsh sync "
          "--status` sampled each second on each host (the oldest unshipped row's age)")
    print()
    lone = {(r["sessions"], r["seconds"]): r for r in section.get("load", [])}
    rows = []
    for r in section["fleet"]:
        same = lone.get((r["sessions"], r["seconds"]))
        rows.append(("%d × %d s on %d hosts" % (r["sessions"], r["seconds"], r["hosts"]), "%.1f" % r["offered_mb_s"],
                     "%.1f" % r["achieved_mb_s"] + (" (lone host %.1f)" % same["achieved_mb_s"] if same else ""),
                     "%s / %s" % (size(r["written_bytes"]), size(r["central_bytes"])), str(r["lost_bytes"]),
                     "%d / %d" % (r["doubled_chunks"], r["doubled_events"]), str(r["errors"]), "{:,}".format(r["chunks"]),
                     "%s / %s / %s" % (t(r["lag_p50_us"] * 1e3), t(r["lag_p99_us"] * 1e3), t(r["lag_max_us"] * 1e3)),
                     "%.1f s / %.1f s" % (r["status_lag_p50_s"], r["status_lag_p99_s"]),
                     "%s / %s" % (t(r["commit_p50_us"] * 1e3), t(r["commit_p99_us"] * 1e3)),
                     "%.1f s" % r["drained_after_s"] if r["drained_after_s"] is not None else "not drained",
                     "%.0f %%" % (100 * r["cpu_busy"])))
    table(("sessions × duration", "offered MB/s", "recorded MB/s", "written / central", "bytes lost",
           "chunks / events twice", "errors", "chunks", "shipping lag p50 / p99 / max", "status lag p50 / p99",
           "chunk commit p50 / p99", "drained after the last session", "CPU busy (both cores)"), rows)


# The goals of issue 23, then issue 20's for the fleet, each as the issue words it, against what
# this run measured. A goal whose part did not run (BENCH_ONLY) or that make bench does not
# measure says so, and is marked "—": never "met" unmeasured.
NOT_RUN = "not run (BENCH_ONLY)"


def goal(text, measured=None, ok=None):
    goals.append((text, measured if measured is not None else NOT_RUN, ok))


def recording_goals(rows, mode, floor_tool, floor_name):
    """The five recording goals of each workload of one mode (interactive, exec mode)."""
    for workload in list(dict.fromkeys(r["workload"] for r in rows)) or ["cat of a file", "log-like lines"]:
        w = {r["tool"]: r for r in rows if r["workload"] == workload}
        ours, floor, script = w.get("jitsh"), w.get(floor_tool), w.get("script")
        where = "%s, %s" % (mode, workload)
        if ours and floor:
            share = ours["mb_s"] / floor["mb_s"]
            goal("recording ≥ 95 %% of %s (%s)" % (floor_name, where), "%.0f %%" % (100 * share), share >= 0.95)
        else:
            goal("recording ≥ 95 %% of %s (%s)" % (floor_name, where))
        if ours and script:
            goal("recording at least script's throughput (%s)" % where, "%.2f× script's" % (ours["mb_s"] / script["mb_s"]),
                 ours["mb_s"] >= script["mb_s"])
            cpu = ours["cpu_s_per_mb"] / max(script["cpu_s_per_mb"], 1e-9)
            goal("recording CPU per MB ≤ 1.5× script's (%s)" % where, "%.2f× (%.4f vs %.4f s/MB)"
                 % (cpu, ours["cpu_s_per_mb"], script["cpu_s_per_mb"]), cpu <= 1.5)
            stored = ours["stored_per_mb"] / script["stored_per_mb"]
            goal("recording stored bytes ≤ 0.3 of script's (%s)" % where, "%.2f of script's" % stored, stored <= 0.3)
        else:
            for text in ("at least script's throughput", "CPU per MB ≤ 1.5× script's", "stored bytes ≤ 0.3 of script's"):
                goal("recording %s (%s)" % (text, where))
        if ours:
            goal("recording peak memory ≤ 12 MB (%s)" % where, size(ours["peak_memory"]), ours["peak_memory"] <= 12e6)
        else:
            goal("recording peak memory ≤ 12 MB (%s)" % where)


recording_goals([r for r in section.get("throughput", []) if not r.get("missing")], "interactive", "bare relay", "the bare relay")
recording_goals(section.get("throughput-exec", []), "exec mode", "sh -c (nothing recorded)", "the unrecorded command")

starts = {r["tool"]: r for r in section.get("start", [])}
base, ours = starts.get("sh -c"), starts.get("jitsh, guarded role")
if base and ours:
    added50, added99 = ours["p50_ns"] - base["p50_ns"], ours["p99_ns"] - base["p99_ns"]
    goal("session start ≤ 5 ms added over `sh -c` at the median", t(added50), added50 <= 5e6)
    goal("session start p99 ≤ 10 ms added over `sh -c`", t(added99), added99 <= 10e6)
else:
    goal("session start ≤ 5 ms added over `sh -c` at the median")
    goal("session start p99 ≤ 10 ms added over `sh -c`")
goal("`ssh host true` ≤ 1.03× plain sshd", "not measured by make bench (needs sshd; the issue measured 1.11×)")

guards = {r["tool"]: r for r in section.get("guard", [])}
if "jitsh, guarded role" in guards and "jitsh, guard: off role" in guards:
    off = guards["jitsh, guard: off role"]["p50_ns"]
    g = (guards["jitsh, guarded role"]["p50_ns"] - off) / off
    goal("exec guard ≤ 10 %% over `guard: off` on %d fork+exec" % guards["jitsh, guarded role"]["execs"], "+%.0f %%" % (100 * g),
         g <= 0.10)
else:
    goal("exec guard ≤ 10 % over `guard: off` on 2,000 fork+exec")

parses = {r["tool"].split()[0]: r for r in section.get("parse", []) if r.get("benchmark") == "parse"}
if "jitsh" in parses and "bashlex" in parses:
    ratio = parses["bashlex"]["p50_ns"] / parses["jitsh"]["p50_ns"]
    goal("parse + extract ≥ 60× bashlex at the median", "%.0f×" % ratio, ratio >= 60)
    goal("parse + extract p99 ≤ 15 µs", t(parses["jitsh"]["p99_ns"]), parses["jitsh"]["p99_ns"] <= 15e3)
else:
    goal("parse + extract ≥ 60× bashlex at the median")
    goal("parse + extract p99 ≤ 15 µs")

loads = section.get("load", [])
big = max(loads, key=lambda r: r["sessions"]) if loads else None
if big:
    where = "%d sessions × 1 MiB/s" % big["sessions"]
    goal("store under load, %s: 0 lost" % where, "%d bytes lost, %d errors" % (big["lost_bytes"], big["errors"]),
         big["lost_bytes"] == 0 and big["errors"] == 0)
    goal("store under load, %s: commit p99 < 1 s, max < 3 s" % where,
         "%s / %s" % (t(big["commit_p99_us"] * 1e3), t(big["commit_max_us"] * 1e3)),
         big["commit_p99_us"] < 1e6 and big["commit_max_us"] < 3e6)
    saturated = [r for r in sorted(loads, key=lambda r: r["sessions"]) if r["achieved_mb_s"] < 0.95 * r["offered_mb_s"]]
    goal("store under load: where saturation starts",
         ("at %d sessions or fewer: %.1f of %.1f MB/s recorded" % (saturated[0]["sessions"], saturated[0]["achieved_mb_s"],
                                                                   saturated[0]["offered_mb_s"])) if saturated
         else "not reached up to %d sessions" % big["sessions"])
else:
    goal("store under load, 200 sessions × 1 MiB/s: 0 lost")
    goal("store under load, 200 sessions × 1 MiB/s: commit p99 < 1 s, max < 3 s")

searches = [r for r in section.get("search", []) if r.get("query") and r.get("backend", "sqlite") == "sqlite"]
if searches:
    expressions = [r for r in searches if "--text" not in r["query"]]
    worst = max(expressions, key=lambda r: r["p50_ns"]) if expressions else None
    if worst:
        goal("expression searches ≤ 50 ms p50 as whole commands", "%s (slowest: %s)" % (t(worst["p50_ns"]), worst["query"]),
             worst["p50_ns"] <= 50e6)
    first = next((r for r in searches if "first" in r["query"]), None)
    if first:
        goal("first full-text search after recording ≤ 2 s", t(first["p50_ns"]), first["p50_ns"] <= 2e9)
else:
    goal("expression searches ≤ 50 ms p50 as whole commands")
    goal("first full-text search after recording ≤ 2 s")
goal("indexing within 3 % of recording throughput", "not measured by make bench")

# Issue 20's, for the fleet: a fleet host costs what a lone host does, and the central store searches fast.
pair = section.get("fleet-pair", [])
pair_starts = {r["host"]: r for r in pair if r["measure"] == "start"}
if "lone" in pair_starts and "fleet" in pair_starts:
    lone, fleet = pair_starts["lone"]["p50_ns"], pair_starts["fleet"]["p50_ns"]
    goal("fleet host session start within 5 % of a lone host (p50)", "%+.1f %% (%s vs %s)" % (100 * (fleet / lone - 1), t(fleet), t(lone)),
         fleet <= 1.05 * lone)
else:
    goal("fleet host session start within 5 % of a lone host (p50)")
flows = {}
for r in pair:
    if r["measure"] == "throughput":
        flows.setdefault(r["workload"], {})[r["host"]] = r
ratios = [(w["fleet"]["mb_s"] / w["lone"]["mb_s"], workload, w) for workload, w in flows.items() if "lone" in w and "fleet" in w]
if ratios:
    ratio, workload, w = min(ratios, key=lambda x: x[0])
    goal("fleet host recording throughput within 5 % of a lone host", "%+.1f %% (worst: %s, %.1f vs %.1f MB/s)"
         % (100 * (ratio - 1), workload, w["fleet"]["mb_s"], w["lone"]["mb_s"]), ratio >= 0.95)
else:
    goal("fleet host recording throughput within 5 % of a lone host")
central = [r for r in section.get("search", []) if r.get("query") and r.get("backend") == "postgresql"]
expressions = [r for r in central if "--text" not in r["query"]]
if expressions:
    worst = max(expressions, key=lambda r: r["p50_ns"])
    goal("fleet search in PostgreSQL: expression searches < 100 ms p50", "%s (slowest: %s)" % (t(worst["p50_ns"]), worst["query"]),
         worst["p50_ns"] < 100e6)
else:
    goal("fleet search in PostgreSQL: expression searches < 100 ms p50")
texts = [r for r in central if "--text" in r["query"] and "first" not in r["query"]]
first = next((r for r in central if "first" in r["query"]), None)
if texts:
    worst = max(texts, key=lambda r: r["p50_ns"])
    # Sync indexes each host's chunks as they arrive: a reviewer's search meets an index already made.
    goal("fleet search in PostgreSQL: full text < 1 s", "%s p50 (slowest: %s)%s" % (
        t(worst["p50_ns"]), worst["query"], "; the first, indexing every chunk: %s" % t(first["p50_ns"]) if first else ""),
        worst["p50_ns"] < 1e9)
else:
    goal("fleet search in PostgreSQL: full text < 1 s")

print("**Goals of issue 23, and of issue 20 for the fleet**")
print()
table(("goal", "measured", "met"),
      [(g, m, "—" if ok is None else "met" if ok else "**not met**") for g, m, ok in goals])

os.makedirs("bench/results", exist_ok=True)
with open("bench/results/latest.json", "w") as f:
    json.dump({"machine": machine, "date": stamp, "wall_seconds": wall, "results": results,
               "goals": [{"goal": g, "measured": m, "met": ok} for g, m, ok in goals]}, f, indent=2, sort_keys=True)
    f.write("\n")
