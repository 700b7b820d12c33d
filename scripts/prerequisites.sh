#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (as root), or says what is missing:
# packages, the jitsh group, and the unprivileged account the end-to-end tests log in as.
set -euo pipefail
packages=(bash openssh-server openssh-client libssh-dev zlib1g-dev libsqlite3-dev python3 strace)
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
    if ! getent passwd jitsh-e2e >/dev/null; then
        useradd --create-home --shell /bin/bash jitsh-e2e
        # Not locked: sshd without PAM refuses accounts whose password field starts with "!".
        usermod -p '*' jitsh-e2e
    fi
    mkdir -p /run/sshd
fi
