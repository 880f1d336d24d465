#!/usr/bin/env bash
# getaddrinfo of .pnrp.net names against the same names in /etc/hosts, every row of issue 12's
# goal table in one run, side by side as ratios (p50 and p99). Figures, not a pass/fail test.
#
#   local6   a name registered on this pnrpd, one IPv6 address   vs /etc/hosts, one IPv6 address
#   local46  the same with one IPv6 and one IPv4 address         vs /etc/hosts, the same two
#   remote   a name published by pnrpd on another host of a namespace LAN, fresh in this host's
#            pnrpd, vs /etc/hosts, measured in this host's namespace; beside it, the same lookup
#            answered by the floor server below (what this machine's socket round trip costs)
#   cpu      pnrpd's CPU time per socket request (utime+stime of /proc/PID/stat, what getrusage
#            reports in the daemon, over BENCH_CPU_REQUESTS requests of the NSS module's socket
#            path, one connection each) and that path's latency; beside it the same for the
#            floor, a minimal blocking server with a ready-made answer (`gai floor-server`)
#   syscalls the system calls a lookup of a name outside pnrp.net gains from the module
#            (`hosts: pnrp files` against `hosts: files`, counted by strace)
#   mdns     nss-mdns with avahi-daemon answering a .local name, vs /etc/hosts
#   instructions  (profile, repeatable on a loaded machine) the instructions one getaddrinfo
#            of each local name costs, against its /etc/hosts twin (callgrind; the difference of
#            two runs of different lengths, so start-up and warm-up cancel out)
#
# nsswitch.conf is `hosts: files pnrp [!UNAVAIL=return] dns`, so a .pnrp.net lookup first scans
# /etc/hosts (a miss), then asks the module: the whole cost a user pays.
#
# Isolation: a private mount namespace (its own nsswitch.conf, /etc/hosts, resolv.conf, /run and
# /etc/avahi/hosts; the host's files are untouched). The local pnrpd runs with --no-cloud (its Unix
# socket only). The two cloud daemons of the remote row and avahi-daemon run only inside network
# namespaces this script creates (a veth pair between the two hosts, another inside avahi's
# namespace): nothing is sent on the machine's interfaces. Without root, all of it runs in a user namespace.
#
# Usage: bench/getaddrinfo.sh
#   BENCH_ITERATIONS    timed lookups per name and round (default 20000)
#   BENCH_ROUNDS        rounds, the names of each row alternating (default 3)
#   BENCH_CPU_REQUESTS  socket requests for the CPU row (default 100000)
#   BENCH_ROWS          the rows to run, among local6 local46 remote cpu syscalls instructions
#                       mdns (default: all of them)
# Figures are medians over the rounds of each round's p50 / p99; min is the lowest seen.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
iterations=${BENCH_ITERATIONS:-20000}
rounds=${BENCH_ROUNDS:-3}
cpu_requests=${BENCH_CPU_REQUESTS:-100000}
rows=" ${BENCH_ROWS:-local6 local46 remote cpu syscalls instructions mdns} "
# wanted ROW: whether ROW is to be run.
wanted() { [[ $rows == *" $1 "* ]]; }

if [ "${1:-}" != "--inside" ]; then
    echo "==> building (cargo build --release)" >&2
    cargo build --release --quiet -p pnrpd -p nss_pnrp --manifest-path "$repo/Cargo.toml"
    # Apart: built together, the test programs' features would reach the daemon's binary.
    cargo build --release --quiet -p pnrp-tests --bin pnrp-multicall \
        --manifest-path "$repo/Cargo.toml"
    echo "# getaddrinfo benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- . ':!docs' 2>/dev/null || echo ' + uncommitted changes')"
    echo "# cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# kernel: $(uname -sr)"
    echo "# glibc:  $(ldd --version | head -n1)"
    echo "# rounds: $rounds x $iterations lookups per name (after 200 warm-up), AF_UNSPEC/SOCK_STREAM"
    flags=(--mount --propagation private)
    [ "$(id -u)" -eq 0 ] || flags=(--user --map-root-user "${flags[@]}")
    exec unshare "${flags[@]}" -- bash "$0" --inside
