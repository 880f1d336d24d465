#!/bin/sh
# uninstall.sh — remove what install.sh put: the pnrp source in nsswitch.conf, the NSS module
# (then ldconfig), pnrpd, pnrpctl and the systemd unit (stopped and disabled first on a live
# systemd system). /etc/pnrp/pnrpd.toml is removed only if it is still the shipped default;
# the state dir /var/lib/pnrp is always left alone.
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
if live_systemd; then systemctl daemon-reload; fi

if [ -e "$DESTDIR$CONF" ] && ! cmp -s "$here/pnrpd.toml" "$DESTDIR$CONF"; then
    echo "kept $DESTDIR$CONF: it differs from the shipped default"
else
    gone "$DESTDIR$CONF"
fi
gone "$DESTDIR$CONF.dist"
rmdir "$DESTDIR/etc/pnrp" 2>/dev/null || true
echo "left the state dir $DESTDIR$STATE_DIR (registrations) in place; remove it by hand if unwanted"
