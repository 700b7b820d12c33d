#!/usr/bin/env bash
# Installs what jitsh needs on a fresh Debian machine (as root), or says what is missing.
#   scripts/prerequisites.sh          make test: packages, the jitsh group, and the unprivileged
#                                     account the end-to-end tests log in as
#   scripts/prerequisites.sh build    make install: what the release build needs, and the group
#   scripts/prerequisites.sh demo     make demo: the build's packages and OpenSSH, and the group
set -euo pipefail
mode=${1:-test}
# libcurl's development files: the static Foundation of some toolchains asks the linker for -lcurl.
# curl: webhook notifications are sent with it. node-xterm: the web player (jitsh serve).
build=(zlib1g-dev libzstd-dev libsqlite3-dev libcurl4-openssl-dev python3 curl node-xterm)
case "$mode" in
    # The end-to-end tests also drive programs with shell escapes (less, vim, perl, tar, mawk) and asciinema,
    # start a private PostgreSQL (its server binaries, as do the store conformance tests: initdb and
    # pg_ctl run as nobody through util-linux's runuser) and compile a shared object (gcc); the web
    # app's tests drive a headless chromium against xterm.js (node-xterm: bookworm's libjs-xterm
    # ships only a stub of the browser script).
    test) packages=(bash openssh-server openssh-client libssh-dev strace asciinema less vim perl tar sed mawk findutils mount bsdutils procps man-db groff-base gzip git postgresql gcc chromium node-xterm fonts-dejavu-core "${build[@]}") ;;
    build) packages=("${build[@]}") ;;
    demo) packages=(openssh-server openssh-client "${build[@]}") ;;
    *) echo "usage: scripts/prerequisites.sh [test|build|demo]" >&2; exit 2 ;;
esac
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "prerequisites: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    }
    echo "prerequisites: installed ${missing[*]}"
fi
if [ "$(id -u)" -eq 0 ]; then
    getent group jitsh >/dev/null || groupadd --system jitsh
    if [ "$mode" = test ] && ! getent passwd jitsh-e2e >/dev/null; then
        useradd --create-home --shell /bin/bash jitsh-e2e
        # Not locked: sshd without PAM refuses accounts whose password field starts with "!".
        usermod -p '*' jitsh-e2e
    fi
    [ "$mode" = build ] || mkdir -p /run/sshd
fi
