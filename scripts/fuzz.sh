#!/usr/bin/env bash
# Builds the parser's libFuzzer target with sanitizers and runs it for a bounded time.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
swift build --scratch-path .build-fuzz --product ShellSyntaxFuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DJITSH_FUZZ
mkdir -p fuzz-corpus
# Seed with the table-driven corpus: one input per file.
n=0
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    input=${line% => *}
    input=${input//↵/$'\n'}
    input=${input//→/$'\t'}
    printf '%s' "$input" > "fuzz-corpus/seed-$n"
    n=$((n + 1))
done < Tests/ShellSyntaxTests/Corpus/commands.txt
.build-fuzz/debug/ShellSyntaxFuzz fuzz-corpus -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048
