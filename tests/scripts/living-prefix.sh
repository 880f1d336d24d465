#!/usr/bin/env bash
# A host that moves: five hosts on a bridge each publish a name; h3 publishes 0.mover at its
# automatic addresses, then its prefix changes (fd71::3/64 removed, fd72::3/64 added on the same
# link, as after a renumbering) and later its address within the new prefix (fd72::3 → fd72::7).
# pnrpd re-reads the machine's addresses every 2 s (daemon/mod.rs, ADDRESS_REFRESH); a new prefix
# revokes the old PNRP ID and announces a new one at once (§3.2.7.2), a new address in the same
# prefix is flooded to the leaf set. Another host must resolve the new address in the Global_
# cloud within 5 s of each change, and never the old one again.
#
# Usage: living-prefix.sh MULTICALL LIBDIR
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2
# Run it inside private mount and network namespaces (tests/system/living.rs does): every host
# namespace hangs off that private network. Prints one line per check, `figure:` lines with
# what was measured, and a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
prefix=fd71
# The bound of the issue (9): from the change until another host resolves the new address.
move_bound_ms=5000
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

on_failure() {
    for host in 1 2 3 4 5; do
        echo "    --- h$host cache"
        ctl "$host" cache 2>&1 | grep Global_ | sed 's/^/    /'
    done
    echo "    --- h3 clouds"
    ctl 3 clouds 2>&1 | sed 's/^/    /'
    show_logs
}

# resolves_only_to HOST NAME NEW OLD: HOST resolves NAME in the Global_ cloud, published from
# address NEW, at NEW and nowhere at OLD (the LinkLocal_ clouds' records list every address too).
resolves_only_to() {
    local answer
    answer=$(ctl "$1" resolve "$2" 2>&1) || { echo "$answer"; return 1; }
    echo "$answer"
    grep -qF -- "from Global_ via [$3]:" <<<"$answer" && ! grep -qw -- "$4" <<<"$answer"
}

# clouds_say HOST CLOUD PATTERN: `pnrpctl clouds` on HOST shows PATTERN (a grep pattern) in
# CLOUD's section.
clouds_say() {
    ctl "$1" clouds 2>&1 | sed -n "/^$2/,/^[^ ]/p" | grep -- "$3" >/dev/null
}

# publishes HOST NAME ADDRESS: HOST's pnrpd publishes NAME at ADDRESS (its address refresh saw
# the change).
publishes() { ctl "$1" list 2>&1 | grep -w -- "$3" >/dev/null; }

# moved_within HOST NAME NEW OLD START_MS: HOST resolves NAME only at NEW within move_bound_ms
# of START_MS (the time it took is printed as a figure). The polling starts once h3 publishes
# the new address: a lookup answered before that (up to one address refresh, 2 s) would rightly
# bring the old address, and the resolver would reuse it for its freshness window (10 s).
moved_within() {
    local host=$1 name=$2 new=$3 old=$4 start=$5
    until_ok 5 publishes 3 "$name" "$new" || return 1
    echo "figure: h3 publishes $new $(elapsed_since "$start") s after the change" >&3
    until resolves_only_to "$host" "$name" "$new" "$old" >/dev/null; do
        if [ $(($(now_ms) - start)) -gt "$move_bound_ms" ]; then
            resolves_only_to "$host" "$name" "$new" "$old"
            return 1
        fi
        sleep 0.2
    done
    echo "figure: h$host resolves $name at $new $(elapsed_since "$start") s after the change" >&3
}

make_hosts 5
# Every ULA is on this link (what a router advertising the new prefix as on-link gives): the
# hosts reach h3 at its new prefix, and h3 reaches them once its fd71::/64 route is gone.
for host in 1 2 3 4 5; do ip -n "h$host" -6 route add fd00::/8 dev "e$host"; done
sleep 1
start_daemon 1
for host in 2 3 4 5; do start_daemon "$host" --seed "[fd71::1]:3540"; done
sleep 3
# Every host publishes a name, as machines do: the caches hold each other's entries.
for host in 1 2 4 5; do check "register 0.h$host on h$host" ctl "$host" register "0.h$host"; done
check "register 0.mover on h3 at its automatic addresses" ctl 3 register 0.mover
check "h1 resolves 0.mover at fd71::3" until_ok 20 resolves_only_to 1 0.mover fd71::3 fd72::3

# A new prefix. The resolvers measured (h4, then h2) have not resolved the name before, so no
# freshness window (10 s) hides the change from them.
ip -n h3 addr add fd72::3/64 dev e3 nodad
ip -n h3 addr del fd71::3/64 dev e3
start=$(now_ms)
check "prefix change: h4 resolves 0.mover at fd72::3 within 5 s, not at fd71::3" \
    moved_within 4 0.mover fd72::3 fd71::3 "$start" 3>&1
check "h3 publishes 0.mover under a new PNRP ID in the new prefix" sh -c \
    "'$multicall' pnrpctl --socket '$work/h3.sock' clouds | grep -A6 '^Global_' | grep -q 'publishes 0.mover as [0-9a-f]\{32\}fd72'"
check "h1, past its freshness window, resolves only the new address" \
    until_ok 15 resolves_only_to 1 0.mover fd72::3 fd71::3
# Its neighbours did not move: h3 keeps talking to them, from its new address.
check "h3 kept its Global_ neighbours through the move" clouds_say 3 Global_ "cached nodes: [1-9]"

# A new address in the same prefix: the PNRP ID stays, the leaf set hears of the address.
ip -n h3 addr add fd72::7/64 dev e3 nodad
ip -n h3 addr del fd72::3/64 dev e3
start=$(now_ms)
check "same-prefix change: h2 resolves 0.mover at fd72::7 within 5 s, not at fd72::3" \
    moved_within 2 0.mover fd72::7 fd72::3 "$start" 3>&1
check "h5 resolves only fd72::7" until_ok 15 resolves_only_to 5 0.mover fd72::7 fd72::3
check "h3 kept its Global_ neighbours through the second move" \
    clouds_say 3 Global_ "cached nodes: [1-9]"

finish
