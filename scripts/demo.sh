#!/usr/bin/env bash
# `make demo`: jitsh end to end on this machine, without touching the system's sshd.
#   - jitsh installed under DEMO_PREFIX with its own configuration (DEMO_CONF) and store (DEMO_STATE);
#   - a user `demo` whose only key is a root-owned authorized_keys line forcing jitsh;
#   - a private sshd on 127.0.0.1:DEMO_PORT with its own config, host key and pid file;
#   - then a walk through: refused without a grant, a grant request (approved at once), an allowed
#     and a denied command, an interactive session driven from a script, and jitsh doctor.
# `scripts/demo.sh stop` (make demo-stop) stops that sshd and removes the user and every demo file.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

DEMO_PREFIX=${DEMO_PREFIX:-/opt/jitsh-demo}
DEMO_CONF=${DEMO_CONF:-/etc/jitsh-demo}
DEMO_STATE=${DEMO_STATE:-/var/lib/jitsh-demo}
DEMO_RUN=${DEMO_RUN:-/run/jitsh-demo}
DEMO_USER=${DEMO_USER:-demo}
DEMO_PORT=${DEMO_PORT:-2222}
DEMO_HOST=jitsh-demo
SSH_DIR=$DEMO_CONF/ssh
JITSH=$DEMO_PREFIX/bin/jitsh
# A setgid jitsh run by a user takes only configurations root listed: /etc/jitsh/*.yaml.
CONFIG=/etc/jitsh/jitsh-demo.yaml
SSH=(ssh -F "$SSH_DIR/ssh_config" -p "$DEMO_PORT")
DEST=$DEMO_USER@127.0.0.1

is_root || die "the demo creates a user and starts sshd: run it as root (sudo make demo)"
for d in "$DEMO_PREFIX" "$DEMO_CONF" "$DEMO_STATE" "$DEMO_RUN"; do jitsh_dir "$d"; done

