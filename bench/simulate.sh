#!/usr/bin/env bash
# The simulated-cloud scenario set (docs/PERFORMANCE.md, "Scaling: the simulated cloud"): each
# scenario runs `simulate --json` (tests/examples/simulate.rs documents the options and fields)
# and writes docs/figures/<name>.json; bench/plot.py turns them into pictures and tables.
#
#   bench/simulate.sh                 # every scenario whose JSON is missing (resumable)
#   bench/simulate.sh --force         # every scenario, again
#   bench/simulate.sh static-10000 partition-600   # only these (existing ones skipped)
#   bench/simulate.sh --quick         # each at a reduced size, into docs/figures/quick/
#   bench/simulate.sh --out DIR       # into DIR instead
#   bench/simulate.sh --list          # the scenarios and their options
#
# The `simulate` profile (release, whole-program optimisation) with jemalloc; every core (the
# figures depend on neither). The full set takes hours (the 100 000-node run alone about ten
# minutes and 2 GiB); --quick minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

force=0 quick=0 list=0 out=
only=()
while [ $# -gt 0 ]; do
    arg=$1
    shift
    case "$arg" in
        --out) out=${1:?--out needs a directory}; shift ;;
        --force) force=1 ;;
        --quick) quick=1 ;;
        --list) list=1 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        -*) echo "simulate.sh: unknown option $arg" >&2; exit 2 ;;
        *) only+=("$arg") ;;
    esac
done

# name | options | options of the reduced (--quick) run
scenarios=(
    # Hops against N (static, internet latency).
    "static-1000|--nodes 1000 --rtt internet --exact|--nodes 1000 --rtt internet --exact"
    "static-10000|--nodes 10000 --rtt internet --exact|--nodes 3000 --rtt internet --exact"
    "static-100000|--nodes 100000 --rtt internet --join-rate 1000|--nodes 10000 --rtt internet --join-rate 1000"
    # The long churn run: sessions of median 1 h, 2 h simulated, 1 % loss.
    "churn-1h-loss|--nodes 5000 --rtt internet --session-median 3600 --duration 7200 --loss 0.01 --lookups 3600|--nodes 1000 --rtt internet --session-median 3600 --duration 900 --loss 0.01 --lookups 900"
    # Success and latency against the median session: 5 min, 15 min, 1 h (30 min simulated).
    "churn-300|--nodes 5000 --rtt internet --session-median 300 --duration 1800 --lookups 1800|--nodes 1000 --rtt internet --session-median 300 --duration 600 --lookups 600"
    "churn-900|--nodes 5000 --rtt internet --session-median 900 --duration 1800 --lookups 1800|--nodes 1000 --rtt internet --session-median 900 --duration 600 --lookups 600"
    "churn-3600|--nodes 5000 --rtt internet --session-median 3600 --duration 1800 --lookups 1800|--nodes 1000 --rtt internet --session-median 3600 --duration 600 --lookups 600"
    # 30 % of the nodes behind stateful firewalls.
    "unreachable-30|--nodes 5000 --rtt internet --unreachable 0.3 --duration 600 --lookups 1200|--nodes 1000 --rtt internet --unreachable 0.3 --duration 300 --lookups 600"
    # The cloud cut in two for 10 minutes, then healed (20 lookups per second).
    "partition-600|--nodes 5000 --rtt internet --partition 600|--nodes 1000 --rtt internet --partition 120"
)

if [ -z "$out" ]; then
    out=docs/figures
    [ "$quick" = 1 ] && out=docs/figures/quick
fi
logs=${CARGO_TARGET_DIR:-target}/simulate-logs
mkdir -p "$out" "$logs"

if [ "$list" = 1 ]; then
    for entry in "${scenarios[@]}"; do
        IFS='|' read -r name full reduced <<<"$entry"
        [ "$quick" = 1 ] && full=$reduced
        printf '%-16s %s\n' "$name" "$full"
    done
    exit 0
fi

echo "simulate.sh: building (profile simulate: release with whole-program optimisation; jemalloc)"
cargo build --profile simulate --features jemalloc --quiet -p pnrp-tests --example simulate
simulate=${CARGO_TARGET_DIR:-target}/simulate/examples/simulate

for entry in "${scenarios[@]}"; do
    IFS='|' read -r name full reduced <<<"$entry"
    if [ "${#only[@]}" -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then
        continue
    fi
    options=$full
    [ "$quick" = 1 ] && options=$reduced
    json="$out/$name.json"
    if [ -e "$json" ] && [ "$force" = 0 ]; then
        echo "simulate.sh: $json exists, skipped (--force to run it again)"
        continue
    fi
    echo "simulate.sh: $name: simulate $options --json > $json   (progress: $logs/$name.log)"
    started=$(date +%s)
    # shellcheck disable=SC2086 # the options are words
    if "$simulate" $options --json --verbose >"$json.partial" 2>"$logs/$name.log"; then
        mv "$json.partial" "$json"
        echo "simulate.sh: $name done in $(( $(date +%s) - started )) s"
    else
        echo "simulate.sh: $name failed, see $logs/$name.log" >&2
        rm -f "$json.partial"
        exit 1
    fi
done
echo "simulate.sh: python3 bench/plot.py $out  # pictures and tables"
