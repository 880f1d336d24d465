#!/usr/bin/env bash
# A million hostile datagrams at one pnrpd, while honest nodes keep resolving through it.
#
# Usage: hostile-flood.sh MULTICALL LIBDIR FLOOD [COUNT] [RATE]
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2
#   FLOOD      the pnrp-flood test binary
#   COUNT      datagrams to fire (default 1000000); RATE per second (default 20000, 0: flat out)
# Hosts on a bridge: h1 the target (the cloud's seed; it also publishes a name with a 4 KiB
# payload, whose INQUIREs the attacker forges), h2 an honest publisher, h3 an honest resolver,
# h4 the attacker, firing from 16 addresses. Run it inside private mount and network namespaces
# (the test does): no packet reaches the machine's real interfaces. Prints one line per check,
# `figure:` lines with what was measured, and a final "N passed, M failed"; exits 1 on any
# failure.
set -uo pipefail
multicall=$1
libdir=$2
flood=$3
count=${4:-1000000}
rate=${5:-20000}
prefix=fd71
# Bounds the target must stay within.
max_growth_kib=$((32 * 1024))
max_log_lines=100
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

on_failure() {
    for host in 1 2 3; do
        echo "    --- h$host"
        ctl "$host" clouds 2>&1 | sed 's/^/    /'
        tail -n 5 "$work/pnrpd$host.log" | sed 's/^/    /'
    done
}

make_hosts 4
attackers=()
for n in $(seq 1 16); do
    ip -n h4 addr add "fd71::4:$n/64" dev e4 nodad
    attackers+=(--bind "fd71::4:$n")
done
sleep 1
# No freshness window: every resolve goes to the cloud, through the flooded socket.
echo "freshness_secs = 0" >"$work/pnrpd.toml"
daemon_flags=(--config "$work/pnrpd.toml")
start_daemon 1 || exit 1
target=${pids[1]}
start_daemon 2 --seed "[fd71::1]:3540" || exit 1
start_daemon 3 --seed "[fd71::1]:3540" || exit 1
sleep 3

head -c 3000 /dev/urandom >"$work/payload"
head -c 4096 /dev/urandom >"$work/target-payload"
check "register 0.honest on h2 (a 3000-byte payload)" ctl 2 register 0.honest \
    --address fd71::2 --payload-file "$work/payload"
check "register 0.target on the target (a 4096-byte payload)" ctl 1 register 0.target \
    --address fd71::1 --payload-file "$work/target-payload"
# Through the cloud, the payload whole: the fragmented AUTHORITY reaches honest resolvers.
honest_payload() {
    ctl "$1" resolve 0.honest --payload-out "$work/payload.$1" >/dev/null 2>&1 &&
        cmp -s "$work/payload" "$work/payload.$1"
}
check "h3 resolves 0.honest through the cloud" until_ok 30 honest_payload 3
check "the target resolves 0.honest through the cloud" until_ok 30 honest_payload 1
check "h3 resolves 0.target" until_ok 30 resolves_to 3 0.target fd71::1

target_id=$(ctl 1 clouds | sed -n 's/.*publishes 0.target as \([0-9a-f]\{64\}\).*/\1/p' | head -n 1)
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$target/status"; }
rss_before=$(kib VmRSS)
hwm_before=$(kib VmHWM)
lines_before=$(wc -l <"$work/pnrpd1.log")

ip netns exec h4 "$flood" --target "[fd71::1]:3540" --count "$count" --rate "$rate" \
    "${attackers[@]}" ${target_id:+--id "$target_id"} >"$work/flood.out" 2>&1 &
flooder=$!
pids+=("$flooder")

