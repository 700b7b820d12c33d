"""Prints the Markdown table of a `make bench` run and keeps its raw numbers as JSON."""
import datetime
import json
import os
import platform
import subprocess
import sys

run_dir = sys.argv[1]
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


machine = "%s, %d cores, %s" % (cpu_model(), os.cpu_count() or 0, platform.platform())
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

by_benchmark = {}
for r in results:
    by_benchmark.setdefault(r["benchmark"], []).append(r)


def us(ns):
    return "%.2f µs" % (ns / 1000.0) if ns < 1e6 else "%.2f ms" % (ns / 1e6)


print("Machine: %s; %s" % (machine, stamp))
print()
print("| benchmark | tool | p50 | p99 | ratio (peer p50 / jitsh p50) |")
print("| --- | --- | --- | --- | --- |")
for benchmark, rows in by_benchmark.items():
    ours = next((r for r in rows if r["tool"].startswith("jitsh")), None)
    for r in rows:
        ratio = ""
        if ours and r is not ours and ours["p50_ns"] > 0:
            ratio = "%.0f×" % (r["p50_ns"] / ours["p50_ns"])
        print("| %s | %s | %s | %s | %s |" % (benchmark, r["tool"], us(r["p50_ns"]), us(r["p99_ns"]), ratio))

os.makedirs("bench/results", exist_ok=True)
with open("bench/results/latest.json", "w") as f:
    json.dump({"machine": machine, "date": stamp, "results": results}, f, indent=2, sort_keys=True)
    f.write("\n")
