#!/usr/bin/env bash
# A cloud split in two by a pulled cable, and healed: two LANs of three hosts (br0, fd71::/64:
# h1–h3; br1, fd72::/64: h4–h6) joined by a router namespace, one pnrpd and one name (0.hN) per
# host. Every name resolves across the router; the router's leg on br1 is cut until every host
# has dropped every node of the other LAN from its cache, for good (so only split detection,
# §3.2.6.2.1, can bring the halves together again: cloud/split.rs; with its tests turned off the
# heal check fails), and cross-LAN lookups fail while each half still resolves its own names;
# the leg is plugged back and every cross-LAN name must resolve again within HEAL_BOUND seconds.
#
# Usage: living-split.sh MULTICALL LIBDIR [HEAL_BOUND]
#   MULTICALL   the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR      a directory holding libnss_pnrp.so.2
#   HEAL_BOUND  seconds the heal may take (default 90)
# Run it inside private mount and network namespaces (tests/system/living.rs does): every host
# namespace hangs off that private network. Prints one line per check, `figure:` lines with
# what was measured, and a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
# In a cloud this small every node runs a split test every 15 s maintenance round (probability
# 16 / estimated size, capped at 1), so the heal takes a round or two; 90 s leaves room for a
# loaded machine. (The issue's goal, 300 s, is for a 5 000-node cloud.)
heal_bound=${3:-90}
prefix=fd71
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

lan_a=(1 2 3)
lan_b=(4 5 6)

on_failure() {
    for host in "${lan_a[@]}" "${lan_b[@]}"; do
        echo "    --- h$host cache"
        ctl "$host" cache 2>&1 | grep Global_ | sed 's/^/    /'
    done
    show_logs
}

# The LAN prefix of host N, of the other LAN, the hosts of the other LAN.
lan_of() { if [ "$1" -le 3 ]; then echo fd71; else echo fd72; fi; }
other_lan_of() { if [ "$1" -le 3 ]; then echo fd72; else echo fd71; fi; }
others_of() { if [ "$1" -le 3 ]; then echo "${lan_b[@]}"; else echo "${lan_a[@]}"; fi; }

# cross_lookups found|none: every host resolves every name of the other LAN (found), or none of
# them (none). The 18 lookups run at once, so a round costs one lookup's time.
cross_lookups() {
    local want=$1 from to pid status=0 jobs=()
    for from in "${lan_a[@]}" "${lan_b[@]}"; do
        for to in $(others_of "$from"); do
            if [ "$want" = found ]; then
                resolves_to "$from" "0.h$to" "$(lan_of "$to")::$to" ||
                    echo "h$from does not resolve 0.h$to"
            else
                not_found "$from" "0.h$to" || echo "h$from still resolves 0.h$to"
            fi >"$work/lookup-$from-$to" &
            jobs+=("$!:$from-$to")
        done
    done
    for pid in "${jobs[@]}"; do
        wait "${pid%%:*}"
        if [ -s "$work/lookup-${pid#*:}" ]; then
            cat "$work/lookup-${pid#*:}"
            status=1
        fi
    done
    return "$status"
}

# forgot HOST: HOST's Global_ cache holds no node of the other LAN.
forgot() {
    local cache
    cache=$(ctl "$1" cache) || return 1
    if grep "^Global_ .*\[$(other_lan_of "$1")::" <<<"$cache"; then
        return 1
    fi
}
all_forgot() {
    local host
    for host in "${lan_a[@]}" "${lan_b[@]}"; do forgot "$host" || return 1; done
}
# stays_forgotten SECONDS: all_forgot holds every second for SECONDS.
stays_forgotten() {
    local deadline=$(($(date +%s) + $1))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        all_forgot || return 1
        sleep 1
    done
}
# knows_other_lan HOST: HOST's Global_ cache holds a node of the other LAN.
knows_other_lan() { ! forgot "$1"; }

make_hosts 3
add_lan br1 fd72 "${lan_b[@]}"
add_router r br0:fd71 br1:fd72
sleep 1
# h1 seeds LAN A; LAN B joins through it, across the router. After the cut only split tests can
# reach the other LAN again: LAN B's through its seed, LAN A's through the nodes it lost.
start_daemon 1
for host in 2 3 "${lan_b[@]}"; do start_daemon "$host" --seed "[fd71::1]:3540"; done
sleep 3
for host in "${lan_a[@]}" "${lan_b[@]}"; do
    check "register 0.h$host on h$host" ctl "$host" register "0.h$host"
done

start=$(now_ms)
check "every host resolves every name of the other LAN, across the router" \
    until_ok 60 cross_lookups found
echo "figure: cross-LAN names resolved $(elapsed_since "$start") s after registering"
check "h1 caches a node of LAN B" knows_other_lan 1
check "h4 caches a node of LAN A" knows_other_lan 4

cut_link r br1
start=$(now_ms)
check "cut: every host drops the other LAN's nodes from its cache" until_ok 150 all_forgot
echo "figure: the other LAN forgotten $(elapsed_since "$start") s after the cut"
# Requests under way when the last entry left (a lookup's next hop, a check) may still name the
# other LAN and would merge the halves the moment the link is back, without any split test: they
# give up within seconds. Past a maintenance round (15 s) nothing brings the other LAN back.
check "cut: and they stay forgotten for a maintenance round" stays_forgotten 20
check "cut: no cross-LAN name resolves (the split is real)" cross_lookups none
check "cut: LAN A still resolves its own names" resolves_to 1 0.h3 fd71::3
check "cut: LAN B still resolves its own names" resolves_to 6 0.h4 fd72::4

# healed START_MS: every cross-LAN name resolves within heal_bound s of START_MS (the time it
# took is printed as a figure).
healed() {
    until_ok "$heal_bound" cross_lookups found || return 1
    echo "figure: healed $(elapsed_since "$1") s after the link came back" >&3
}
heal_link r br1
start=$(now_ms)
check "heal: every cross-LAN name resolves again within $heal_bound s" healed "$start" 3>&1
check "heal: h1 caches a node of LAN B again" knows_other_lan 1
check "heal: h4 caches a node of LAN A again" knows_other_lan 4

finish
