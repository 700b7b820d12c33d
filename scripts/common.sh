# Shared by install.sh, uninstall.sh and demo.sh (sourced, not run).
# shellcheck shell=bash

say() { echo "${0##*/}: $*"; }
die() { echo "${0##*/}: $*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Dies unless $1 is an absolute directory whose name says jitsh: a guard before any rm -rf of a
# path that came from the environment (CONFDIR=/etc would otherwise be a disaster).
jitsh_dir() {
    case "$1" in
        /*jitsh*) [[ "${1##*/}" == *jitsh* && "$1" != *..* ]] || die "refusing to remove $1: not a jitsh directory" ;;
        *) die "refusing to remove $1: not a jitsh directory" ;;
    esac
}

# sha256 of a file, or nothing when it does not exist.
sum_of() { if [ -f "$1" ]; then sha256sum <"$1" | cut -d' ' -f1; fi; }

# Reloads the system's sshd after `sshd -t` accepted its configuration. Never restarts it: a
# reload keeps every open session.
reload_sshd() {
    local out
    if ! out=$(/usr/sbin/sshd -t 2>&1); then
        die "sshd -t rejects the configuration, so sshd was not reloaded: $(head -n 3 <<<"$out")"
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        systemctl reload ssh 2>/dev/null || systemctl reload sshd
        say "reloaded sshd (systemctl reload)"
    elif [ -s /run/sshd.pid ] && kill -0 "$(cat /run/sshd.pid)" 2>/dev/null; then
        kill -HUP "$(cat /run/sshd.pid)"
        say "reloaded sshd (SIGHUP to $(cat /run/sshd.pid))"
    else
        say "sshd does not seem to run here; its next start reads the new configuration"
    fi
}
