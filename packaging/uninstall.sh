#!/bin/sh
# uninstall.sh — remove what install.sh put: the pnrp source in nsswitch.conf, the NSS module
# (then ldconfig), pnrpd, pnrpctl, their manual pages and completions, and the systemd unit
# (stopped and disabled first on a live systemd system), the resolvers' pnrp.net forwarding. /etc/pnrp/pnrpd.toml is removed only
# if it is still the shipped default; the state dir /var/lib/pnrp is always left alone.
# Usage: [DESTDIR=/stage] [PREFIX=/usr/local] [LIBDIR=...] uninstall.sh   (same values as install)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=paths.sh
. "$here/paths.sh"
need_root

if live_systemd; then
    systemctl disable --now pnrpd.service 2>/dev/null || true
fi

# Stop referring to the module before removing it.
if [ -f "$DESTDIR/etc/nsswitch.conf" ]; then
    "$here/nsswitch.sh" remove "$DESTDIR/etc/nsswitch.conf"
fi

gone() { if [ -e "$1" ] || [ -L "$1" ]; then rm -f "$1"; echo "removed $1"; fi; }

gone "$DESTDIR$NSS_LIB"
if [ -z "$DESTDIR" ]; then ldconfig; else echo "DESTDIR set: skipping ldconfig"; fi
gone "$DESTDIR$DAEMON"
gone "$DESTDIR$CTL"
gone "$DESTDIR$UNIT"
# The resolvers' pnrp.net forwarding install.sh listed (an edited one is kept), then the
# directories it created.
if [ -f "$DESTDIR$RESOLVERS_MANIFEST" ]; then
    sed -n 's/^file //p' "$DESTDIR$RESOLVERS_MANIFEST" | while read -r f; do
        source=$(echo "$RESOLVERS" | awk -v target="$f" '$2 == target { print $1 }')
        if [ -e "$DESTDIR$f" ] && [ -n "$source" ] && ! cmp -s "$here/resolvers/$source" "$DESTDIR$f"; then
            echo "kept $DESTDIR$f: it differs from pnrp's"
        else
            gone "$DESTDIR$f"
        fi
    done
    dirs=$(sed -n 's/^dir //p' "$DESTDIR$RESOLVERS_MANIFEST" | LC_ALL=C sort -r)
    gone "$DESTDIR$RESOLVERS_MANIFEST" >/dev/null
    for d in $dirs; do rmdir "$DESTDIR$d" 2>/dev/null || true; done
    if live_systemd; then
        for resolver in systemd-resolved dnsmasq unbound; do
            systemctl try-restart "$resolver.service" 2>/dev/null || true
        done
    fi
fi
# The pnrp user stays, as system users do (files it owns may remain: the state dir).
gone "$DESTDIR$SYSUSERS"
# The manual pages and completions install.sh listed, then the directories it created (the
# deepest first; one that holds something else stays).
if [ -f "$DESTDIR$DOCS_MANIFEST" ]; then
    sed -n 's/^file //p' "$DESTDIR$DOCS_MANIFEST" | while read -r f; do gone "$DESTDIR$f" >/dev/null; done
    dirs=$(sed -n 's/^dir //p' "$DESTDIR$DOCS_MANIFEST" | LC_ALL=C sort -r)
    gone "$DESTDIR$DOCS_MANIFEST" >/dev/null
    for d in $dirs; do rmdir "$DESTDIR$d" 2>/dev/null || true; done
    echo "removed the manual pages and completions under $DESTDIR$SHARE"
fi
if live_systemd; then systemctl daemon-reload; fi

if [ -e "$DESTDIR$CONF" ] && ! cmp -s "$here/pnrpd.toml" "$DESTDIR$CONF"; then
    echo "kept $DESTDIR$CONF: it differs from the shipped default"
else
    gone "$DESTDIR$CONF"
fi
gone "$DESTDIR$CONF.dist"
rmdir "$DESTDIR/etc/pnrp" 2>/dev/null || true
echo "left the state dir $DESTDIR$STATE_DIR (registrations) and the $SERVICE_USER user in place; remove them by hand if unwanted"
