#!/usr/bin/env bash
# A host behind a stateful firewall: five hosts on a bridge, each publishing a name; h5's
# namespace lets in only loopback, neighbour discovery and what answers its own traffic
# (ip6tables conntrack ESTABLISHED,RELATED), as a home router or a default host firewall does.
# h5 still resolves every name. Nobody reaches it unsolicited, so about 90 s after its
# announcement (cloud/reachability.rs, VERDICT_AFTER, reviewed each 15 s maintenance round) it
# says it is firewalled, and it is never handed out as a route entry: other nodes check an entry
# from their side port (a flow the firewall never saw, so it drops the check) and h5 stops
# offering itself, so no other host's cache lists it. The other hosts, reached unsolicited, say
# they are reachable. `pnrpctl doctor` says all is well on an open host and names the firewall
# on h5.
#
# Usage: living-firewall.sh MULTICALL LIBDIR
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2
# Run it inside private mount and network namespaces (tests/system/living.rs does): every host
# namespace hangs off that private network. Prints one line per check, `figure:` lines with
# what was measured, and a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
prefix=fd71
# VERDICT_AFTER (90 s) after the first announcement, plus a maintenance round (15 s) to review
# it, plus room for a loaded machine.
verdict_bound=130
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

hosts=(1 2 3 4 5)

on_failure() {
    for host in "${hosts[@]}"; do
        echo "    --- h$host cache"
        ctl "$host" cache 2>&1 | sed 's/^/    /'
    done
    echo "    --- h5 clouds"
    ctl 5 clouds 2>&1 | sed 's/^/    /'
    echo "    --- h5 firewall"
    ip netns exec h5 ip6tables -L INPUT -v -n 2>&1 | sed 's/^/    /'
    show_logs
}

command -v ip6tables >/dev/null || {
    echo "FAILED: ip6tables is missing (apt-get install iptables)"
    exit 1
}

make_hosts 5
# h5's addresses: its ULA and its link-local one (both clouds must leave it out).
h5_link_local=$(ip -n h5 -6 -o addr show dev e5 scope link | sed -n 's/.*inet6 \(fe80[^/]*\).*/\1/p')
firewall() {
    ip netns exec h5 ip6tables -A INPUT -i lo -j ACCEPT &&
        ip netns exec h5 ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT &&
        for type in neighbour-solicitation neighbour-advertisement router-advertisement; do
            ip netns exec h5 ip6tables -A INPUT -p ipv6-icmp --icmpv6-type "$type" -j ACCEPT ||
                return 1
        done &&
        ip netns exec h5 ip6tables -A INPUT -j DROP
}
check "h5 is behind a stateful firewall (ip6tables in its namespace)" firewall
sleep 1
start_daemon 1
for host in 2 3 4 5; do start_daemon "$host" --seed "[fd71::1]:3540"; done
sleep 3
for host in "${hosts[@]}"; do
    check "register 0.h$host on h$host" ctl "$host" register "0.h$host"
done
registered=$(now_ms)

# not_cached_anywhere: no other host's cache lists h5, in any cloud.
not_cached_anywhere() {
    local host cache status=0
    for host in 1 2 3 4; do
        cache=$(ctl "$host" cache) || return 1
        if grep -F -e "[fd71::5]:" -e "[$h5_link_local%" <<<"$cache"; then
            echo "h$host caches h5"
            status=1
        fi
    done
    return "$status"
}
# clouds_say HOST CLOUD PATTERN: `pnrpctl clouds` on HOST shows PATTERN in CLOUD's section.
clouds_say() {
    ctl "$1" clouds 2>&1 | sed -n "/^$2/,/^[^ ]/p" | grep -F -- "$3" >/dev/null
}

check "h5 resolves names through the firewall" until_ok 30 resolves_to 5 0.h2 fd71::2
check "h5 resolves another name" resolves_to 5 0.h4 fd71::4
check "the others resolve each other's names" until_ok 30 resolves_to 1 0.h3 fd71::3
check "no other host caches h5 (their checks from the side port are dropped)" not_cached_anywhere
check "while h4, open, is cached (the control)" sh -c \
    "'$multicall' pnrpctl --socket '$work/h1.sock' cache | grep -qF '[fd71::4]:'"
check "h2, reached unsolicited, says it is reachable" \
    until_ok 60 clouds_say 2 Global_ "reachable from outside: yes"

check "h5's status says it is behind a firewall, within $verdict_bound s of its announcement" \
    until_ok "$verdict_bound" sh -c \
    "'$multicall' pnrpctl --socket '$work/h5.sock' status | grep -q 'Global_: behind a firewall'"
echo "figure: h5 says it is firewalled $(elapsed_since "$registered") s after registering"
check "h5's clouds say: reachable from outside: no" \
    clouds_say 5 Global_ "reachable from outside: no (behind a firewall"
# The run loop looks at the verdicts each address refresh (2 s).
check "h5's log says so" until_ok 5 grep -q "WARN.*cloud=Global_.*behind a firewall\|behind a firewall.*cloud=Global_" "$work/pnrpd5.log"
check "h2 still says it is reachable" clouds_say 2 Global_ "reachable from outside: yes"

# After the verdict h5 offers itself nowhere; whatever others held (nothing, by the checks from
# the side port) has had time to leave by now.
check "after the verdict no other host caches h5" until_ok 30 not_cached_anywhere
check "h5 still resolves names" resolves_to 5 0.h3 fd71::3
check "register 0.late on h3" ctl 3 register 0.late
check "h5 resolves a name published after its verdict" until_ok 20 resolves_to 5 0.late fd71::3
check "h1 resolves it too, through the others" until_ok 20 resolves_to 1 0.late fd71::3
# A maintenance round later (liveness checks, re-announcements, balancing lookups), still none.
sleep 15
check "a maintenance round later, still no other host caches h5" not_cached_anywhere

# pnrpctl doctor, with each host's nsswitch.conf and module (on_host): all is well on h2; on h5
# it names the firewall and the port to open, and fails.
check "pnrpctl doctor on h2: all is well (exit 0)" on_host 2 "$multicall" pnrpctl doctor
doctor_names_the_firewall() {
    local out status
    out=$(on_host 5 "$multicall" pnrpctl doctor 2>&1)
    status=$?
    echo "$out"
    [ "$status" -eq 1 ] && grep -q "PROBLEM  reachability: Global_: .*open UDP 3540" <<<"$out"
}
check "pnrpctl doctor on h5 names the firewall (exit 1)" doctor_names_the_firewall

finish
