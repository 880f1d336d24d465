#!/usr/bin/env bash
# getaddrinfo latency of a .pnrp.net name registered on this node, against an /etc/hosts name, both
# resolved through glibc with `hosts: files pnrp [!UNAVAIL=return] dns` (so a .pnrp.net lookup
# first scans /etc/hosts, then asks pnrpd: the cost a user sees). Figures, not a pass/fail test;
# the goal reported against is pnrp p50 <= 1.5 x /etc/hosts p50.
#
# Runs in a private mount namespace (its own nsswitch.conf, /etc/hosts, resolv.conf and /run; the
# host's files are untouched). pnrpd only serves its Unix socket: no network traffic.
#
# Usage: bench/getaddrinfo.sh
#   BENCH_ITERATIONS  timed lookups per name and round (default 20000)
#   BENCH_ROUNDS      rounds, the two names alternating (default 3)
#   BENCH_FAMILY      unspec|inet|inet6 (default unspec)
# Figures are medians over the rounds of each round's p50 / p99 / mean; min is the lowest seen.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
iterations=${BENCH_ITERATIONS:-20000}
rounds=${BENCH_ROUNDS:-3}
family=${BENCH_FAMILY:-unspec}
hosts_name=bench-host
pnrp_peer=0.bench
pnrp_name=$pnrp_peer.pnrp.net

if [ "${1:-}" != "--inside" ]; then
    echo "==> building (cargo build --release)" >&2
    cargo build --release --quiet -p pnrpd -p nss_pnrp --manifest-path "$repo/Cargo.toml"
    # Apart: built together, the test programs' features would reach the daemon's binary.
    cargo build --release --quiet -p pnrp-tests --bin pnrp-multicall \
        --manifest-path "$repo/Cargo.toml"
    echo "# getaddrinfo benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "# cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)"
    echo "# kernel: $(uname -sr)"
    echo "# glibc:  $(ldd --version | head -n1)"
    echo "# rounds: $rounds x $iterations lookups per name (after 200 warm-up), family $family"
    flags=(--mount --propagation private)
    [ "$(id -u)" -eq 0 ] || flags=(--user --map-root-user "${flags[@]}")
    exec unshare "${flags[@]}" -- bash "$0" --inside
fi

# From here on we are in the new mount namespace.
bin="$repo/target/release"
work=$(mktemp -d /tmp/pnrp-bench.XXXXXX)
daemon=
cleanup() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/run/pnrp" "$work/lib" "$work/state"
ln -s "$bin/libnss_pnrp.so" "$work/lib/libnss_pnrp.so.2"
echo "hosts: files pnrp [!UNAVAIL=return] dns" > "$work/nsswitch.conf"
# A stock Debian /etc/hosts plus the benchmark's name: one IPv6 ULA and one IPv4 address.
cat > "$work/hosts" <<EOF
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
fd70:6e72:7000::b1	$hosts_name
192.0.2.11	$hosts_name
EOF
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "$work/resolv.conf"
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf
mount --bind "$work/run" /run
export LD_LIBRARY_PATH="$work/lib"
unset PNRP_SOCKET PNRP_TIMEOUT_MS

"$bin/pnrpd" --config /dev/null --no-cloud --state-dir "$work/state" --log-level warn &
daemon=$!
for _ in $(seq 200); do [ -S /run/pnrp/pnrpd.sock ] && break; sleep 0.05; done
# Same number of addresses as the hosts entry, so glibc sorts the same amount of results.
"$bin/pnrpctl" register "$pnrp_peer" \
    --address fd70:6e72:7000::b2 --address 192.0.2.12 > /dev/null

# field KEY LINE: the value of KEY=… in a `gai bench` line.
field() { tr ' ' '\n' <<< "$2" | sed -n "s/^$1=//p"; }
# median of the numbers on stdin.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

declare -A p50s p99s means mins
for round in $(seq "$rounds"); do
    for name in "$hosts_name" "$pnrp_name"; do
        line=$("$bin/pnrp-multicall" gai bench "$name" "$iterations" "$family") || {
            echo "lookup of $name failed: $line" >&2
            exit 1
        }
        echo "# round $round: $line"
        p50s[$name]+="$(field p50_ns "$line") "
        p99s[$name]+="$(field p99_ns "$line") "
        means[$name]+="$(field mean_ns "$line") "
        mins[$name]+="$(field min_ns "$line") "
    done
done

declare -A p50 p99
us() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1000 }'; }
echo
printf '%-22s %10s %10s %10s %10s\n' name 'p50 µs' 'p99 µs' 'mean µs' 'min µs'
for name in "$hosts_name" "$pnrp_name"; do
    p50[$name]=$(tr ' ' '\n' <<< "${p50s[$name]}" | grep . | median)
    p99[$name]=$(tr ' ' '\n' <<< "${p99s[$name]}" | grep . | median)
    mean=$(tr ' ' '\n' <<< "${means[$name]}" | grep . | median)
    min=$(tr ' ' '\n' <<< "${mins[$name]}" | grep . | sort -n | head -n1)
    printf '%-22s %10s %10s %10s %10s\n' "$name" "$(us "${p50[$name]}")" \
        "$(us "${p99[$name]}")" "$(us "$mean")" "$(us "$min")"
done
echo
awk -v a="${p50[$pnrp_name]}" -v b="${p50[$hosts_name]}" \
    'BEGIN { printf "p50 ratio pnrp/hosts = %.2f (goal <= 1.5)\n", a / b }'
awk -v a="${p99[$pnrp_name]}" -v b="${p99[$hosts_name]}" \
    'BEGIN { printf "p99 ratio pnrp/hosts = %.2f\n", a / b }'