# While it fires: resolve through the target, again and again.
rounds=0 first_try=0 late=0 lost=0
target_resolves() {
    ctl 3 resolve 0.target >"$work/last" 2>&1
    local status=$?
    grep -q fd71::1 "$work/last" && return 0
    echo "exit $status: $(tr '\n' ' ' <"$work/last")" >>"$work/retries"
    return 1
}
# resolve_round CMD...: one resolve, retried for 10 s if it fails at first.
resolve_round() {
    local started
    started=$(date +%s%N)
    if "$@"; then
        first_try=$((first_try + 1))
        return
    fi
    echo "retried: $* (the first try failed after $((($(date +%s%N) - started) / 1000000)) ms)" >>"$work/retries"
    if until_ok 10 "$@"; then
        late=$((late + 1))
    else
        lost=$((lost + 1))
    fi
}
sleep 2
while kill -0 "$flooder" 2>/dev/null; do
    resolve_round honest_payload 1
    resolve_round honest_payload 3
    # The target's own name: its answers are what the attacker's INQUIREs forge.
    resolve_round target_resolves
    rounds=$((rounds + 1))
    sleep 1
done
wait "$flooder"
flood_status=$?
check "the flood ran" test "$flood_status" -eq 0
cat "$work/flood.out"
check "every resolve during the flood succeeded (within 10 s)" test "$lost" -eq 0
check "resolves were tried during the flood" test "$rounds" -ge 3

check "the target is alive" kill -0 "$target"
check "after the flood, h3 resolves 0.honest at once" honest_payload 3
check "after the flood, the target resolves 0.honest at once" honest_payload 1
check "after the flood, h3 resolves 0.target" target_resolves

rss_after=$(kib VmRSS)
hwm_after=$(kib VmHWM)
lines_after=$(wc -l <"$work/pnrpd1.log")
growth=$((hwm_after - rss_before))
sent=$(sed -n 's/^sent \([0-9]*\) datagrams.*/\1/p' "$work/flood.out")
out_bytes=$(sed -n 's/^sent [0-9]* datagrams (\([0-9]*\) bytes).*/\1/p' "$work/flood.out")
back_bytes=$(sed -n 's/.*received [0-9]* datagrams (\([0-9]*\) bytes) back/\1/p' "$work/flood.out")
echo "figure: datagrams sent ${sent:-?} ($(sed -n 's/.*: \([0-9]*\/s\);.*/\1/p' "$work/flood.out"))"
echo "figure: bytes at the target ${out_bytes:-?}, answered back ${back_bytes:-?}"
echo "figure: target VmRSS ${rss_before} kB before, ${rss_after} kB after; VmHWM ${hwm_before} -> ${hwm_after} kB"
echo "figure: target log lines ${lines_before} before, ${lines_after} after"
echo "figure: resolves during the flood: ${rounds} rounds x 3, ${first_try} at once, ${late} after a retry, ${lost} lost"
overflows=$(ip netns exec h1 sed -n 's/^Udp6RcvbufErrors[[:space:]]*//p' /proc/net/snmp6)
[ -f "$work/retries" ] && sed 's/^/figure: /' "$work/retries"
echo "figure: datagrams the target's kernel dropped (receive buffer full): ${overflows:-?}"
echo "figure: target stats: $(ctl 1 clouds --json 2>/dev/null | tr -d '\n' | head -c 600)"
check "the flood sent at least $count datagrams" test "${sent:-0}" -ge "$count"
check "the target's memory grew by less than $max_growth_kib KiB" test "$growth" -lt "$max_growth_kib"
check "the target's log stays under $max_log_lines lines" test "$lines_after" -lt "$max_log_lines"
check "the attacker got back less than 3x what it sent" \
    test "${back_bytes:-0}" -le "$((3 * ${out_bytes:-0}))"
rate_limited=$(ctl 1 --json clouds | python3 -c 'import json,sys; print(sum(c["rate_limited"] for c in json.load(sys.stdin)))')
echo "figure: datagrams the target dropped over the rate limit: ${rate_limited}"
check "pnrpctl clouds counts what the rate limit dropped" test "${rate_limited:-0}" -gt 0
echo "--- target log (last 10 lines)"
tail -n 10 "$work/pnrpd1.log"
finish
