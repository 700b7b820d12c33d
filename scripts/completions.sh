#!/usr/bin/env bash
# Writes bash, zsh and fish completions for jitsh under SHARE_DIR, laid out as PREFIX/share is
# (make install copies them there). Usage: scripts/completions.sh JITSH_BINARY SHARE_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: scripts/completions.sh JITSH_BINARY SHARE_DIR" >&2; exit 2; }
binary=$1 share=$2
write() { # shell, file
    mkdir -p "$(dirname "$2")"
    "$binary" --generate-completion-script "$1" >"$2.new"
    mv -f "$2.new" "$2"
    echo "completions: $2"
}
write bash "$share/bash-completion/completions/jitsh"
write zsh "$share/zsh/site-functions/_jitsh"
write fish "$share/fish/vendor_completions.d/jitsh.fish"
