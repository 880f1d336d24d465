#!/usr/bin/env bash
# The pnrp demo: builds everything, then inside private namespaces (their own network and
# /run; the host's /etc/nsswitch.conf, interfaces and network are untouched, nothing leaves the
# machine) starts two hosts, alice and bob, each with its pnrpd. alice registers 0.myapp; bob
# finds the cloud by itself (SSDP) and resolves the name through glibc with getent and ping6.
#
# Usage: ./demo.sh        (as root, or as a user where unprivileged user namespaces are enabled)
set -euo pipefail

repo=$(cd "$(dirname "$0")" && pwd)

# The tools the demo runs, with the Debian package of each: checked before anything starts
# (a fresh Debian has no ping), installed when root on Debian, named otherwise.
need_tools() {
    local missing=() entry
    for entry in cargo:rustup unshare:util-linux ip:iproute2 mount:mount getent:libc-bin \
        ping:iputils-ping mktemp:coreutils seq:coreutils; do
        command -v "${entry%%:*}" >/dev/null || missing+=("$entry")
    done
    [ "${#missing[@]}" -eq 0 ] && return
    local packages=() names=()
    for entry in "${missing[@]}"; do
        names+=("${entry%%:*}")
        [ "${entry#*:}" = rustup ] || packages+=("${entry#*:}")
    done
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && [ "${#packages[@]}" -gt 0 ] &&
        ! printf '%s\n' "${names[@]}" | grep -qx cargo; then
        echo "==> installing ${packages[*]} (for ${names[*]})"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >/dev/null
        return
    fi
    echo "demo.sh: missing ${names[*]}." >&2
    [ "${#packages[@]}" -gt 0 ] && echo "  install them: sudo apt-get install ${packages[*]}" >&2
    printf '%s\n' "${names[@]}" | grep -qx cargo &&
        echo "  and Rust: https://rustup.rs (cargo must be on PATH)" >&2
    exit 1
}

if [ "${1:-}" != "--inside" ]; then
    need_tools
    echo "==> building (cargo build --release)"
    cargo build --release --quiet -p pnrpd -p nss_pnrp --manifest-path "$repo/Cargo.toml"
    flags=(--mount --net --propagation private)
    [ "$(id -u)" -eq 0 ] || flags=(--user --map-root-user "${flags[@]}")
    exec unshare "${flags[@]}" -- bash "$0" --inside
fi

# From here on we are in the new namespaces.
# Where cargo put them (CARGO_TARGET_DIR, if set, moves the whole target directory).
bin="${CARGO_TARGET_DIR:-$repo/target}/release"
work=$(mktemp -d /tmp/pnrp-demo.XXXXXX)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/lib"
ln -s "$bin/libnss_pnrp.so" "$work/lib/libnss_pnrp.so.2"
echo "hosts: files pnrp [!UNAVAIL=return] dns" >"$work/nsswitch.conf"
echo "nameserver 127.0.0.1" >"$work/resolv.conf"
mount -t tmpfs tmpfs /run # a private /run for `ip netns`
mkdir -p /run/netns

step() { printf '\n==> %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
# on HOST CMD...: run CMD on a host, resolving through glibc with the demo's nsswitch.conf and
# that host's pnrpd (glibc finds libnss_pnrp.so.2 on LD_LIBRARY_PATH: nothing is installed).
on() {
    local host=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec "$host" unshare --mount sh -c '
        mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf
        mount --bind "$0/resolv.conf" /etc/resolv.conf
        exec "$@"' "$work" env PNRP_SOCKET="$work/$host.sock" LD_LIBRARY_PATH="$work/lib" "$@"
}
ctl() {
    local host=$1
    shift
    printf '%s$ pnrpctl %s\n' "$host" "$*"
    "$bin/pnrpctl" --socket "$work/$host.sock" "$@"
}

step "two hosts on a private link: alice fd70::a, bob fd70::b"
ip netns add alice
ip netns add bob
ip link add eth-alice type veth peer name eth-bob
ip link set eth-alice netns alice
ip link set eth-bob netns bob
for host in alice bob; do
    ip -n "$host" link set lo up
    ip -n "$host" link set "eth-$host" up
done
ip -n alice addr add fd70::a/64 dev eth-alice nodad
ip -n bob addr add fd70::b/64 dev eth-bob nodad
sleep 1

step "starting pnrpd on both (no seed: they find each other by SSDP on the link)"
for host in alice bob; do
    ip netns exec "$host" "$bin/pnrpd" --config /dev/null --socket "$work/$host.sock" \
        --state-dir "$work/state-$host" --log-level warn &
    pids+=($!)
done
for host in alice bob; do
    for _ in $(seq 100); do [ -S "$work/$host.sock" ] && break; sleep 0.05; done
done

step "alice registers 0.myapp with her addresses"
ctl alice register 0.myapp --comment "alice's app"

step "bob resolves it through the cloud (the first lookup waits for SSDP to find alice)"
for _ in $(seq 40); do
    "$bin/pnrpctl" --socket "$work/bob.sock" resolve 0.myapp >/dev/null 2>&1 && break
    sleep 0.5
done
ctl bob resolve 0.myapp
ctl bob traceroute 0.myapp

step "any program on bob resolves it through glibc"
printf 'bob$ getent ahosts 0.myapp.pnrp.net\n'
on bob getent ahosts 0.myapp.pnrp.net
printf 'bob$ ping -6 -c 3 0.myapp.pnrp.net\n'
on bob ping -6 -c 3 -i 0.2 0.myapp.pnrp.net

step "unknown names fail at once, without asking DNS"
printf 'bob$ getent ahosts 0.nobody.pnrp.net\n'
on bob getent ahosts 0.nobody.pnrp.net || echo "(exit $?: not found)"

step "alice unregisters; bob's answer goes (at most 10 s of freshness)"
ctl alice unregister 0.myapp
for _ in $(seq 30); do
    on bob getent ahosts 0.myapp.pnrp.net >/dev/null 2>&1 || break
    sleep 0.5
done
printf 'bob$ getent ahosts 0.myapp.pnrp.net\n'
on bob getent ahosts 0.myapp.pnrp.net || echo "(exit $?: gone)"

step "stopping both pnrpd with SIGTERM"
kill -TERM "${pids[@]}"
wait "${pids[@]}" 2>/dev/null || true
pids=()
echo "done; the demo's namespaces vanish with it."
