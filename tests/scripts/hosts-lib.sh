# shellcheck shell=bash disable=SC2154 # multicall, libdir, prefix: set by the scenario
# What the host scenarios share (sourced by cloud-hosts.sh and attack-hosts.sh): hosts h1…hN in
# network namespaces on a bridge, one pnrpd each, checks that report "ok"/"FAILED" and a final
# "N passed, M failed". The scenario (cloud-hosts.sh, attack-hosts.sh, hostile-flood.sh) sets
# `multicall`, `libdir` and `prefix` (e.g. fd71) first and runs inside private mount and network namespaces, so that every host namespace hangs off a
# private network, never off the machine's.
# The living-*.sh scenarios source it too; add_lan and add_router make more LANs (bridges) and
# a router namespace between them, cut_link and heal_link pull its cable and plug it back.

passed=0 failed=0
work=$(mktemp -d /tmp/pnrp-hosts.XXXXXX)
pids=()
# Extra flags for every pnrpd (a scenario may add some).
daemon_flags=(--config /dev/null)

cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The last lines of every daemon's log.
show_logs() {
    for log in "$work"/pnrpd*.log; do
        echo "    --- $log"
        grep -v DEBUG "$log" | tail -n 5 | sed 's/^/    /'
    done
}

# What a failed check prints after its own output (a scenario may redefine it).
on_failure() { show_logs; }

# check WHAT CMD...: run CMD, report it, keep its output in $work/log.
check() {
    local what=$1
    shift
    if "$@" >>"$work/log" 2>&1; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
        tail -n 20 "$work/log" | sed 's/^/    /'
        on_failure
    fi
}

# finish: the summary line and the exit status.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# make_hosts N: hosts h1…hN on bridge br0, host i at ${prefix}::i/64. `ip netns` keeps its
# handles in /run/netns: a private /run, so nothing leaks out.
make_hosts() {
    mount -t tmpfs tmpfs /run
    mkdir -p /run/netns
    ip link set lo up
    ip link add br0 type bridge
    ip link set br0 up
    echo "hosts: files pnrp [!UNAVAIL=return] dns" >"$work/nsswitch.conf"
    echo "nameserver 127.0.0.1" >"$work/resolv.conf"
    local host
    for host in $(seq "$1"); do
        ip netns add "h$host"
        ip link add "v$host" type veth peer name "e$host"
        ip link set "e$host" netns "h$host"
        ip link set "v$host" master br0 up
        ip -n "h$host" link set lo up
        ip -n "h$host" link set "e$host" up
        ip -n "h$host" addr add "${prefix}::$host/64" dev "e$host" nodad
    done
}

# start_daemon HOST [FLAGS…]: pnrpd on HOST, waiting for its socket.
start_daemon() {
    local host=$1
    shift
    ip netns exec "h$host" "$multicall" pnrpd "${daemon_flags[@]}" --log-level pnrpd=debug \
        --socket "$work/h$host.sock" --state-dir "$work/state$host" "$@" \
        >>"$work/pnrpd$host.log" 2>&1 &
    pids[host]=$!
    for _ in $(seq 200); do
        [ -S "$work/h$host.sock" ] && return 0
        sleep 0.05
    done
    echo "pnrpd on h$host did not start"; cat "$work/pnrpd$host.log"; return 1
}

# ctl HOST ARGS…: pnrpctl against HOST's daemon.
ctl() {
    local host=$1
    shift
    "$multicall" pnrpctl --socket "$work/h$host.sock" "$@"
}

# on_host HOST CMD…: CMD on HOST, resolving through glibc with its own nsswitch.conf and its
# daemon's socket.
on_host() {
    local host=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    ip netns exec "h$host" unshare --mount sh -c '
        mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf
        mount --bind "$0/resolv.conf" /etc/resolv.conf
        exec "$@"' "$work" env PNRP_SOCKET="$work/h$host.sock" LD_LIBRARY_PATH="$libdir" "$@"
}

