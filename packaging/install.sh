#!/bin/sh
# install.sh — install pnrp: NSS module, pnrpd, pnrpctl, their manual pages and completions,
# systemd unit, the pnrp system user it runs as (sysusers.d), default config, the pnrp source
# in nsswitch.conf, and pnrp.net forwarding to pnrpd's DNS front end for systemd-resolved,
# dnsmasq and Unbound where each is installed. Builds nothing unless --build is given. Safe to
# run again.
# Usage: [DESTDIR=/stage] [PREFIX=/usr/local] [BUILD_DIR=target/release] [LIBDIR=...] install.sh [--build]
#   --build    first run `cargo build --release -p nss_pnrp -p pnrpd` in the repo root
#   DESTDIR    root prefix to stage into (default: the live system; then ldconfig/systemctl run)
#   PREFIX     pnrpd goes to $PREFIX/sbin, pnrpctl to $PREFIX/bin (default /usr/local)
#   BUILD_DIR  where the built artifacts are (default <repo>/target/release)
#   LIBDIR     override the detected multiarch library dir for libnss_pnrp.so.2
# Uninstall with uninstall.sh and the same variables.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=paths.sh
. "$here/paths.sh"

case ${1:-} in
    --build) build=1 ;;
    "") build=0 ;;
    *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac
need_root

if [ "$build" = 1 ]; then
    command -v cargo >/dev/null || { echo "$0: cargo not found (build as your user first?)" >&2; exit 1; }
    (cd "$REPO" && cargo build --release -p nss_pnrp -p pnrpd)
fi
for f in libnss_pnrp.so pnrpd pnrpctl; do
    [ -f "$BUILD_DIR/$f" ] || { echo "$0: $BUILD_DIR/$f missing; build first or pass --build" >&2; exit 1; }
done

# put MODE SRC DST: copy to a temp name beside DST, then rename, so running processes that have
# the old library mapped keep a valid file.
put() {
    mkdir -p "$(dirname "$3")"
    install -m "$1" "$2" "$3.pnrp-new"
    mv -f "$3.pnrp-new" "$3"
    echo "installed $3"
}

put 0644 "$BUILD_DIR/libnss_pnrp.so" "$DESTDIR$NSS_LIB"
if [ -z "$DESTDIR" ]; then ldconfig; else echo "DESTDIR set: skipping ldconfig"; fi
put 0755 "$BUILD_DIR/pnrpd" "$DESTDIR$DAEMON"
put 0755 "$BUILD_DIR/pnrpctl" "$DESTDIR$CTL"

# Manual pages and shell completions: the pnrpctl just installed writes them from its own
# command-line definitions (so they cannot drift from it); pnrpd.toml(5) and nss-pnrp(8) are
# written by hand. What went where, and which directories were new, goes in DOCS_MANIFEST.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
"$DESTDIR$CTL" generate-docs "$work/share" >/dev/null ||
    { echo "$0: $DESTDIR$CTL generate-docs failed" >&2; exit 1; }
