#!/usr/bin/env bash
# A secured name under attack, for real: four pnrpd hosts and a hostile node on a bridge.
#
# Usage: attack-hosts.sh MULTICALL LIBDIR
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl, attacker)
#   LIBDIR     a directory holding libnss_pnrp.so.2
# Run it inside private mount and network namespaces (tests/system/attack.rs does). h2 publishes
# <authority>.bank with its identity; h5 runs the attacker: it registers the same name with its
# own key, pushes route entries for it at itself, answers INQUIREs with impostor, replayed and
# forged CPAs and floods forged revokes. h3 and h4 resolve again and again (no freshness window:
# every answer comes from the cloud) and must get h2's addresses every time. Prints one line per
# check and a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
prefix=fd73
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

# No freshness window: every resolve goes to the cloud, where the attacker is.
echo "freshness_secs = 0" >"$work/pnrpd.toml"
daemon_flags=(--config "$work/pnrpd.toml" --no-discovery)
make_hosts 5
# A second address on h2, as SLAAC's temporary addresses give most hosts: replies must still
# leave from the address each question reached.
ip -n h2 addr add fd73::22/64 dev e2 nodad
sleep 1

# resolves_only HOST NAME ADDRESS: the cloud's answer lists ADDRESS and no other address.
resolves_only() {
    local out
    out=$(ctl "$1" --json resolve "$2") || { echo "h$1: $2 did not resolve"; return 1; }
    python3 - "$3" "$out" <<'EOF'
import json, sys
want, records = sys.argv[1], json.loads(sys.argv[2])["records"]
got = sorted({a for r in records for a in r["addresses"]})
if got != [want]:
    sys.exit(f"addresses {got}, expected only {want}: {records}")
EOF
}
# hammer SECONDS ADDRESS: h3 and h4 resolve the name in turn; every answer is ADDRESS alone.
hammer() {
    local deadline=$(($(date +%s) + $1)) rounds=0
    while [ "$(date +%s)" -lt "$deadline" ]; do
        for host in 3 4; do
            resolves_only "$host" "$name" "$2" || { echo "round $rounds"; return 1; }
        done
        rounds=$((rounds + 1))
    done
    echo "$rounds rounds, every answer $2"
    [ "$rounds" -ge 5 ]
}

# glibc_sees HOST HOSTNAME GOOD BAD: getent on HOST lists GOOD and never BAD.
glibc_sees() {
    local out
    out=$(on_host "$1" getent ahosts "$2") || return 1
    echo "$out"
    grep -q -- "$3" <<<"$out" && ! grep -q -- "$4" <<<"$out"
}

start_daemon 1
for host in 2 3 4; do start_daemon "$host" --seed "[fd73::1]:3540"; done
# Each daemon publishes a name of its own: that is what places it in the others' caches.
for host in 1 2 3 4; do ctl "$host" register "0.h$host" --address "fd73::$host" >/dev/null; done
sleep 3

authority=$(ctl 2 --json identity create | python3 -c 'import json,sys; print(json.load(sys.stdin)["authority"])')
name="$authority.bank"
head -c 2500 /dev/urandom >"$work/payload"
check "h2 publishes $name with its identity" ctl 2 register "$name" --address fd73::2 --port 443 \
    --payload-file "$work/payload"
check "h3 resolves it before the attack" until_ok 30 resolves_only 3 "$name" fd73::2
check "h4 resolves it before the attack" until_ok 30 resolves_only 4 "$name" fd73::2
check "its payload arrives, signed with the identity" sh -c \
    "'$multicall' pnrpctl --socket '$work/h4.sock' resolve '$name' --payload-out '$work/payload.out' \
    >/dev/null && cmp '$work/payload' '$work/payload.out'"

ip netns exec h5 "$multicall" attacker --bind "[fd73::5]:3540" --seed "[fd73::1]:3540" \
    --name "$name" --target "[fd73::1]:3540" --target "[fd73::2]:3540" \
    --target "[fd73::3]:3540" --target "[fd73::4]:3540" --seconds 45 \
    >"$work/attacker.out" 2>"$work/attacker.err" &
attacker=$!
pids+=("$attacker")
# Let it capture the genuine CPA and spread its entries first.
sleep 10
check "under attack, h3 and h4 get only h2's address, every time" hammer 10 fd73::2
check "h2 moves the name to its other address, fd73::22" ctl 2 update "$name" --address fd73::22
check "h3 follows the update despite replays of the old CPA" until_ok 20 resolves_only 3 "$name" fd73::22
check "after the update, every answer is the new address" hammer 10 fd73::22
check "glibc on h4 agrees" glibc_sees 4 "$name.pnrp.net" fd73::22 fd73::5

wait "$attacker"
echo "attacker: $(tr '\n' ' ' <"$work/attacker.out")"
stat_of() { sed -n "s/^$1=//p" "$work/attacker.out"; }
check "the attacker captured the genuine CPA" test "$(stat_of captured)" = true
for kind in impostor_cpas replayed_cpas forged_cpas poisoned_floods forged_revokes; do
    check "the attacker sent $kind" test "$(stat_of "$kind")" -gt 0
done
rejected=0
for host in 1 2 3 4; do
    count=$(ctl "$host" --json clouds | python3 -c 'import json,sys; print(sum(c["bad_cpas"] for c in json.load(sys.stdin)))')
    rejected=$((rejected + count))
done
echo "CPAs rejected by the honest hosts: $rejected"
check "the honest hosts rejected the attacker's CPAs" test "$rejected" -gt 0
check "every honest daemon is still running" sh -c "kill -0 ${pids[1]} ${pids[2]} ${pids[3]} ${pids[4]}"

finish
