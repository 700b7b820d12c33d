#!/usr/bin/env bash
# Builds the parser's libFuzzer target with sanitizers and runs it for a bounded time.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/.."
# Built with swiftc directly: libFuzzer brings its own main, which an executable product would clash with.
out=.build-fuzz
mkdir -p "$out"
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)
swiftc "${flags[@]}" -emit-library -static -emit-module -module-name ShellSyntax \
    -emit-module-path "$out/ShellSyntax.swiftmodule" -o "$out/libShellSyntax.a" Sources/ShellSyntax/*.swift
swiftc "${flags[@]}" -DJITSH_FUZZ -I "$out" -L "$out" -lShellSyntax -o "$out/shellsyntax-fuzz" \
    Sources/ShellSyntaxFuzz/Fuzz.swift
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
"$out/shellsyntax-fuzz" fuzz-corpus -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048
