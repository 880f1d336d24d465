# Shared by the namespace scenarios (cloud-hosts.sh, hostile-flood.sh): hosts on a bridge, one
# pnrpd each. Source it with `multicall` set; it makes `$work` and cleans up on exit.
#
# Run inside private mount and network namespaces (the tests do: unshare, as root or through a
# user namespace): every host namespace hangs off that private network, so no packet reaches
# the machine's real interfaces.
# shellcheck shell=bash
: "${multicall:?set multicall (the pnrp-multicall binary) before sourcing hosts-lib.sh}"
passed=0 failed=0
work=$(mktemp -d /tmp/pnrp-hosts.XXXXXX)
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# The private network: a tmpfs /run for `ip netns` (nothing leaks out), a bridge.
setup_network() {
    mount -t tmpfs tmpfs /run
    mkdir -p /run/netns
    ip link set lo up
    ip link add br0 type bridge
    ip link set br0 up
}

# add_host N: namespace hN, interface eN on the bridge, address fd71::N/64.
add_host() {
    local host=$1
    ip netns add "h$host"
    ip link add "v$host" type veth peer name "e$host"
    ip link set "e$host" netns "h$host"
    ip link set "v$host" master br0 up
    ip -n "h$host" link set lo up
    ip -n "h$host" link set "e$host" up
    ip -n "h$host" addr add "fd71::$host/64" dev "e$host" nodad
}

# start_daemon N [FLAGS...]: pnrpd in hN, socket $work/hN.sock, log $work/pnrpdN.log; its pid
# in pids[N]. `daemon_config` (default /dev/null) is its config file, `daemon_log_level` its
# filter (default pnrpd=debug).
start_daemon() {
    local host=$1
    shift
    ip netns exec "h$host" "$multicall" pnrpd --config "${daemon_config:-/dev/null}" \
        --log-level "${daemon_log_level:-pnrpd=debug}" \
        --socket "$work/h$host.sock" --state-dir "$work/state$host" "$@" \
        >>"$work/pnrpd$host.log" 2>&1 &
    pids[host]=$!
    for _ in $(seq 200); do
        [ -S "$work/h$host.sock" ] && return 0
        sleep 0.05
    done
    echo "pnrpd on h$host did not start"; cat "$work/pnrpd$host.log"; return 1
}

ctl() {
    local host=$1
    shift
    "$multicall" pnrpctl --socket "$work/h$host.sock" "$@"
}

# until_ok SECONDS CMD...: retry CMD until it succeeds or SECONDS pass.
until_ok() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}
# resolves_to HOST NAME PATTERN. grep reads all (no -q): under pipefail, a pnrpctl still
# writing when grep -q quits would die of SIGPIPE and fail the check.
resolves_to() { ctl "$1" resolve "$2" 2>&1 | grep -- "$3" >/dev/null; }
not_found() {
    ctl "$1" resolve "$2" >/dev/null 2>&1
    [ $? -eq 3 ]
}

# check WHAT CMD...: one line per check; on failure the command's output, and `on_failure`.
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
on_failure() { :; }

# The last line of a scenario; its exit status.
summary() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