mkdir -p "$work/share/man/man5" "$work/share/man/man8"
cp "$here/man/pnrpd.toml.5" "$work/share/man/man5/"
cp "$here/man/nss-pnrp.8" "$work/share/man/man8/"
# A reinstall keeps the directories the first install created.
if [ -f "$DESTDIR$DOCS_MANIFEST" ]; then grep '^dir ' "$DESTDIR$DOCS_MANIFEST" >"$work/manifest" || true; fi
# made DIR: create DIR and its missing parents, listing each new one in the manifest.
made() {
    [ -d "$DESTDIR$1" ] && return
    made "$(dirname "$1")"
    mkdir "$DESTDIR$1"
    echo "dir $1" >>"$work/manifest"
}
made "$(dirname "$DOCS_MANIFEST")"
for rel in $(cd "$work/share" && find . -type f | LC_ALL=C sort); do
    rel=${rel#./}
    made "$(dirname "$SHARE/$rel")"
    put 0644 "$work/share/$rel" "$DESTDIR$SHARE/$rel" >/dev/null
    echo "file $SHARE/$rel" >>"$work/manifest"
done
# The sysusers.d declaration of pnrpd's user; its directory, if new, goes in the manifest too.
made "$(dirname "$SYSUSERS")"
put 0644 "$here/pnrpd.sysusers" "$DESTDIR$SYSUSERS"
put 0644 "$work/manifest" "$DESTDIR$DOCS_MANIFEST" >/dev/null
echo "installed the manual pages and completions under $DESTDIR$SHARE"

unit=$work/pnrpd.service
sed "s|@PREFIX@|$PREFIX|g" "$here/pnrpd.service.in" >"$unit"
put 0644 "$unit" "$DESTDIR$UNIT"

# pnrpd runs as its own system user. On the live system: create it (systemd-sysusers, else
# useradd), then hand it a state directory an older, root-run pnrpd wrote (systemd's
# StateDirectory= also does this at each start). find follows no link; the directory was root's
# and 0700, so nobody else could have linked anything into it.
if [ -n "$DESTDIR" ]; then
    echo "DESTDIR set: not creating the $SERVICE_USER user (systemd-sysusers $SYSUSERS does it)"
else
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        if command -v systemd-sysusers >/dev/null; then
            systemd-sysusers "$SYSUSERS"
        else
            useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
                --shell /usr/sbin/nologin --comment "PNRP peer name daemon" "$SERVICE_USER"
        fi
        echo "created the system user $SERVICE_USER"
    fi
    if [ -d "$STATE_DIR" ] && [ "$(stat -c %U "$STATE_DIR")" != "$SERVICE_USER" ]; then
        find "$STATE_DIR" -xdev ! -user "$SERVICE_USER" -exec chown -h "$SERVICE_USER:$SERVICE_USER" {} +
        chmod 0700 "$STATE_DIR"
        echo "$STATE_DIR now belongs to $SERVICE_USER (pnrpd no longer runs as root)"
    fi
fi

# Never overwrite an admin's config: ship ours beside it as .dist instead.
if [ ! -e "$DESTDIR$CONF" ]; then
    put 0644 "$here/pnrpd.toml" "$DESTDIR$CONF"
elif cmp -s "$here/pnrpd.toml" "$DESTDIR$CONF"; then
    echo "$DESTDIR$CONF is up to date"
else
    put 0644 "$here/pnrpd.toml" "$DESTDIR$CONF.dist"
    echo "kept your $DESTDIR$CONF; the shipped default is in $CONF.dist"
fi

# pnrp.net forwarding, for each resolver installed here (its binary or its drop-in directory).
# An admin's own file of that name is kept. Listed in RESOLVERS_MANIFEST, with the directories
# created, so that uninstall.sh removes exactly these.
: >"$work/resolvers"
if [ -f "$DESTDIR$RESOLVERS_MANIFEST" ]; then grep '^dir ' "$DESTDIR$RESOLVERS_MANIFEST" >"$work/resolvers" || true; fi
echo "$RESOLVERS" | while read -r source target markers; do
    present=""
    for marker in $markers; do
        if [ -e "$DESTDIR$marker" ]; then present=1; fi
    done
    [ -n "$present" ] || continue
    if [ -e "$DESTDIR$target" ] && ! cmp -s "$here/resolvers/$source" "$DESTDIR$target" &&
        ! grep -Fxq "file $target" "$DESTDIR$RESOLVERS_MANIFEST" 2>/dev/null; then
        echo "kept your $DESTDIR$target (pnrp's is packaging/resolvers/$source)"
        continue
    fi
    parent=$(dirname "$target")
    if [ ! -d "$DESTDIR$parent" ]; then
        mkdir -p "$DESTDIR$parent"
        echo "dir $parent" >>"$work/resolvers"
    fi
    put 0644 "$here/resolvers/$source" "$DESTDIR$target"
    echo "file $target" >>"$work/resolvers"
done
resolvers_changed=""
if [ -s "$work/resolvers" ]; then
    put 0644 "$work/resolvers" "$DESTDIR$RESOLVERS_MANIFEST" >/dev/null
    resolvers_changed=1
else
    echo "no systemd-resolved, dnsmasq or Unbound here: point your resolver's pnrp.net at 127.0.0.1#3553 (README, \"DNS\")"
fi

if [ -f "$DESTDIR/etc/nsswitch.conf" ]; then
    "$here/nsswitch.sh" add "$DESTDIR/etc/nsswitch.conf"
else
    echo "no $DESTDIR/etc/nsswitch.conf: add 'pnrp [!UNAVAIL=return]' before dns on its hosts: line yourself"
fi

if live_systemd; then
    systemctl daemon-reload
    systemctl try-restart pnrpd.service || echo "warning: restarting pnrpd failed; see journalctl -u pnrpd" >&2
    # Running resolvers read their new pnrp.net forwarding.
    if [ -n "$resolvers_changed" ]; then
        for resolver in systemd-resolved dnsmasq unbound; do
            systemctl try-restart "$resolver.service" 2>/dev/null || true
        done
    fi
    echo "start it with: systemctl enable --now pnrpd"
fi
