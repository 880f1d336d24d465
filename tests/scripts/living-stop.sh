#!/usr/bin/env bash
# Departures: six hosts on a bridge, each publishing a name. h3's pnrpd stops cleanly (SIGTERM):
# it revokes its names at their neighbours, who forward the revoke, and waits at most 3 s for
# their acknowledgements (daemon/mod.rs, LEAVE_TIMEOUT), so every other host stops resolving its
# name within a few seconds, with no liveness probe. For contrast h4's pnrpd is killed (kill -9):
# its name lingers until the maintenance round (15 s) finds it silent. Both names stay
# registered, so h3 publishes again when it starts again.
#
# Usage: living-stop.sh MULTICALL LIBDIR
#   MULTICALL  the pnrp-multicall test binary (pnrpd, pnrpctl)
#   LIBDIR     a directory holding libnss_pnrp.so.2
# Run it inside private mount and network namespaces (tests/system/living.rs does): every host
# namespace hangs off that private network. Prints one line per check, `figure:` lines with
# what was measured, and a final "N passed, M failed"; exits 1 on any failure.
set -uo pipefail
multicall=$1
libdir=$2
prefix=fd71
# From the SIGTERM until no other host resolves the name or caches its publisher (issue 9: within
# the freshness window, 10 s; a clean stop takes the revokes' round trips, at most its 3 s wait).
stop_bound_ms=5000
# A lookup that meets no dead entry answers "not found" in milliseconds; one that asks a silent
# publisher waits 2 s (two sends, 1 s apart) before giving up on it.
fast_ms=1000
# A killed publisher leaves the caches of hosts that do not look it up when a liveness check of
# the maintenance round (every 15 s; a check gives up after 2 s) finds it silent.
kill_bound=60
# shellcheck source-path=SCRIPTDIR source=hosts-lib.sh
source "$(dirname "$0")/hosts-lib.sh"

hosts=(1 2 3 4 5 6)

on_failure() {
    for host in "${hosts[@]}"; do
        echo "    --- h$host cache"
        ctl "$host" cache 2>&1 | grep Global_ | sed 's/^/    /'
    done
    show_logs
}

# resolved_by_all NAME ADDRESS EXCEPT…: every host but EXCEPT… resolves NAME at ADDRESS.
resolved_by_all() {
    local name=$1 address=$2 host
    shift 2
    for host in "${hosts[@]}"; do
        [[ " $* " == *" $host "* ]] && continue
        resolves_to "$host" "$name" "$address" || { echo "h$host does not resolve $name"; return 1; }
    done
}
# gone_everywhere NAME EXCEPT…: every host but EXCEPT… answers that NAME is not found, each
# in under fast_ms (not after waiting out a silent publisher: a request gives up after 2 s). The
# lookups run at once; the slowest one's time is kept in $work/slowest.
gone_everywhere() {
    local name=$1 host pid status=0 jobs=() slowest=0 took
    shift
    for host in "${hosts[@]}"; do
        [[ " $* " == *" $host "* ]] && continue
        {
            local begun
            begun=$(now_ms)
            not_found "$host" "$name" || echo "h$host still resolves $name"
            echo $(($(now_ms) - begun)) >"$work/took-$host"
        } >"$work/gone-$host" &
        jobs+=("$!:$host")
    done
    for pid in "${jobs[@]}"; do
        wait "${pid%%:*}"
        host=${pid#*:}
        took=$(cat "$work/took-$host")
        [ "$took" -gt "$slowest" ] && slowest=$took
        if [ -s "$work/gone-$host" ]; then
            cat "$work/gone-$host"
            status=1
        elif [ "$took" -ge "$fast_ms" ]; then
            echo "h$host took $took ms to say $name is not found"
            status=1
        fi
    done
    echo "$slowest" >"$work/slowest"
    return "$status"
}
# gone_within BOUND_MS START_MS NAME EXCEPT…: gone_everywhere holds within BOUND_MS of START_MS
# (the time it took is printed as a figure).
gone_within() {
    local bound=$1 start=$2 name=$3
    shift 3
    until gone_everywhere "$name" "$@"; do
        [ $(($(now_ms) - start)) -gt "$bound" ] && return 1
        sleep 0.2
    done
    echo "figure: $name not found on every other host $(elapsed_since "$start") s after the" \
        "stop, the slowest lookup taking $(cat "$work/slowest") ms" >&3
}
# uncached_within BOUND_MS START_MS ADDRESS EXCEPT…: within BOUND_MS of START_MS no host but
# EXCEPT… caches a node at ADDRESS (the time it took is printed as a figure).
uncached_within() {
    local bound=$1 start=$2 address=$3 host
    shift 3
    for host in "${hosts[@]}"; do
        [[ " $* " == *" $host "* ]] && continue
        until ! ctl "$host" cache 2>&1 | grep -F "[$address]:" >/dev/null; do
            if [ $(($(now_ms) - start)) -gt "$bound" ]; then
                echo "h$host still caches $address"
                return 1
            fi
            sleep 0.2
        done
    done
    echo "figure: no other host caches $address $(elapsed_since "$start") s after the stop" >&3
}

make_hosts 6
sleep 1
start_daemon 1
for host in 2 3 4 5 6; do start_daemon "$host" --seed "[fd71::1]:3540"; done
sleep 3
for host in "${hosts[@]}"; do
    check "register 0.h$host on h$host" ctl "$host" register "0.h$host"
done
check "every host resolves 0.h3" until_ok 30 resolved_by_all 0.h3 fd71::3 3
check "every host resolves 0.h4" until_ok 30 resolved_by_all 0.h4 fd71::4 4
# The resolvers reuse a positive answer for their freshness window (10 s): let it pass, so what
# is measured is the cloud forgetting the name, not the window.
sleep 11

kill -TERM "${pids[3]}"
start=$(now_ms)
# pnrpd removes its socket last, after leaving the clouds.
stopped() { [ ! -e "$work/h3.sock" ]; }
check "SIGTERM: h3's pnrpd stops within its 3 s wait" until_ok 5 stopped
echo "figure: h3's pnrpd stopped $(elapsed_since "$start") s after SIGTERM"
check "h3 revoked its name and every neighbour acknowledged" \
    grep -q "left the clouds: 1 registration revoked in 2 clouds; every neighbour acknowledged" \
    "$work/pnrpd3.log"
check "clean stop: within 5 s every other host says 0.h3 is not found, at once" \
    gone_within "$stop_bound_ms" "$start" 0.h3 3 3>&1
check "clean stop: within 5 s no other host caches h3 (the revokes reached every leaf set)" \
    uncached_within "$stop_bound_ms" "$start" fd71::3 3 3>&1
check "the other names still resolve" resolved_by_all 0.h5 fd71::5 3

kill -9 "${pids[4]}"
wait "${pids[4]}" 2>/dev/null
start=$(now_ms)
# h6 alone looks the name up at once: it waits out the dead publisher's silence, and drops it.
# No assertion on how slow that is: it only shows what the revokes save.
gone_everywhere 0.h4 1 2 3 4 5
echo "figure: kill -9: a lookup of 0.h4 right after the kill took $(cat "$work/slowest") ms"
check "kill -9: the other caches drop h4 within $kill_bound s" \
    uncached_within $((kill_bound * 1000)) "$start" fd71::4 3 4 6 3>&1

start_daemon 3 --seed "[fd71::1]:3540"
check "h3 started again publishes its name again" until_ok 30 resolved_by_all 0.h3 fd71::3 3 4

finish
