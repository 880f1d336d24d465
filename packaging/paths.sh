# paths.sh — sourced by install.sh and uninstall.sh so both agree on where things go.
# Inputs (environment): DESTDIR (default empty), PREFIX (default /usr/local),
# BUILD_DIR (default <repo>/target/release), LIBDIR (default: detected, see below).
# Expects $here (the packaging directory) to be set; checked through install.sh (shellcheck -x).
# shellcheck shell=sh
PATH=$PATH:/usr/sbin:/sbin
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
REPO=$(dirname "$here")
BUILD_DIR=${BUILD_DIR:-$REPO/target/release}

# The NSS module must sit where glibc's dlopen("libnss_pnrp.so.2") finds it, i.e. next to
# libnss_files.so.2 — not /usr/local/lib, which is not in every distribution's search path.
detect_libdir() {
    ma=$(gcc -print-multiarch 2>/dev/null || true)
    [ -n "$ma" ] || ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
    if [ -n "$ma" ]; then echo "/usr/lib/$ma"; return; fi
    nss=$(ldconfig -p 2>/dev/null | awk '$1 == "libnss_files.so.2" { print $NF; exit }')
    if [ -n "$nss" ]; then dirname "$nss"; return; fi
    if [ -d /usr/lib64 ]; then echo /usr/lib64; else echo /usr/lib; fi
}
LIBDIR=${LIBDIR:-$(detect_libdir)}

NSS_LIB=$LIBDIR/libnss_pnrp.so.2
DAEMON=$PREFIX/sbin/pnrpd
CTL=$PREFIX/bin/pnrpctl
UNIT=/etc/systemd/system/pnrpd.service
# The system user pnrpd runs as (User= in the unit), declared for systemd-sysusers.
SYSUSERS=/etc/sysusers.d/pnrpd.conf
SERVICE_USER=pnrp
CONF=/etc/pnrp/pnrpd.toml
STATE_DIR=/var/lib/pnrp
# Manual pages and shell completions go under SHARE; DOCS_MANIFEST lists what install.sh put
# there and the directories it had to create, for uninstall.sh.
SHARE=$PREFIX/share
DOCS_MANIFEST=$SHARE/pnrp/installed-docs
# The resolvers' pnrp.net forwarding (packaging/resolvers/), each installed only where that
# resolver is: "SOURCE TARGET MARKER…" (installed when any MARKER exists). RESOLVERS_MANIFEST
# lists the files install.sh put and the directories it created, for uninstall.sh.
RESOLVERS="resolved.conf /etc/systemd/resolved.conf.d/pnrp.conf /usr/lib/systemd/systemd-resolved /lib/systemd/systemd-resolved
dnsmasq.conf /etc/dnsmasq.d/pnrp.conf /etc/dnsmasq.d
unbound.conf /etc/unbound/unbound.conf.d/pnrp.conf /etc/unbound/unbound.conf.d"
RESOLVERS_MANIFEST=$SHARE/pnrp/installed-resolvers

# True when we act on the running system (not a staging DESTDIR) and systemd is PID 1.
live_systemd() { [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; }

# Live installs need root; say so before touching anything.
need_root() {
    if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
        echo "$0: run as root, or set DESTDIR to stage into a directory" >&2
        exit 1
    fi
}