fi

# From here on we are in the new mount namespace.
bin="$repo/target/release"
multicall="$bin/pnrp-multicall"
work=$(mktemp -d /tmp/pnrp-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in pa pb pm; do ip netns del "$ns" 2>/dev/null || true; done
    # `ip netns` mounted /run/netns over itself.
    umount /run/netns 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/run/pnrp" "$work/lib" "$work/state" "$work/run/netns" "$work/run/avahi-daemon"
ln -s "$bin/libnss_pnrp.so" "$work/lib/libnss_pnrp.so.2"
echo "hosts: files pnrp [!UNAVAIL=return] dns" > "$work/nsswitch.conf"
echo "hosts: pnrp [!UNAVAIL=return] files" > "$work/nsswitch-pnrp-first.conf"
echo "hosts: files" > "$work/nsswitch-files.conf"
echo "hosts: files mdns_minimal [NOTFOUND=return] dns" > "$work/nsswitch-mdns.conf"
# A stock Debian /etc/hosts plus the benchmark's names.
cat > "$work/hosts" <<EOF
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
fd70:6e72:7000::b1	bench-host
192.0.2.11	bench-host
fd70:6e72:7000::b6	bench-host6
EOF
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$work/resolv.conf"
# Both families, like bench-host: nss-mdns asks avahi for each, and a family avahi cannot
# answer costs its 5 s timeout.
printf 'fd70:6e72:7000::b4 bench-mdns.local\n192.0.2.14 bench-mdns.local\n' > "$work/avahi-hosts"
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf
mount --bind "$work/run" /run
[ -e /etc/avahi/hosts ] && mount --bind "$work/avahi-hosts" /etc/avahi/hosts
export LD_LIBRARY_PATH="$work/lib"
unset PNRP_SOCKET PNRP_TIMEOUT_MS

# wait_for SECONDS CMD…: until CMD succeeds.
wait_for() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.05
    done
}

"$bin/pnrpd" --config /dev/null --no-cloud --state-dir "$work/state" --log-level warn &
daemon=$!
pids+=("$daemon")
wait_for 10 test -S /run/pnrp/pnrpd.sock
# Same addresses as the hosts entries, so glibc sorts the same amount of results.
"$bin/pnrpctl" register 0.bench --address fd70:6e72:7000::b2 --address 192.0.2.12 > /dev/null
"$bin/pnrpctl" register 0.bench6 --address fd70:6e72:7000::b7 > /dev/null

