#!/usr/bin/env bash
# Six hosts on a bridge, one pnrpd each, names travelling through the PNRP cloud.
#
# Usage: cloud-hosts.sh MULTICALL LIBDIR
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2
# Run it inside private mount and network namespaces (the test does: unshare, as root or
# through a user namespace): every host namespace it makes hangs off that private network, so
# no packet reaches the machine's real interfaces. Prints one line per check and a final
# "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
prefix=fd71
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

on_failure() {
    for host in 1 2 3 4 5; do
        echo "    --- h$host cache"
        ctl "$host" cache 2>&1 | sed 's/^/    /'
    done
    show_logs
}

make_hosts 6
sleep 1
start_daemon 1
for host in 2 3 4 5; do start_daemon "$host" --seed "[fd71::1]:3540"; done

# host_says HOST PATTERN CMD...: CMD run on HOST through glibc prints PATTERN.
host_says() {
    local host=$1 pattern=$2
    shift 2
    on_host "$host" "$@" | grep -- "$pattern" >/dev/null
}
fails_fast() {
    local start
    start=$(date +%s)
    not_found "$1" "$2" && [ $(($(date +%s) - start)) -le 5 ]
}

# Give the cloud a moment to form, then publish on h3 (not the seed).
sleep 3
head -c 3000 /dev/urandom >"$work/payload"
check "register 0.myapp on h3" ctl 3 register 0.myapp --address fd71::3 --port 631 \
    --protocol udp --comment "on h3" --payload-file "$work/payload"
check "h5 resolves 0.myapp through the cloud" until_ok 20 resolves_to 5 0.myapp fd71::3
check "the answer names the cloud and publisher" resolves_to 5 0.myapp "Global_ via \[fd71::3\]"
check "port, protocol and comment travel in the signed CPA" sh -c \
    "'$multicall' pnrpctl --socket '$work/h5.sock' resolve 0.myapp | tr '\n' ' ' | grep -q 'port 631/udp   comment: on h3'"
check "a 3000-byte payload arrives whole (fragmented AUTHORITY)" sh -c \
    "'$multicall' pnrpctl --socket '$work/h5.sock' resolve 0.myapp --payload-out '$work/payload.out' \
    >/dev/null && cmp '$work/payload' '$work/payload.out'"
check "update the comment on h3" ctl 3 update 0.myapp --comment "updated on h3"
check "h5 sees the update within the freshness window" until_ok 20 resolves_to 5 0.myapp "comment: updated on h3"
check "getent ahosts on h5" host_says 5 fd71::3 getent ahosts 0.myapp.pnrp.net
check "ping6 on h5" on_host 5 ping -6 -c 1 -W 3 0.myapp.pnrp.net
check "python getaddrinfo on h5" host_says 5 fd71::3 python3 -c \
    "import socket; print(socket.getaddrinfo('0.myapp.pnrp.net', 80)[0][4][0])"
check "an unknown name fails at once, not at a timeout" fails_fast 4 0.nobody
check "pnrpctl clouds shows the publication" sh -c \
    "'$multicall' pnrpctl --socket '$work/h3.sock' clouds | grep -q 'publishes 0.myapp'"
check "pnrpctl cache lists nodes" sh -c "'$multicall' pnrpctl --socket '$work/h5.sock' cache | grep -q 'Global_'"
check "pnrpctl traceroute reaches the publisher" sh -c \
    "'$multicall' pnrpctl --socket '$work/h5.sock' traceroute 0.myapp | grep -q '\[fd71::3\]:3540  publisher'"

check "register 0.shared on h2" ctl 2 register 0.shared --address fd71::2
check "register 0.shared on h4" ctl 4 register 0.shared --address fd71::4
resolves_to_both() { resolves_to 5 0.shared fd71::2 && resolves_to 5 0.shared fd71::4; }
check "h5 resolves 0.shared to both publishers" until_ok 25 resolves_to_both

check "unregister on h3" ctl 3 unregister 0.myapp
check "h5 stops resolving it (freshness window)" until_ok 20 not_found 5 0.myapp

check "register again on h3" ctl 3 register 0.myapp --address fd71::3
check "h5 resolves it again" until_ok 20 resolves_to 5 0.myapp fd71::3
kill -9 "${pids[3]}"
check "kill -9 the publisher: gone within the maintenance period" until_ok 40 not_found 5 0.myapp

start_daemon 3 --seed "[fd71::1]:3540"
check "h3 restarted from its state dir publishes again" until_ok 30 resolves_to 5 0.myapp fd71::3
kill -9 "${pids[2]}" "${pids[4]}"
check "two other nodes killed: still resolves" until_ok 30 resolves_to 5 0.myapp fd71::3

# h5 restarts with no seed: it rejoins through the nodes it remembered.
kill -TERM "${pids[5]}"
wait "${pids[5]}" 2>/dev/null
check "h5 remembered cloud nodes" test -s "$work/state5/cache.json"
start_daemon 5
check "restarted h5 rejoins from its persistent cache" until_ok 30 resolves_to 5 0.myapp fd71::3

# h6 joins with no seed at all: SSDP multicast on the link finds h3, which publishes a name.
start_daemon 6
check "h6 finds the cloud by SSDP and resolves 0.myapp" until_ok 30 resolves_to 6 0.myapp fd71::3
check "h6 has a link-local cloud" sh -c "'$multicall' pnrpctl --socket '$work/h6.sock' clouds | grep -q LinkLocal_e6"

# A name published only at a link-local address travels in the LinkLocal_ clouds, with the
# resolver's own interface as scope, so ping6 reaches it.
h3_link_local=$(ip -n h3 -6 -o addr show dev e3 scope link | sed -n 's/.*inet6 \(fe80[^/]*\).*/\1/p' | head -n 1)
# pnrpctl runs outside h3, where e3 has no name: give the interface by number.
e3_index=$(ip -n h3 -o link show e3 | cut -d: -f1)
check "register 0.nearby on h3 at its link-local address" ctl 3 register 0.nearby --address "$h3_link_local%$e3_index"
e6_index=$(ip -n h6 -o link show e6 | cut -d: -f1)
check "h6 resolves 0.nearby in LinkLocal_e6" until_ok 30 resolves_to 6 0.nearby "$h3_link_local%$e6_index"
check "ping6 0.nearby from h6 over link-local" on_host 6 ping -6 -c 1 -W 3 0.nearby.pnrp.net

finish
