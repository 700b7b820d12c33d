#!/usr/bin/env bash
# make bench: every measurement side by side with its peer, in one run on this machine.
# Peers come from Debian and PyPI and are installed here (PyPI ones under bench/peers, not
# committed). Bounded: about 30 minutes on 2 cores (the last full run took 17 before part 11,
# the fleet under load, which adds about 6; the fleet host beside a lone host adds about 3, and
# part 8's searches in PostgreSQL about 2). Never part of `make test`. Run as root:
# jitsh runs as sshd's forced command would, with a private configuration, store and grants.
#
# Sizes (defaults are the published run; BENCH_QUICK=1 makes everything tiny, for development):
#   BENCH_MIB=256 BENCH_RUNS=3          3. recording throughput (interactive, exec mode): MiB of output, runs per tool
#   BENCH_KEYS=1000                     4. keystrokes per case
#   BENCH_STARTS=100                    5. session starts per tool
#   BENCH_EXECS=2000 BENCH_GUARD_RUNS=5 6. execs per run, runs per tool
#   BENCH_LOAD="50:30 200:15"           7. sessions:seconds of each load step
#   BENCH_SEARCH="10000:1000000"        8. sessions:events of the search store
#   BENCH_SNAPSHOT="1000:200"           9. files watched:lines of the snapshot cost per line
#   BENCH_SERVE="10000:1000000:50"     10. sessions:events:MiB of the web app's store and big recording
#   BENCH_FLEET="200:15:1048576:3"     11. sessions:seconds:bytes a second each:hosts of the fleet load
#   BENCH_FLEET_PAIR="100:64:5"        11. starts:MiB:runs of the fleet host beside a lone host
#   BENCH_ONLY="3 4"                    only these parts (1 is parse, 2 decide)
set -euo pipefail
cd "$(dirname "$0")/.."
began=$(date +%s)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    : "${BENCH_MIB:=8}" "${BENCH_RUNS:=1}" "${BENCH_KEYS:=100}" "${BENCH_STARTS:=10}" "${BENCH_EXECS:=200}"
    : "${BENCH_GUARD_RUNS:=2}" "${BENCH_LOAD:=5:3 20:3}" "${BENCH_SEARCH:=500:50000}" "${BENCH_PARSE_ITERATIONS:=20}"
    : "${BENCH_SNAPSHOT:=1000:20}"
    : "${BENCH_SERVE:=500:50000:4}"
    : "${BENCH_FLEET:=12:3:262144:3}" "${BENCH_FLEET_PAIR:=10:4:2}"
fi
mib=${BENCH_MIB:-256}
runs=${BENCH_RUNS:-3}
keys=${BENCH_KEYS:-1000}
starts=${BENCH_STARTS:-100}
execs=${BENCH_EXECS:-2000}
guard_runs=${BENCH_GUARD_RUNS:-5}
load=${BENCH_LOAD:-50:30 200:15}
search=${BENCH_SEARCH:-10000:1000000}
snapshot=${BENCH_SNAPSHOT:-1000:200}
serve=${BENCH_SERVE:-10000:1000000:50}
fleet=${BENCH_FLEET:-200:15:1048576:3}
fleet_pair=${BENCH_FLEET_PAIR:-100:64:5}
parse_iterations=${BENCH_PARSE_ITERATIONS:-300}
only=${BENCH_ONLY:-1 2 3 4 5 6 7 8 9 10 11}
part() { [[ " $only " == *" $1 "* ]]; }

if [ "$(id -u)" -ne 0 ]; then
    echo "bench: run as root (jitsh runs as the forced command, with its own store and grants)" >&2
    exit 1
fi
out=bench/results/run
rm -rf "$out"
mkdir -p "$out" bench/peers/bin

echo "bench: building release binaries" >&2
swift build -c release --static-swift-stdlib --product jitsh-bench >&2
swift build -c release --static-swift-stdlib --product jitsh >&2
swift build -c release --static-swift-stdlib --product jitsh-serve >&2
if part 11; then
    swift build -c release --static-swift-stdlib --product jitsh-sync >&2
fi
jitsh=.build/release/jitsh

echo "bench: peers" >&2
missing=()
for p in asciinema tlog strace util-linux; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1
    } || echo "bench: could not install ${missing[*]}; the table says which peers are missing" >&2
fi
# tlog-rec registers its session in utmp; a booted Debian has /run/utmp, a container may not.
[ -e /run/utmp ] || install -m 664 -g utmp /dev/null /run/utmp
if [ ! -x bench/peers/venv/bin/python ]; then
    python3 -m venv bench/peers/venv >&2