# field KEY LINE: the value of KEY=… in a `gai bench` line.
field() { tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p"; }
# median of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
us() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# with_nsswitch FILE CMD…: CMD with FILE as /etc/nsswitch.conf (a nested mount namespace).
with_nsswitch() {
    unshare --mount --propagation private -- sh -c 'mount --bind "$0" /etc/nsswitch.conf && exec "$@"' "$@"
}

declare -A p50s p99s mins
# row KEY BASELINE NAME [RUNNER…]: BASELINE and NAME measured alternately for $rounds rounds,
# each lookup program started through RUNNER (nothing, a namespace, another nsswitch).
row() {
    local key=$1 baseline=$2 name=$3 line
    shift 3
    for round in $(seq "$rounds"); do
        for which in base name; do
            local target=$baseline
            [ "$which" = name ] && target=$name
            line=$("$@" "$multicall" gai bench "$target" "$iterations") || {
                echo "# $key: lookup of $target failed: $line"
                return 1
            }
            echo "# $key round $round: $line"
            p50s[$key.$which]+="$(field p50_ns "$line") "
            p99s[$key.$which]+="$(field p99_ns "$line") "
            mins[$key.$which]+="$(field min_ns "$line") "
        done
    done
}
# versus A B: "p50 A / B ratio | p99 A / B ratio", A and B two measured columns (KEY.name or
# KEY.base), each the median over the rounds.
versus() {
    local a50 b50 a99 b99
    a50=$(tr ' ' '\n' <<< "${p50s[$1]}" | grep . | median)
    b50=$(tr ' ' '\n' <<< "${p50s[$2]}" | grep . | median)
    a99=$(tr ' ' '\n' <<< "${p99s[$1]}" | grep . | median)
    b99=$(tr ' ' '\n' <<< "${p99s[$2]}" | grep . | median)
    printf '%7s / %7s  %6s x  | %7s / %7s  %6s x' "$(us "$a50")" "$(us "$b50")" \
        "$(ratio "$a50" "$b50")" "$(us "$a99")" "$(us "$b99")" "$(ratio "$a99" "$b99")"
}
# summary KEY: the name against its baseline.
summary() { versus "$1.name" "$1.base"; }

results=()
# result LABEL FIGURES GOAL
result() { results+=("$(printf '%-44s | %-54s | %s' "$1" "$2" "$3")"); }

# 1, 2: local names, answered from the snapshot.
if wanted local6; then
    row local6 bench-host6 0.bench6.pnrp.net
    result "local name, 1 IPv6 (pnrp µs / hosts µs)" "$(summary local6)" "<= 1.5x"
fi
if wanted local46; then
    row local46 bench-host 0.bench.pnrp.net
    result "local name, IPv6 + IPv4" "$(summary local46)" "<= 1.2x"
fi

# The floor: a minimal blocking server with a ready-made answer (one IPv6 and one IPv4 address,
# whatever the name), the least any daemon behind a Unix socket can cost (rows 3 and 4).
"$multicall" gai floor-server /run/pnrp/floor.sock &
floor=$!
pids+=("$floor")
wait_for 10 test -S /run/pnrp/floor.sock

# 3: a remote name, fresh in this host's pnrpd. Hosts pa and pb on a veth of their own; pnrpd in
# each with its cloud on that link only (no discovery; pa joins through pb).
remote_row() {
    ip netns add pa && ip netns add pb || return 1
    ip netns exec pa ip link add va type veth peer name vb netns pb || return 1
    ip netns exec pa sh -c 'ip link set lo up && ip addr add fd71::1/64 dev va nodad && ip link set va up' || return 1
    ip netns exec pb sh -c 'ip link set lo up && ip addr add fd71::2/64 dev vb nodad && ip link set vb up' || return 1
    local host seed
    for host in b a; do
        seed=()
        [ "$host" = a ] && seed=(--seed "[fd71::2]:3540")
        ip netns exec "p$host" "$bin/pnrpd" --config /dev/null --no-discovery "${seed[@]}" \
            --socket "/run/pnrp/$host.sock" --state-dir "$work/state-$host" --log-level warn \
            >>"$work/pnrpd-$host.log" 2>&1 &
        pids+=("$!")
        wait_for 10 test -S "/run/pnrp/$host.sock" || return 1
    done
    "$bin/pnrpctl" --socket /run/pnrp/b.sock register 0.remote \
        --address fd70:6e72:7000::b3 --address 192.0.2.13 > /dev/null || return 1
    wait_for 60 "$bin/pnrpctl" --socket /run/pnrp/a.sock resolve 0.remote || return 1
    row remote bench-host 0.remote.pnrp.net ip netns exec pa env PNRP_SOCKET=/run/pnrp/a.sock
    # The same lookup answered by the floor server: the part of the row that is this machine's
    # (its Unix socket round trip, two wake-ups), whatever the daemon.
    row remotefloor bench-host 0.remote.pnrp.net ip netns exec pa env PNRP_SOCKET=/run/pnrp/floor.sock
}
if ! wanted remote; then
    :
elif remote_row; then
    result "remote name fresh in pnrpd (2 addresses)" "$(summary remote)" "<= 4x"
    result "(reference) the same, floor server answering" "$(summary remotefloor)" "-"
    result "(profile) remote: pnrpd / floor server" "$(versus remote.name remotefloor.name)" "-"
else
    echo "# remote: NOT MEASURED (network namespaces unavailable?); logs:"
    cat "$work"/pnrpd-*.log 2>/dev/null | sed 's/^/#   /' || true
    result "remote name fresh in pnrpd" "NOT MEASURED (see above)" "<= 4x"
fi

# 4: pnrpd's CPU per socket request: the module's socket path alone, one connection per request,
# against this pnrpd and against the floor (a minimal blocking server with a ready-made answer).
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# cpu_per_request PID SOCKET: "µs-of-CPU-per-request p50-µs p99-µs" of SOCKET's server PID.
cpu_per_request() {
    local before after line
    before=$(cpu_ticks "$1")
    line=$(PNRP_SOCKET=$2 "$multicall" gai socket-bench 0.bench.pnrp.net "$cpu_requests")
    after=$(cpu_ticks "$1")
    echo "# cpu $2: $line" >&2
    awk -v t=$((after - before)) -v hz="$ticks" -v n="$cpu_requests" \
        'BEGIN { printf "%.1f ", t / hz * 1e6 / (n + 200) }'
    echo "$(us "$(field p50_ns "$line")") $(us "$(field p99_ns "$line")")"
}
if wanted cpu; then
    read -r daemon_cpu daemon_p50 daemon_p99 < <(cpu_per_request "$daemon" /run/pnrp/pnrpd.sock)
    read -r floor_cpu floor_p50 floor_p99 < <(cpu_per_request "$floor" /run/pnrp/floor.sock)
    result "pnrpd CPU per socket request (vs floor)" \
        "$daemon_cpu µs vs $floor_cpu µs (round trip p50 $daemon_p50 vs $floor_p50, p99 $daemon_p99 vs $floor_p99)" "<= 20 µs"
fi

# 5: system calls of a lookup outside pnrp.net: with the module consulted first, and without it.
# syscalls_per_lookup NSSWITCH [NAME]: system calls per getaddrinfo of NAME (bench-host).
syscalls_per_lookup() {
    local trace=$work/strace.$1.${2:-bench-host} count=200
    with_nsswitch "$work/$1" strace -f -qq -o "$trace" "$multicall" gai syscalls "${2:-bench-host}" "$count" >/dev/null
    awk -v n="$count" '/pnrp-bench-mark/ { marks++; next } marks == 1 { calls++ }
        END { printf "%.2f", calls / n }' "$trace"
}
if ! wanted syscalls; then
    :
elif command -v strace >/dev/null; then
    with_module=$(syscalls_per_lookup nsswitch-pnrp-first.conf)
    without=$(syscalls_per_lookup nsswitch-files.conf)
    extra=$(awk -v a="$with_module" -v b="$without" 'BEGIN { printf "%.2f", a - b }')
    result "name outside pnrp.net: extra syscalls" "$extra ($with_module with pnrp first vs $without, per lookup)" "0"
    # Where a local name's time goes: its system calls beside those of the hosts name.
    local6_calls=$(syscalls_per_lookup nsswitch.conf 0.bench6.pnrp.net)
    hosts6_calls=$(syscalls_per_lookup nsswitch.conf bench-host6)
    result "(profile) syscalls per lookup, local6 row" "$local6_calls for 0.bench6.pnrp.net vs $hosts6_calls for bench-host6" "-"
else
    result "name outside pnrp.net: extra syscalls" "NOT MEASURED: strace is not installed" "0"
fi

# 5b: instructions per lookup (callgrind), the figure a loaded machine cannot blur.
# instructions_per_lookup NAME: user-space and all, per getaddrinfo+freeaddrinfo of NAME.
instructions_per_lookup() {
    local short=500 long=2500 counts=()
    for n in "$short" "$long"; do
        counts+=("$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$multicall" gai bench "$1" "$n" 2>&1 >/dev/null | sed -n 's/.*Collected : //p')")
    done
    awk -v a="${counts[0]}" -v b="${counts[1]}" -v n=$((long - short)) \
        'BEGIN { if (a == "" || b == "") exit 1; printf "%.0f", (b - a) / n }'
}
if ! wanted instructions; then
    :
elif command -v valgrind >/dev/null; then
    for pair in "0.bench6.pnrp.net bench-host6" "0.bench.pnrp.net bench-host"; do
        read -r pnrp_name hosts_name <<< "$pair"
        pnrp_ir=$(instructions_per_lookup "$pnrp_name") && hosts_ir=$(instructions_per_lookup "$hosts_name") ||
            { result "(profile) instructions, $pnrp_name" "NOT MEASURED: callgrind failed" "-"; continue; }
        result "(profile) instructions per lookup, $pnrp_name" \
            "$pnrp_ir vs $hosts_ir for $hosts_name: $(ratio "$pnrp_ir" "$hosts_ir") x" "-"
    done
else
    result "(profile) instructions per lookup" "NOT MEASURED: valgrind is not installed" "-"
fi

# 6: nss-mdns and avahi-daemon, in a namespace of its own with a dummy interface; the lookups
# reach it over its Unix socket (/run/avahi-daemon/socket, in the private /run).
mdns_row() {
    local missing=()
    command -v avahi-daemon >/dev/null || missing+=(avahi-daemon)
    ldconfig -p | grep -q libnss_mdns_minimal.so.2 || missing+=(libnss-mdns)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "not installed: ${missing[*]} (apt-get install libnss-mdns avahi-daemon)"
        return 1
    fi
    [ -e /etc/avahi/hosts ] || { echo "no /etc/avahi/hosts to publish from"; return 1; }
    cat > "$work/avahi.conf" <<EOF
[server]
use-ipv4=yes
use-ipv6=yes
allow-interfaces=d0
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
EOF
    ip netns add pm || { echo "cannot make a network namespace"; return 1; }
    # A veth pair with both ends inside (this kernel may lack the dummy driver): avahi needs
    # one multicast interface to be up, and it is on a link nothing else is on. An IPv4
    # address too, or avahi publishes no IPv4 record.
    ip netns exec pm sh -c 'ip link set lo up && ip link add d0 type veth peer name d1 &&
        ip link set d1 up && ip addr add fd72::1/64 dev d0 nodad &&
        ip addr add 198.18.0.1/24 dev d0 && ip link set d0 up' ||
        { echo "cannot set up the namespace's interface"; return 1; }
    ip netns exec pm avahi-daemon --no-drop-root --no-chroot --no-rlimits --no-proc-title \
        -f "$work/avahi.conf" >>"$work/avahi.log" 2>&1 &
    pids+=("$!")
    if ! wait_for 20 with_nsswitch "$work/nsswitch-mdns.conf" "$multicall" gai lookup bench-mdns.local; then
        echo "avahi did not answer bench-mdns.local; its log:"
        sed 's/^/    /' "$work/avahi.log"
        return 1
    fi
    row mdns bench-host bench-mdns.local with_nsswitch "$work/nsswitch-mdns.conf"
}
# Not in a subshell: the row's figures must reach this shell.
if ! wanted mdns; then
    :
elif mdns_row > "$work/mdns.out"; then
    cat "$work/mdns.out"
    result "nss-mdns + avahi, a .local name (for scale)" "$(summary mdns)" "-"
else
    sed 's/^/# /' "$work/mdns.out"
    echo "#"
    echo "# !!! nss-mdns + avahi NOT MEASURED: $(head -n1 "$work/mdns.out")"
    echo "#"
    result "nss-mdns + avahi" "NOT MEASURED (see the !!! line above)" "-"
fi

echo
printf '%-44s | %-54s | %s\n' "lookup" "p50 µs / hosts µs  ratio | p99 µs / hosts µs  ratio" "goal"
printf '%s\n' "$(printf -- '-%.0s' $(seq 120))"
printf '%s\n' "${results[@]}"
