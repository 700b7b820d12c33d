#!/usr/bin/env bash
# Removes what scripts/install.sh installed (run by `make uninstall`): the binary, man page,
# completions and sshd drop-in, and every configuration file nobody edited. Edited files, files an
# admin added, the store, the recordings and the signing key stay, unless PURGE=1. Group jitsh
# stays (other things may use it). Re-running is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
CONFDIR=${CONFDIR:-/etc/jitsh}
STATEDIR=${STATEDIR:-/var/lib/jitsh}
SSHD_DROPIN=${SSHD_DROPIN:-/etc/ssh/sshd_config.d/jitsh.conf}
PURGE=${PURGE:-0}
D=$DESTDIR

if [ -z "$D" ] && ! is_root; then
    die "uninstalling needs root: sudo make uninstall"
fi

# The drop-in first: sshd must not be left forcing a binary that is gone.
if [ "$SSHD_DROPIN" != none ]; then
    rm -f "$D$SSHD_DROPIN.disabled" "$D$SSHD_DROPIN.dist"
    if [ -f "$D$SSHD_DROPIN" ]; then
        rm -f "$D$SSHD_DROPIN"
        say "removed $SSHD_DROPIN"
        [ -z "$D" ] && reload_sshd
    fi
fi

# Accounts whose login shell is jitsh would be locked out once it is gone: say who they are.
if [ -z "$D" ]; then
    users=$(getent passwd | awk -F: -v s="$PREFIX/bin/jitsh" '$7 == s {print $1}' | tr '\n' ' ')
    [ -n "$users" ] && say "warning: jitsh is the login shell of: $users(usermod -s /bin/bash NAME to change it back)"
    if [ -f /etc/shells ] && grep -qx "$PREFIX/bin/jitsh" /etc/shells; then
        sed -i "\\|^$PREFIX/bin/jitsh\$|d" /etc/shells
        say "removed $PREFIX/bin/jitsh from /etc/shells"
    fi
fi

for f in bin/jitsh bin/jitsh-serve bin/jitsh-sync share/man/man1/jitsh.1 share/bash-completion/completions/jitsh share/zsh/site-functions/_jitsh \
         share/fish/vendor_completions.d/jitsh.fish; do
    if [ -e "$D$PREFIX/$f" ]; then
        rm -f "$D$PREFIX/$f"
        say "removed $PREFIX/$f"
    fi
done
# Directories install may have created for them, if nothing else lives there.
for d in share/bash-completion/completions share/bash-completion share/zsh/site-functions share/zsh \
         share/fish/vendor_completions.d share/fish share/man/man1; do
    rmdir "$D$PREFIX/$d" 2>/dev/null || true
done

if [ "$PURGE" = 1 ]; then
    jitsh_dir "$CONFDIR"
    jitsh_dir "$STATEDIR"
    rm -rf "$D$CONFDIR" "$D$STATEDIR"
    say "purged $CONFDIR and $STATEDIR (store, recordings, signing key)"
    exit 0
fi

manifest="$D$CONFDIR/.shipped.sha256"
if [ -f "$manifest" ]; then
    kept=()
    while read -r sum rel; do
        file="$D$CONFDIR/$rel"
        rm -f "$file.dist"
        [ -f "$file" ] || continue
        if [ "$(sum_of "$file")" = "$sum" ]; then rm -f "$file"; else kept+=("$CONFDIR/$rel"); fi
    done <"$manifest"
    rm -f "$manifest"
    # Directories left empty go; a file an admin added keeps its directory.
    find "$D$CONFDIR" -depth -type d -empty -delete 2>/dev/null || true
    say "removed the unedited configuration files from $CONFDIR"
    [ ${#kept[@]} -eq 0 ] || say "kept edited: ${kept[*]}"
fi
if [ -d "$D$CONFDIR" ]; then
    say "kept $CONFDIR (files you added or edited; PURGE=1 removes it)"
fi
if [ -d "$D$STATEDIR" ]; then
    say "kept $STATEDIR: the store, recordings and signing key (PURGE=1 removes them)"
fi
