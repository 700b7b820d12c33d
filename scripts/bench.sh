#!/usr/bin/env bash
# make bench: every measurement side by side with its peer, in one run on this machine.
# Peers come from Debian and PyPI and are installed here, under bench/peers (not committed).
# Bounded: well under 15 minutes on 2 cores. Never part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results/run
rm -rf "$out"
mkdir -p "$out" bench/peers

echo "bench: building release binaries" >&2
swift build -c release --static-swift-stdlib --product jitsh-bench >&2

if [ ! -x bench/peers/venv/bin/python ]; then
    python3 -m venv bench/peers/venv >&2
fi
bench/peers/venv/bin/pip install -q bashlex >&2

echo "bench: 1. parse + extract per line (jitsh vs bashlex)" >&2
.build/release/jitsh-bench parse bench/lines.txt 300 > "$out/parse-jitsh.json"
bench/peers/venv/bin/python bench/bashlex_parse.py bench/lines.txt 10 > "$out/parse-bashlex.json"

echo "bench: 2. decision latency (parse + decide) at 10 … 10,000 rules" >&2
.build/release/jitsh-bench decide bench/lines.txt 100 > "$out/decide-jitsh.json"

python3 bench/report.py "$out"