fi
bench/peers/venv/bin/pip install -q bashlex >&2
cc=${CC:-$(command -v cc || command -v gcc || command -v clang)}
for tool in relay loggen stamp; do
    "$cc" -O2 -Wall -o "bench/peers/bin/$tool" "bench/tools/$tool.c" -lutil
done

root=$(mktemp -d /tmp/jitsh-bench.XXXXXX)
trap 'rm -rf "$root"' EXIT
sessions() { python3 bench/sessions.py "$@" --root "$root/bed"; }
if part 3 || part 4 || part 5 || part 6 || part 7; then
    python3 bench/sessions.py setup --root "$root/bed" --jitsh "$jitsh" --tools bench/peers/bin > "$out/versions.json"
fi

if part 1; then
    echo "bench: 1. parse + extract per line (jitsh vs bashlex)" >&2
    .build/release/jitsh-bench parse bench/lines.txt "$parse_iterations" > "$out/parse-jitsh.json"
    bench/peers/venv/bin/python bench/bashlex_parse.py bench/lines.txt 10 > "$out/parse-bashlex.json"
fi
if part 2; then
    echo "bench: 2. decision latency (parse + decide) at 10 … 10,000 rules" >&2
    .build/release/jitsh-bench decide bench/lines.txt 100 > "$out/decide-jitsh.json"
fi
if part 3; then
    echo "bench: 3. recording throughput, $mib MiB, $runs runs (jitsh vs bare relay, script, tlog-rec, asciinema)" >&2
    sessions throughput --mib "$mib" --runs "$runs" > "$out/throughput.json"
    echo "bench: 3b. recording throughput in exec mode, $mib MiB, $runs runs (jitsh vs the unrecorded command, script)" >&2
    sessions exec-throughput --mib "$mib" --runs "$runs" > "$out/throughput-exec.json"
fi
if part 4; then
    echo "bench: 4. keystroke latency, $keys keys (jitsh vs bare relay)" >&2
    sessions latency --keys "$keys" > "$out/latency.json"
fi
if part 5; then
    echo "bench: 5. session start, $starts runs (jitsh vs sh -c)" >&2
    sessions start --runs "$starts" > "$out/start.json"
fi
if part 6; then
    echo "bench: 6. exec guard, $execs execs (guarded vs guard: off vs strace)" >&2
    sessions guard --execs "$execs" --runs "$guard_runs" > "$out/guard.json"
fi
if part 7; then
    for step in $load; do
        echo "bench: 7. store under load, ${step%%:*} sessions for ${step##*:} s" >&2
        sessions load --sessions "${step%%:*}" --seconds "${step##*:}" >> "$out/load.json"
    done
fi
if part 8; then
    echo "bench: 8. search over ${search%%:*} sessions and ${search##*:} events, in SQLite and in PostgreSQL" >&2
    python3 bench/search.py --root "$root/search" --jitsh "$jitsh" --sessions "${search%%:*}" --events "${search##*:}" \
        > "$out/search.json"
fi
if part 9; then
    echo "bench: 9. snapshot cost per line, ${snapshot%%:*} files watched, ${snapshot##*:} lines" >&2
    .build/release/jitsh-bench snapshot "${snapshot%%:*}" "${snapshot##*:}" > "$out/snapshot.json"
fi

if part 10; then
    IFS=: read -r serve_sessions serve_events serve_mib <<< "$serve"
    echo "bench: 10. web app over $serve_sessions sessions, a $serve_mib MiB recording" >&2
    python3 bench/serve.py --root "$root/serve" --jitsh "$jitsh" --sessions "$serve_sessions" --events "$serve_events" \
        --mib "$serve_mib" > "$out/serve.json"
fi

if part 11; then
    IFS=: read -r fleet_sessions fleet_seconds fleet_rate fleet_hosts <<< "$fleet"
    IFS=: read -r pair_starts pair_mib pair_runs <<< "$fleet_pair"
    echo "bench: 11. fleet host beside a lone host ($pair_starts starts, $pair_runs runs of $pair_mib MiB), then fleet under" \
        "load, $fleet_sessions sessions on $fleet_hosts hosts for $fleet_seconds s, one PostgreSQL" >&2
    python3 bench/fleet.py --root "$root/fleet" --jitsh "$jitsh" --tools bench/peers/bin --sessions "$fleet_sessions" \
        --seconds "$fleet_seconds" --rate "$fleet_rate" --hosts "$fleet_hosts" --pair-starts "$pair_starts" \
        --pair-mib "$pair_mib" --pair-runs "$pair_runs" > "$out/fleet.json"
fi

python3 bench/report.py "$out" "$(( $(date +%s) - began ))"
