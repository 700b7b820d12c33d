#!/usr/bin/env bash
# Installs jitsh as DESIGN.md's trust model lays it out (run by `make install`, after `make release
# man completions`):
#   PREFIX/bin/jitsh            root:jitsh 2755 (setgid: the store is reachable only through jitsh)
#   PREFIX/share/man, completions for bash, zsh and fish
#   CONFDIR/jitsh.yaml          a commented default, root:jitsh 0640 (it may name a webhook secret)
#   CONFDIR/policies            the shipped roles, contracts and policy.yaml (not the tests)
#   STATEDIR                    root:jitsh 0770; `jitsh init` creates the store and signing key there
#   sshd drop-in                written disabled unless ENABLE_SSHD=1
#   /etc/shells                 lists PREFIX/bin/jitsh; with ENABLE_SSHD=1 LOGIN_SHELL=1 it becomes
#                               the login shell of SSH_GROUP's members (no start-up file of another
#                               shell then runs before jitsh: see README, Trust model)
# A configuration file someone edited is never overwritten: the new version goes next to it as
# FILE.dist. CONFDIR/.shipped.sha256 remembers what was shipped, to tell edited from old.
# Re-running is safe. With DESTDIR (packaging), nothing outside DESTDIR is touched: no group is
# created, no `jitsh init`, no sshd reload.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
CONFDIR=${CONFDIR:-/etc/jitsh}
STATEDIR=${STATEDIR:-/var/lib/jitsh}
ENABLE_SSHD=${ENABLE_SSHD:-0}
SSH_GROUP=${SSH_GROUP:-prod-access}
LOGIN_SHELL=${LOGIN_SHELL:-0}
SSHD_DROPIN=${SSHD_DROPIN:-/etc/ssh/sshd_config.d/jitsh.conf}   # "none": no drop-in (make demo)
BINARY=${BINARY:-.build/release/jitsh}
SERVE_BINARY=${SERVE_BINARY:-.build/release/jitsh-serve}
SYNC_BINARY=${SYNC_BINARY:-.build/release/jitsh-sync}
SHARE_SRC=${SHARE_SRC:-.build/share}
JITSH_HOST=${JITSH_HOST:-$(hostname)}
D=$DESTDIR

if [ -z "$D" ] && ! is_root; then
    die "installing needs root: sudo make install (or DESTDIR=/tmp/stage make install to stage a package)"
fi
[ -x "$BINARY" ] || die "$BINARY is missing: run make release first"
case "$JITSH_HOST" in *[!A-Za-z0-9._-]*|"") die "host name '$JITSH_HOST' is not a plain host name; set JITSH_HOST" ;; esac

# The group: created on a real install, required for ownership when staging as root.
if [ -z "$D" ] && ! getent group jitsh >/dev/null; then
    groupadd --system jitsh
    say "created group jitsh"
fi
owner=()   # install(1) ownership options for root:jitsh files
if is_root && getent group jitsh >/dev/null; then
    owner=(-o root -g jitsh)
else
    say "warning: files are not made root:jitsh here (not root, or no group jitsh); the package must set it"
fi

# The binary, replaced atomically: running sessions keep the old one.
install -d -m 0755 "$D$PREFIX/bin"
# Stripped: debug information is most of the file (see README, Performance, for both sizes).
install -s -m 2755 "${owner[@]}" "$BINARY" "$D$PREFIX/bin/jitsh.new"
mv -f "$D$PREFIX/bin/jitsh.new" "$D$PREFIX/bin/jitsh"
say "installed $PREFIX/bin/jitsh (root:jitsh 2755)"
# The web app's server (jitsh serve runs it): not setgid; its service account is in group jitsh.
if [ -f "$SERVE_BINARY" ]; then
    install -s -m 0755 "$SERVE_BINARY" "$D$PREFIX/bin/jitsh-serve.new"
    mv -f "$D$PREFIX/bin/jitsh-serve.new" "$D$PREFIX/bin/jitsh-serve"
    say "installed $PREFIX/bin/jitsh-serve (0755; see examples/systemd/jitsh-serve.service)"
fi
# The fleet sync service (jitsh sync runs it): not setgid; it runs as root on a fleet host.
if [ -f "$SYNC_BINARY" ]; then
    install -s -m 0755 "$SYNC_BINARY" "$D$PREFIX/bin/jitsh-sync.new"
    mv -f "$D$PREFIX/bin/jitsh-sync.new" "$D$PREFIX/bin/jitsh-sync"
    say "installed $PREFIX/bin/jitsh-sync (0755; see examples/systemd/jitsh-sync.service)"
fi