# The pid of the demo's sshd, if it runs (checked against its command line, never a guess).
demo_sshd_pid() {
    local pid
    pid=$(cat "$DEMO_RUN/sshd.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-f $SSH_DIR/sshd_config" && echo "$pid"
}

stop_sshd() {
    local pid
    if pid=$(demo_sshd_pid); then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "stopped the demo sshd (pid $pid)"
    fi
}

stop() {
    stop_sshd
    if [ -f "$DEMO_CONF/created-user" ] && getent passwd "$DEMO_USER" >/dev/null; then
        # Sessions still open belong to the user; each is ended by its pid before the user goes.
        for pid in $(pgrep -u "$DEMO_USER" || true); do kill -KILL "$pid" 2>/dev/null || true; done
        userdel --remove "$DEMO_USER" 2>/dev/null || userdel "$DEMO_USER"
        say "removed user $DEMO_USER"
    fi
    if [ -e "$CONFIG" ]; then
        rm -f "$CONFIG"
        say "removed $CONFIG"
    fi
    local d
    for d in "$DEMO_PREFIX" "$DEMO_CONF" "$DEMO_STATE" "$DEMO_RUN"; do
        if [ -e "$d" ]; then
            rm -rf "$d"
            say "removed $d"
        fi
    done
}

# Prints a command as typed, runs it, and prints its exit status (a refusal is part of the show).
show() {
    printf '\n\033[1m$ %s\033[0m\n' "$1"
    shift
    local rc=0
    "$@" || rc=$?
    printf '\033[2m(exit status %s)\033[0m\n' "$rc"
}

setup() {
    if ! demo_sshd_pid >/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null; then
        die "port $DEMO_PORT on 127.0.0.1 is taken by something else; set DEMO_PORT"
    fi
    PREFIX=$DEMO_PREFIX CONFDIR=$DEMO_CONF STATEDIR=$DEMO_STATE SSHD_DROPIN=none JITSH_HOST=$DEMO_HOST DESTDIR='' \
        scripts/install.sh
    install -d -m 0755 /etc/jitsh
    install -m 0644 "$DEMO_CONF/jitsh.yaml" "$CONFIG"

    if ! getent passwd "$DEMO_USER" >/dev/null; then
        useradd --create-home --shell /bin/bash "$DEMO_USER"
        touch "$DEMO_CONF/created-user"
        say "created user $DEMO_USER"
    elif [ ! -f "$DEMO_CONF/created-user" ]; then
        die "user $DEMO_USER exists and was not made by the demo; set DEMO_USER to another name"
    fi
    # Not locked: sshd without PAM refuses accounts whose password field starts with "!".
    usermod -p '*' "$DEMO_USER"

    cat >"$DEMO_CONF/policies/contracts/demo.yaml" <<EOF
# make demo: user $DEMO_USER may hold the readonly role on this demo host, approved at once.
# Real contracts name groups and approvers (see oncall-debug.yaml and operator-change.yaml).
contract: demo
description: The make demo user tries jitsh
role: readonly
requesters: {people: [$DEMO_USER]}
hosts: [$DEMO_HOST]
default_duration: 30m
max_duration: 1h
reason: {required: true, pattern: "^(INC|CHG)-[0-9]+"}
approval: {auto: true}
pending_ttl: 1h
EOF

    # Keys and sshd configuration, all root-owned: the user cannot remove the forced command.
    install -d -m 0755 "$SSH_DIR" "$SSH_DIR/authorized_keys" "$DEMO_RUN"
    [ -f "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "$DEMO_HOST" -f "$SSH_DIR/host_ed25519"
    [ -f "$SSH_DIR/demo_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C "$DEMO_USER@$DEMO_HOST" -f "$SSH_DIR/demo_ed25519"
    echo "restrict,pty,command=\"$JITSH --config $CONFIG\" $(cat "$SSH_DIR/demo_ed25519.pub")" \
        >"$SSH_DIR/authorized_keys/$DEMO_USER"
    chmod 0644 "$SSH_DIR/authorized_keys/$DEMO_USER"
    echo "[127.0.0.1]:$DEMO_PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >"$SSH_DIR/known_hosts"
    cat >"$SSH_DIR/sshd_config" <<EOF
# The demo's private sshd (make demo). The system's sshd is not touched.
Port $DEMO_PORT
ListenAddress 127.0.0.1
HostKey $SSH_DIR/host_ed25519
PidFile $DEMO_RUN/sshd.pid
AllowUsers $DEMO_USER
PermitRootLogin no
# The only way in: a key in this root-owned file, whose line forces jitsh (command="…").
AuthorizedKeysFile $SSH_DIR/authorized_keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
DisableForwarding yes
PermitTunnel no
PermitUserRC no
PermitUserEnvironment no
AcceptEnv LANG
Subsystem sftp internal-sftp
EOF
    cat >"$SSH_DIR/ssh_config" <<EOF
Host 127.0.0.1
    IdentityFile $SSH_DIR/demo_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $SSH_DIR/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    LogLevel ERROR
EOF
    mkdir -p /run/sshd
    /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config"
    /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$DEMO_RUN/sshd.log"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$DEMO_PORT") 2>/dev/null && break
        sleep 0.1
    done
    demo_sshd_pid >/dev/null || die "the demo sshd did not start; see $DEMO_RUN/sshd.log"
    say "demo sshd listens on 127.0.0.1:$DEMO_PORT (pid $(demo_sshd_pid)), jitsh is the forced command of $DEMO_USER"
}

# What the demo user types in the interactive session, paced like a person so that each line
# reaches the prompt, not a running job.
typing() {
    sleep 2
    for line in 'id' 'rm /etc/hostname' 'ls -l /etc/hostname /etc/os-release | head -n 2' 'exit'; do
        printf '%s\r' "$line"
        sleep 1.5
    done
    sleep 1
}

interactive() {
    typing | "${SSH[@]}" -tt "$DEST" 2>&1 | tee "$1"
}

walkthrough() {
    local transcript=$DEMO_RUN/interactive.txt id
    echo
    echo "=== 1. No grant: nothing runs, and jitsh says how to ask for one"
    show "ssh -p $DEMO_PORT $DEMO_USER@127.0.0.1 uptime" "${SSH[@]}" "$DEST" uptime
    echo
    echo "=== 2. Ask for a grant (contract demo approves at once; real ones may wait for approvers)"
    show "ssh -p $DEMO_PORT $DEMO_USER@127.0.0.1 'grant request --role readonly --reason \"INC-42 trying jitsh\"'" \
        "${SSH[@]}" "$DEST" 'grant request --role readonly --reason "INC-42 trying jitsh"'
    echo
    echo "=== 3. Exec mode: an allowed line runs, a denied one does not (exit status 126)"
    show "ssh -p $DEMO_PORT $DEMO_USER@127.0.0.1 'uname -sr; df -h / | tail -n 1'" "${SSH[@]}" "$DEST" 'uname -sr; df -h / | tail -n 1'
    show "ssh -p $DEMO_PORT $DEMO_USER@127.0.0.1 'rm -rf /var/log/apt'" "${SSH[@]}" "$DEST" 'rm -rf /var/log/apt'
    show "ssh -p $DEMO_PORT $DEMO_USER@127.0.0.1 'find /etc -name hostname -exec sh -c id \\;'" \
        "${SSH[@]}" "$DEST" 'find /etc -name hostname -exec sh -c id \;'
    echo
    echo "=== 4. An interactive session (ssh -tt, typed by this script), recorded as it happens"
    show "ssh -tt -p $DEMO_PORT $DEST   # typing: id, rm /etc/hostname, ls …, exit" interactive "$transcript"
    id=$(grep -o 'session [0-9A-Za-z-]*)' "$transcript" | head -n 1 | sed 's/session \(.*\))/\1/' || true)
    echo
    echo "=== 5. What an approver and a reviewer see"
    show "jitsh grant list --config $CONFIG" "$JITSH" grant list --config "$CONFIG"
    echo
    echo "Replay the interactive session (as root):"
    echo "  $JITSH sessions replay ${id:-ID} --config $CONFIG"
    echo
    echo "=== 6. jitsh doctor on the demo's setup"
    show "jitsh doctor --config $CONFIG --sshd-config $SSH_DIR/sshd_config --user $DEMO_USER" \
        "$JITSH" doctor --config "$CONFIG" --sshd-config "$SSH_DIR/sshd_config" --user "$DEMO_USER"
    echo
    echo "Try it yourself:  ssh -F $SSH_DIR/ssh_config -p $DEMO_PORT $DEMO_USER@127.0.0.1"
    echo "Clean up:         make demo-stop"
}

case "${1:-start}" in
    start)
        # From scratch every time: a grant left from an earlier run would spoil step 1.
        stop
        setup
        walkthrough
        ;;
    stop) stop ;;
    *) die "usage: scripts/demo.sh [start|stop]" ;;
esac
