#!/usr/bin/env bash
# The DNS front end against dnsmasq answering the same names from its own configuration, side by
# side in one run, as ratios (issue 10's goals). Figures, not a pass/fail test.
#
#   qps  dnsperf's queries per second over BENCH_SECONDS, 100 queries outstanding (pnrpd's goal:
#        at least dnsmasq's)
#   p50  the latency of one query with nothing else outstanding (bench/dns-latency.c, built with
#        gcc: a query, its answer, the next; alternating between the two servers so both see the
#        same load), median and p99 (goal: p50 within 1.5x dnsmasq's)
#
# The names: BENCH_NAMES names registered on a pnrpd (--no-cloud: its Unix socket and the DNS
# front end on loopback only) and given to dnsmasq as host-records, each with one IPv6 and one
# IPv4 address; the queries ask their AAAA records in turn. Both servers are pinned to CPU 0,
# dnsperf to CPU 1 (the machine's two cores); the rounds alternate between them.
#
# Usage: bench/dns.sh            (root not needed; needs dnsperf and dnsmasq: apt-get install
#                                 dnsperf dnsmasq-base)
#   BENCH_SECONDS  seconds of each throughput run (default 10)
#   BENCH_QUERIES  queries of each latency run (default 20000)
#   BENCH_ROUNDS   rounds (default 3); figures are medians over the rounds
#   BENCH_NAMES    names (default 20)
#   PNRPD          the pnrpd binary (default target/release/pnrpd, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${BENCH_SECONDS:-10}
queries=${BENCH_QUERIES:-20000}
rounds=${BENCH_ROUNDS:-3}
count=${BENCH_NAMES:-20}
for tool in dnsperf dnsmasq taskset gcc dig; do
    command -v "$tool" >/dev/null || { echo "bench/dns.sh: $tool missing (apt-get install dnsperf dnsmasq-base util-linux gcc bind9-dnsutils)" >&2; exit 1; }
done
pnrpd=${PNRPD:-target/release/pnrpd}
pnrpctl=$(dirname "$pnrpd")/pnrpctl
if [[ ! -x $pnrpd || ! -x $pnrpctl ]]; then cargo build --release -q -p pnrpd; fi

work=$(mktemp -d /tmp/pnrp-dns-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
gcc -O2 -o "$work/dns-latency" bench/dns-latency.c

taskset -c 0 "$pnrpd" --config /dev/null --no-cloud --log-level warn --socket "$work/pnrpd.sock" \
    --state-dir "$work/state" --dns 127.0.0.1:0 2>"$work/pnrpd.log" &
pids+=($!)
for _ in $(seq 400); do [[ -S $work/pnrpd.sock ]] && break; sleep 0.05; done
[[ -S $work/pnrpd.sock ]] || { echo "bench/dns.sh: pnrpd did not start:" >&2; cat "$work/pnrpd.log" >&2; exit 1; }
# The port the kernel gave pnrpd.
pnrp_port=$("$pnrpctl" --socket "$work/pnrpd.sock" status --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["dns"][0]["address"].rsplit(":", 1)[1])')
records=()
: >"$work/queries"
for index in $(seq 1 "$count"); do
    name=0.bench$index
    v6=fd00::$(printf %x "$index") v4=192.0.2.$index
    "$pnrpctl" --socket "$work/pnrpd.sock" register "$name" --address "$v6" --address "$v4" >/dev/null
    records+=("--host-record=$name.pnrp.net,$v6,$v4")
    echo "$name.pnrp.net AAAA" >>"$work/queries"
done
# dnsmasq on a port below the ephemeral range (where client sockets come and go), retried on
# another if that one is taken.
for attempt in $(seq 20); do
    dnsmasq_port=$((20000 + RANDOM % 10000))
    taskset -c 0 dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
        --listen-address=127.0.0.1 --port="$dnsmasq_port" --pid-file="$work/dnsmasq.pid" \
        --log-facility="$work/dnsmasq.log" "${records[@]}" 2>"$work/dnsmasq.err" &
    dnsmasq_pid=$!
    sleep 0.5
    if kill -0 "$dnsmasq_pid" 2>/dev/null; then
        pids+=("$dnsmasq_pid")
        break
    fi
    [[ $attempt == 20 ]] && { cat "$work/dnsmasq.err" >&2; exit 1; }
done
for port in "$pnrp_port" "$dnsmasq_port"; do
    dig @127.0.0.1 -p "$port" +short 0.bench1.pnrp.net AAAA | grep -qx fd00::1 ||
        { echo "bench/dns.sh: the server on port $port does not answer 0.bench1.pnrp.net" >&2; exit 1; }
done

# qps PORT: dnsperf's queries per second.
qps() {
    taskset -c 1 dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$seconds" -q 100 -c 4 2>&1 |
        awk '/Queries per second/ { print $4 } /Queries lost/ { lost = $3 } END { if (lost + 0 > 0) print "lost " lost > "/dev/stderr" }'
}
# latency: "p50 p99" of pnrpd then of dnsmasq, in microseconds, one query at a time.
latency() {
    taskset -c 1 "$work/dns-latency" "$pnrp_port" "$dnsmasq_port" "$work/queries" "$queries"
}
median() { sort -g | awk '{ value[NR] = $1 } END { print value[int((NR + 1) / 2)] }'; }

for round in $(seq 1 "$rounds"); do
    for server in pnrpd dnsmasq; do
        port=$pnrp_port
        [[ $server == dnsmasq ]] && port=$dnsmasq_port
        qps "$port" >>"$work/$server.qps"
    done
    read -r p50 p99 d50 d99 < <(latency)
    echo "$p50" >>"$work/pnrpd.p50"
    echo "$p99" >>"$work/pnrpd.p99"
    echo "$d50" >>"$work/dnsmasq.p50"
    echo "$d99" >>"$work/dnsmasq.p99"
    echo "round $round: pnrpd $(tail -n 1 "$work/pnrpd.qps") qps, p50 $p50 us, p99 $p99 us;" \
        "dnsmasq $(tail -n 1 "$work/dnsmasq.qps") qps, p50 $d50 us, p99 $d99 us" >&2
done

pq=$(median <"$work/pnrpd.qps") dq=$(median <"$work/dnsmasq.qps")
p50=$(median <"$work/pnrpd.p50") d50=$(median <"$work/dnsmasq.p50")
p99=$(median <"$work/pnrpd.p99") d99=$(median <"$work/dnsmasq.p99")
python3 - "$pq" "$dq" "$p50" "$d50" "$p99" "$d99" "$seconds" "$queries" "$rounds" "$count" <<'EOF'
import json, sys
pq, dq, p50, d50, p99, d99 = map(float, sys.argv[1:7])
seconds, queries, rounds, names = map(int, sys.argv[7:11])
print(json.dumps({
    "setup": {"seconds": seconds, "latency_queries": queries, "rounds": rounds, "names": names,
              "servers_cpu": 0, "dnsperf_cpu": 1},
    "pnrpd": {"qps": round(pq), "p50_us": p50, "p99_us": p99},
    "dnsmasq": {"qps": round(dq), "p50_us": d50, "p99_us": d99},
    "ratios": {"qps_pnrpd_over_dnsmasq": round(pq / dq, 2),
               "p50_pnrpd_over_dnsmasq": round(p50 / d50, 2),
               "p99_pnrpd_over_dnsmasq": round(p99 / d99, 2)},
    "goals": {"qps_at_least_dnsmasq": pq >= dq, "p50_within_1_5x": p50 <= 1.5 * d50},
}, indent=2))
EOF