# Man page and completions (make man completions put them in .build/share).
docs=(man/man1/jitsh.1 bash-completion/completions/jitsh zsh/site-functions/_jitsh fish/vendor_completions.d/jitsh.fish)
for doc in "${docs[@]}"; do
    if [ -f "$SHARE_SRC/$doc" ]; then
        install -D -m 0644 "$SHARE_SRC/$doc" "$D$PREFIX/share/$doc"
    else
        say "warning: $SHARE_SRC/$doc is missing (make man completions); not installed"
    fi
done
say "installed the man page and bash, zsh and fish completions under $PREFIX/share"

# Configuration files: new ones installed, unedited old ones updated, edited ones kept.
manifest="$D$CONFDIR/.shipped.sha256"
install -d -m 0755 "$D$CONFDIR"
: >"$manifest.new"
shipped_sum() { if [ -f "$manifest" ]; then awk -v f="$1" '$2 == f { print $1 }' "$manifest"; fi; }
conf_group=$([ ${#owner[@]} -gt 0 ] && echo jitsh || echo root)
place() { # SOURCE PATH-UNDER-CONFDIR MODE GROUP
    local src=$1 rel=$2 dest="$D$CONFDIR/$2" new old
    local opts=(-m "$3")
    if is_root; then opts+=(-o root -g "$4"); fi
    new=$(sum_of "$src")
    old=$(sum_of "$dest")
    install -d -m 0755 "$(dirname "$dest")"
    if [ -z "$old" ]; then
        install "${opts[@]}" "$src" "$dest"
        say "installed $CONFDIR/$rel"
    elif [ "$old" = "$new" ]; then
        rm -f "$dest.dist"
    elif [ "$old" = "$(shipped_sum "$rel")" ]; then
        install "${opts[@]}" "$src" "$dest.new" && mv -f "$dest.new" "$dest"
        rm -f "$dest.dist"
        say "updated $CONFDIR/$rel"
    else
        install "${opts[@]}" "$src" "$dest.dist"
        say "kept your edited $CONFDIR/$rel; the new version is $CONFDIR/$rel.dist (diff -u them)"
    fi
    echo "$new  $rel" >>"$manifest.new"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/jitsh.yaml" <<EOF
# jitsh's host configuration, written by make install. Edit it freely: make install never
# overwrites an edited copy (it puts the new default next to it as jitsh.yaml.dist).
# Only root may change this file: it decides where sessions are recorded and which policy applies.

# The store: grants, sessions, recordings and audit events (SQLite). Its directory is root:jitsh 0770.
store: $STATEDIR/jitsh.db

# Roles, access contracts and policy.yaml. Check changes with: jitsh policy lint $CONFDIR/policies
policies: $CONFDIR/policies

# This host as contracts and roles see it: the name their hosts: globs match, and tags for
# hosts: {env: production} conditions.
host:
  name: $JITSH_HOST
  # tags: {env: production, team: payments}

# The Ed25519 key that signs every recording (jitsh init creates it; group jitsh only may read it).
signing_key: $STATEDIR/signing.key

# Grant requests, approvals and break-glass grants are POSTed here (Slack-compatible JSON);
# the jitsh-notify timer (examples/systemd) retries failed deliveries.
# webhook: https://hooks.slack.com/services/T000/B000/XXXX

# Accounts several people share: only their forced command may say --as NAME (see examples/).
# shared_accounts: [deploy]

# Also send every audit event to syslog.
# audit: {syslog: true}
EOF
place "$work/jitsh.yaml" jitsh.yaml 0640 "$conf_group"
for src in policies/policy.yaml policies/roles/*.yaml policies/contracts/*.yaml; do
    place "$src" "$src" 0644 root
done
# Files shipped before but not any more: removed when unedited, kept (and named) when edited.
if [ -f "$manifest" ]; then
    while read -r sum rel; do
        grep -q "  $rel\$" "$manifest.new" && continue
        if [ "$(sum_of "$D$CONFDIR/$rel")" = "$sum" ]; then
            rm -f "$D$CONFDIR/$rel"
            say "removed $CONFDIR/$rel (no longer shipped)"
        elif [ -f "$D$CONFDIR/$rel" ]; then
            say "kept $CONFDIR/$rel: no longer shipped, but edited"
        fi
    done <"$manifest"
fi
mv -f "$manifest.new" "$manifest"
chmod 0644 "$manifest"

# The store directory; the store and key themselves come from jitsh init.
install -d -m 0770 "${owner[@]}" "$D$STATEDIR"
chmod 0770 "$D$STATEDIR"
if [ -z "$D" ]; then
    "$PREFIX/bin/jitsh" init --config "$CONFDIR/jitsh.yaml" | sed "s/^/${0##*\/}: /"
    "$PREFIX/bin/jitsh" policy lint "$CONFDIR/policies" | sed "s/^/${0##*\/}: policy: /"
else
    say "DESTDIR set: run '$PREFIX/bin/jitsh init' on the target host (a package's postinst)"
fi

# The sshd drop-in: jitsh becomes the forced command for group SSH_GROUP. Written disabled unless
# ENABLE_SSHD=1: switching a production sshd over is the admin's decision, with a root shell open.
if [ "$SSHD_DROPIN" != none ]; then
    dropin="$D$SSHD_DROPIN"
    cat >"$work/dropin" <<EOF
# jitsh: members of group $SSH_GROUP reach this host only through jitsh (written by make install).
# Check it with: sshd -t && jitsh doctor --group $SSH_GROUP
Match Group $SSH_GROUP
    ForceCommand $PREFIX/bin/jitsh
    DisableForwarding yes
    PermitTunnel no
    PermitUserRC no
# End the Match block: nothing read after this file is limited to the group.
Match all
EOF
    if is_root && [ -x /usr/sbin/sshd ]; then
        # The drop-in must parse before it goes near the real sshd: a private sshd -t tries it.
        mkdir -p /run/sshd
        ssh-keygen -q -t ed25519 -N "" -f "$work/hostkey"
        printf 'HostKey %s\nInclude %s\n' "$work/hostkey" "$work/dropin" >"$work/sshd_config"
        out=$(/usr/sbin/sshd -t -f "$work/sshd_config" 2>&1) || die "the sshd drop-in does not parse: $(head -n 3 <<<"$out")"
    fi
    install -d -m 0755 "$(dirname "$dropin")"
    if [ "$ENABLE_SSHD" = 1 ]; then
        if [ -z "$D" ] && ! getent group "$SSH_GROUP" >/dev/null; then
            groupadd --system "$SSH_GROUP"
            say "created group $SSH_GROUP: add the people jitsh is for with: usermod -aG $SSH_GROUP NAME"
        fi
        if [ -f "$dropin" ] && [ "$(sum_of "$dropin")" != "$(sum_of "$work/dropin")" ]; then
            install -m 0644 "$work/dropin" "$dropin.dist"
            say "kept your edited $SSHD_DROPIN; the new version is $SSHD_DROPIN.dist"
        else
            install -m 0644 "$work/dropin" "$dropin"
            say "wrote $SSHD_DROPIN: jitsh is the forced command for group $SSH_GROUP"
        fi
        rm -f "$dropin.disabled"
        if [ -z "$D" ]; then
            grep -Eqs "^[[:space:]]*Include[[:space:]]+$(dirname "$SSHD_DROPIN")/\*\.conf" /etc/ssh/sshd_config ||
                say "warning: /etc/ssh/sshd_config does not Include $(dirname "$SSHD_DROPIN")/*.conf: the drop-in has no effect"
            if ! out=$(/usr/sbin/sshd -t 2>&1); then
                mv -f "$dropin" "$dropin.disabled"
                die "sshd -t rejects the configuration with the drop-in, so it is now $SSHD_DROPIN.disabled: $(head -n 3 <<<"$out")"
            fi
            reload_sshd
            if [ "$LOGIN_SHELL" = 1 ]; then
                for member in $(getent group "$SSH_GROUP" | cut -d: -f4 | tr , ' '); do
                    usermod -s "$PREFIX/bin/jitsh" "$member" && say "login shell of $member is now $PREFIX/bin/jitsh"
                done
            else
                say "the login shell of $SSH_GROUP's members still runs before jitsh (bash reads ~/.bashrc):"
                say "  make install ENABLE_SSHD=1 LOGIN_SHELL=1 makes jitsh their login shell (jitsh doctor checks it)"
            fi
        fi
    elif [ -f "$dropin" ]; then
        say "left the active $SSHD_DROPIN as it is"
    else
        {
            cat <<EOF
# NOT ACTIVE: sshd reads only *.conf here. To make jitsh the forced command for group
# $SSH_GROUP, check the group and this file, keep a root shell open, then:
#   mv $SSHD_DROPIN.disabled $SSHD_DROPIN && sshd -t && systemctl reload ssh
# (or run: make install ENABLE_SSHD=1).
EOF
            cat "$work/dropin"
        } >"$dropin.disabled"
        chmod 0644 "$dropin.disabled"
        say "wrote $SSHD_DROPIN.disabled (not active; make install ENABLE_SSHD=1 enables it)"
    fi
fi

# jitsh can be a login shell (sshd then runs `jitsh -c COMMAND`); chsh wants it listed.
if [ -z "$D" ] && [ -f /etc/shells ] && ! grep -qx "$PREFIX/bin/jitsh" /etc/shells; then
    echo "$PREFIX/bin/jitsh" >>/etc/shells
    say "listed $PREFIX/bin/jitsh in /etc/shells"
fi

if [ "$SSHD_DROPIN" = none ]; then
    say "done"
else
    say "done. Check everything with: sudo $PREFIX/bin/jitsh doctor --group $SSH_GROUP"
fi