# resolves_to HOST NAME PATTERN: pnrpctl on HOST resolves NAME and prints PATTERN. grep reads
# everything (no -q): under pipefail, a pnrpctl still writing when grep -q quits would die of
# SIGPIPE and fail the check.
resolves_to() { ctl "$1" resolve "$2" 2>&1 | grep -- "$3" >/dev/null; }

# not_found HOST NAME: pnrpctl on HOST says NAME is not found (exit code 3).
not_found() {
    ctl "$1" resolve "$2" >/dev/null 2>&1
    [ $? -eq 3 ]
}

# until_ok SECONDS CMD…: retry CMD until it succeeds or SECONDS pass.
until_ok() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# add_host BRIDGE PREFIX HOST: host hHOST on BRIDGE (made by make_hosts or add_lan) at
# PREFIX::HOST/64, like make_hosts' hosts.
add_host() {
    local bridge=$1 lan_prefix=$2 host=$3
    ip netns add "h$host"
    ip link add "v$host" type veth peer name "e$host"
    ip link set "e$host" netns "h$host"
    ip link set "v$host" master "$bridge" up
    ip -n "h$host" link set lo up
    ip -n "h$host" link set "e$host" up
    ip -n "h$host" addr add "$lan_prefix::$host/64" dev "e$host" nodad
}

# add_lan BRIDGE PREFIX HOST...: one more LAN (after make_hosts, which makes br0 and the shared
# files): a new bridge BRIDGE with hosts hHOST… at PREFIX::HOST/64. Without a router (add_router)
# it reaches no other LAN.
add_lan() {
    local bridge=$1 lan_prefix=$2 host
    shift 2
    ip link add "$bridge" type bridge
    ip link set "$bridge" up
    for host in "$@"; do add_host "$bridge" "$lan_prefix" "$host"; done
}

# add_router NAME BRIDGE:PREFIX…: a router namespace NAME with a leg on each bridge, at
# PREFIX::ff/64, forwarding IPv6 between them; every host then on one of those bridges routes
# through it by default. The leg on BRIDGE is NAME-BRIDGE inside NAME; its peer on the bridge,
# NAME-BRIDGE-p, is what cut_link takes down.
add_router() {
    local router=$1 leg bridge lan_prefix host
    shift
    ip netns add "$router"
    ip -n "$router" link set lo up
    ip netns exec "$router" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/forwarding'
    for leg in "$@"; do
        bridge=${leg%%:*} lan_prefix=${leg#*:}
        ip link add "$router-$bridge-p" type veth peer name "$router-$bridge"
        ip link set "$router-$bridge" netns "$router"
        ip link set "$router-$bridge-p" master "$bridge" up
        ip -n "$router" link set "$router-$bridge" up
        ip -n "$router" addr add "$lan_prefix::ff/64" dev "$router-$bridge" nodad
        # The hosts' ends on the bridge are v<host>.
        for host in $(ip -o link show master "$bridge" | sed -n 's/^[0-9]*: v\([0-9]*\)@.*/\1/p'); do
            ip -n "h$host" -6 route replace default via "$lan_prefix::ff" dev "e$host"
        done
    done
}

# cut_link ROUTER BRIDGE / heal_link ROUTER BRIDGE: unplug and plug back the router's leg on
# BRIDGE. The bridge's end goes down, so the router's interface loses its carrier but keeps its
# address and routes (an administrative down inside the router would flush them): what a pulled
# cable does. Nothing crosses until heal_link.
cut_link() { ip link set "$1-$2-p" down; }
heal_link() { ip link set "$1-$2-p" up; }

# now_ms: the time, in milliseconds since the epoch. elapsed_since MS: the seconds since MS (a
# now_ms), with one decimal, for `figure:` lines.
now_ms() { date +%s%3N; }
elapsed_since() {
    local ms=$(($(now_ms) - $1))
    printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}
