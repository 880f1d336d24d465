#!/usr/bin/env bash
# The pnrp demo: builds everything, then inside private namespaces (its own network, its own
# /etc/nsswitch.conf and /run; the host's files and interfaces are untouched and nothing leaves the
# machine) starts pnrpd, registers 0.myapp and resolves it through glibc with getent and ping6.
#
# Usage: ./demo.sh        (as root, or as a user where unprivileged user namespaces are enabled)
set -euo pipefail

repo=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != "--inside" ]; then
    echo "==> building (cargo build --release)"
    cargo build --release --quiet -p pnrpd -p nss_pnrp --manifest-path "$repo/Cargo.toml"
    flags=(--mount --net --propagation private)
    [ "$(id -u)" -eq 0 ] || flags=(--user --map-root-user "${flags[@]}")
    exec unshare "${flags[@]}" -- bash "$0" --inside
fi

# From here on we are in the new namespaces.
bin="$repo/target/release"
work=$(mktemp -d /tmp/pnrp-demo.XXXXXX)
daemon=
trap '[ -z "$daemon" ] || kill "$daemon" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/run/pnrp" "$work/lib" "$work/state"
ln -s "$bin/libnss_pnrp.so" "$work/lib/libnss_pnrp.so.2"
echo "hosts: files pnrp [!UNAVAIL=return] dns" > "$work/nsswitch.conf"
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$work/run" /run
export LD_LIBRARY_PATH="$work/lib"   # where glibc finds libnss_pnrp.so.2 without installing it

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "a private network: loopback and a veth pair, one end with a ULA address"
ip link set lo up
ip link add demo0 type veth peer name demo1
ip link set demo1 up
ip link set demo0 up
ip addr add fd70:6e72:7000::1/64 dev demo0 nodad
ip -brief addr show demo0

step "hosts line of the demo's /etc/nsswitch.conf"
grep hosts: /etc/nsswitch.conf

step "starting pnrpd (socket /run/pnrp/pnrpd.sock, state in $work/state)"
"$bin/pnrpd" --config /dev/null --state-dir "$work/state" --log-level warn &
daemon=$!
for _ in $(seq 100); do [ -S /run/pnrp/pnrpd.sock ] && break; sleep 0.05; done
show "$bin/pnrpctl" status

step "registering 0.myapp with this machine's addresses"
show "$bin/pnrpctl" register 0.myapp --comment "the demo app"

step "any program resolves it through glibc"
show getent ahosts 0.myapp.pnrp.net
show getent ahosts myapp.pnrp.net
show ping -6 -c 3 -i 0.2 0.myapp.pnrp.net

step "unknown names fail at once, without asking DNS"
show getent ahosts 0.nobody.pnrp.net || echo "(exit $? : not found)"

step "unregistering"
show "$bin/pnrpctl" unregister 0.myapp
show getent ahosts 0.myapp.pnrp.net || echo "(exit $? : gone)"

step "stopping pnrpd with SIGTERM"
kill -TERM "$daemon"
wait "$daemon"
echo "pnrpd stopped; the demo's namespaces vanish with it."
