//! Simulates a PNRP cloud and prints its figures (`tests/src/scenario/`, `tests/src/sim.rs`).
//!
//! ```text
//! cargo run --release -p pnrp-tests --example simulate -- [options] [--json]
//! cargo run --profile simulate --features jemalloc -p pnrp-tests --example simulate -- …
//! ```
//!
//! The second is what bench/simulate.sh builds: the same figures, a third less wall time (the
//! `simulate` profile optimises the whole program at once; jemalloc allocates faster).
//!
//! Options (times in simulated seconds):
//!
//! | option | default | what |
//! |---|---|---|
//! | `--nodes N` | 10000 | nodes; under continuous churn, the population kept |
//! | `--lookups L` | 1000 | resolves (all at once, or spread over the steady phase) |
//! | `--churn F` | 0 | share of nodes killed after the warm-up, without unregistering |
//! | `--loss F` | 0 | datagram loss |
//! | `--seed S` | 1 | seeds every random choice: same options and seed, same figures |
//! | `--rtt lan\|internet` | lan | `lan`: 5–40 ms one way, uniform per datagram; `internet`: median RTT ≈ 100 ms, heavy tail (p99 ≈ 400 ms, p99.9 < 1.5 s), stable per pair of hosts |
//! | `--join-rate R` | 200 | nodes joining per second while the cloud forms |
//! | `--warmup SECS` | 60 | maintenance after the last join |
//! | `--quiet SECS` | 60 | the quiet window that measures maintenance traffic (a multiple of 60 s, the maintenance period) |
//! | `--session-median SECS` | – | continuous churn: sessions Weibull (shape 0.5) of this median, Poisson arrivals keeping the population at N; implies a steady phase |
//! | `--graceful F` | 0.5 | share of departures that leave cleanly (`Cloud::leave`, down once settled or after 3 s); the rest vanish |
//! | `--duration SECS` | 600 | length of the steady phase (with `--partition`: 60 + cut + 600) |
//! | `--lookup-rate R` | L / duration (with `--partition`, at least 20) | resolves per second in the steady phase (then `--lookups` is ignored) |
//! | `--unreachable F` | 0 | share of nodes behind stateful firewalls (a pinhole per 5-tuple, 30 s after the last send) |
//! | `--partition SECS` | – | 60 s into the steady phase, the cloud is cut in two halves (by node) for SECS, then healed |
//! | `--threads T` | all cores | threads handling hosts (the figures do not depend on it) |
//! | `--json` | | print one JSON object instead of a summary line |
//! | `--verbose` | | progress of each phase on standard error |
//! | `--census` | | count the datagrams delivered by kind of message in each phase (`census` in the JSON: per join, per node and minute, per lookup) |
//! | `--exact` | | lookups all at once only: run the same scenario a second time without lookups and report `messages_per_lookup_exact` (twice the time) |
//!
//! The run: N nodes join (each through three earlier reachable nodes, each publishing
//! `0.node-<i>`), the warm-up, `--churn`, a quiet window, then the lookups. Without a steady
//! phase, the L lookups start at once (random live names from random live nodes) and get 20 s.
//! With one (`--duration`, `--session-median` or `--partition`), lookups start at a steady rate
//! throughout it while nodes arrive and leave, then 20 s pass for the last answers. A steady
//! lookup asks for the name of a live node registered at least 10 s before that stays at least
//! 10 s more, from a live node that stays at least 20 s more.
//!
//! JSON fields (besides the options):
//! - `asked`, `resolved`, `success`: lookups of reachable publishers' names, those answered
//!   within 20 s with the publisher's address, and the ratio. `unanswered` (no answer in 20 s),
//!   `not_found` (answered empty), `wrong` (answered without the publisher's address).
//! - `hops_p50`, `hops_p99`, `hops_max`: LOOKUPs before the INQUIRE to the publisher, of the
//!   successful lookups. `latency_ms_p50`, `latency_ms_p99`: from the resolve to its answer.
//! - `messages_per_lookup`: datagrams during the 20 s of lookups less those of the first 20 s of
//!   the quiet window (one maintenance period of 60 s before: the same rounds fall in both),
//!   per lookup (lookups all at once only; `null` otherwise, and when the lookups sent fewer
//!   datagrams than the background did). An estimate: the background is not
//!   quite periodic, and at 10^4 nodes it is 30 times the lookups' traffic (at 10^5, 300 times,
//!   and the estimate means nothing). `messages_per_lookup_exact` (with `--exact`): the
//!   datagrams of the whole run less those of the same run without lookups (same seed, so the
//!   same cloud up to the lookups), per lookup: every datagram the lookups caused, including the
//!   maintenance they changed.
//! - `maintenance_bytes_per_node_s`, `maintenance_messages_per_node_s`: what each node sends per
//!   second of the quiet window (no lookups, no churn). `steady_bytes_per_node_s`: the same over
//!   the steady phase, lookups and churn included.
//! - `heal_s` (with `--partition`): how long after the heal the cloud is whole again. Lookups
//!   are grouped by start time into 10 s windows from the heal; `heal_s` is the start, in
//!   seconds after the heal, of the earliest window W such that, from W to the end of every
//!   later window, the cross-half lookups (asker and publisher in different halves) started
//!   since W succeeded at least 99 % of the time; `null` if no window qualifies. (An isolated
//!   failure long after the heal is absorbed by the successes before it; failures soon after a
//!   window push the heal past it.) A partition run looks names up at 20 per second unless told
//!   otherwise (`--lookup-rate`), about 100 cross-half lookups per window. `windows`: every 10 s
//!   window of the steady phase, `start_s` relative to the heal (or to the start of the steady
//!   phase without a partition): `asked`, `resolved`, `cross_asked`, `cross_resolved`.
//! - With `--unreachable`: `reachable_success` (reachable askers) and `unreachable_success`
//!   (firewalled askers), both for reachable publishers' names; `unreachable_askers`;
//!   `unreachable_targets_asked` and `_resolved` (firewalled publishers' names, not expected to
//!   resolve, not in `asked`). `reachability`: what `Cloud::reachability()` says at the end, for
//!   open and firewalled nodes.
//! - `arrivals`, `departures_graceful`, `departures_abrupt`, `population_min`/`_max` (steady
//!   phase), `live_at_end`, `estimated_size_p50` (`Cloud::estimated_size` over live nodes),
//!   `cache_entries_mean`, `counters` (summed over live nodes), `datagrams_sent`/`_dropped`/
//!   `_blocked` (by firewalls), `events` (deliveries and timers simulated), `simulated_s`.
//! - `wall_s`, `peak_rss_kib` (`VmHWM`): the only fields that differ from one run to the next.
//!
//! The scenario set (bench/simulate.sh runs them into docs/figures/):
//! - `--nodes 100000 --rtt internet` (hops, time and memory at scale)
//! - `--nodes 10000 --rtt internet` (messages per lookup, maintenance bytes)
//! - `--nodes 5000 --rtt internet --session-median 3600 --duration 7200 --loss 0.01`
//! - `--nodes 5000 --rtt internet --session-median 300 --duration 1800`
//! - `--nodes 5000 --rtt internet --unreachable 0.3 --duration 600`
//! - `--nodes 5000 --rtt internet --partition 600`

use std::time::Duration;

use pnrp_tests::scenario::{peak_rss_kib, run, Json, Rtt, Scenario};

// With `--features jemalloc` (bench/simulate.sh): faster than glibc's malloc for this load of
// small allocations made on one thread and freed on another.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at start: one arena for all threads. The hosts' memory is
/// allocated on one helper thread and freed on another; arenas per thread each kept their own
/// partly used pages (2 % more peak memory at 10^4 nodes, and 10^5 runs near the 2 GiB goal).
#[cfg(feature = "jemalloc")]
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: &[u8; 10] = b"narenas:1\0";

fn main() {
    let mut scenario = Scenario {
        nodes: 10_000,
        lookups: 1000,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        ..Scenario::default()
    };
    let mut json = false;
    let mut exact = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--json" => {
                json = true;
                continue;
            }
            "--verbose" => {
                scenario.verbose = true;
                continue;
            }
            "--census" => {
                scenario.census = true;
                continue;
            }
            "--exact" => {
                exact = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().unwrap_or_default();
        let bad = || -> ! {
            eprintln!("simulate: {flag} needs a number, got {value:?}");
            std::process::exit(2)
        };
        let number = || -> f64 {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or_else(|| bad())
        };
        let share = || -> f64 {
            let value = number();
            if value > 1.0 {
                bad()
            }
            value
        };
        let seconds = || Duration::from_secs_f64(number());
        match flag.as_str() {
            "--nodes" => scenario.nodes = value.parse().unwrap_or_else(|_| bad()),
            "--lookups" => scenario.lookups = value.parse().unwrap_or_else(|_| bad()),
            "--churn" => scenario.churn = share(),
            "--loss" => scenario.loss = share(),
            "--seed" => scenario.seed = value.parse().unwrap_or_else(|_| bad()),
            "--rtt" => {
                scenario.rtt = match value.as_str() {
                    "lan" => Rtt::Lan,
                    "internet" => Rtt::Internet,
                    _ => {
                        eprintln!("simulate: --rtt is lan or internet, got {value:?}");
                        std::process::exit(2)
                    }
                }
            }
            "--join-rate" => scenario.join_rate = number(),
            "--warmup" => scenario.warmup = seconds(),
            "--quiet" => scenario.quiet = seconds(),
            "--session-median" => scenario.session_median = Some(seconds()),
            "--graceful" => scenario.graceful = share(),
            "--duration" => scenario.duration = Some(seconds()),
            "--lookup-rate" => scenario.lookup_rate = Some(number()),
            "--unreachable" => scenario.unreachable = share(),
            "--partition" => scenario.partition = Some(seconds()),
            "--threads" => scenario.threads = value.parse().unwrap_or_else(|_| bad()),
            other => {
                eprintln!("simulate: unknown option {other} (see the documentation of tests/examples/simulate.rs)");
                std::process::exit(2)
            }
        }
    }
    let started = std::time::Instant::now();
    let outcome = run(&scenario);
    let mut report = outcome.report.clone();
    report.set("wall_s", started.elapsed().as_secs_f64().into());
    if exact {
        if scenario.steady().is_some() {
            eprintln!("simulate: --exact needs the lookups all at once (no steady phase)");
            std::process::exit(2)
        }
        let quiet = run(&Scenario {
            lookups: 0,
            verbose: false,
            census: false,
            ..scenario.clone()
        });
        let sent = |report: &Json| match report.get("datagrams_sent") {
            Some(Json::Int(sent)) => *sent as f64,
            Some(Json::Num(sent)) => *sent,
            _ => f64::NAN,
        };
        let caused = sent(&outcome.report) - sent(&quiet.report);
        report.set(
            "messages_per_lookup_exact",
            (caused / scenario.lookups.max(1) as f64).into(),
        );
    }
    report.set("peak_rss_kib", peak_rss_kib().into());
    if json {
        println!("{}", report.pretty());
        return;
    }
    let figure = |name: &str| match report.get(name) {
        Some(Json::Num(value)) => format!("{value:.1}"),
        Some(other) => other.to_string(),
        None => "null".into(),
    };
    println!(
        "nodes {}  churn {:.0}%  loss {:.1}%  rtt {:?}  resolved {}/{} ({:.1}%)  hops median {} \
         p99 {}  log10(N) {:.2}  latency p50 {} ms p99 {} ms  messages/lookup {}  \
         maintenance {} B/node/s  heal {} s  wall {:.0}s  peak RSS {} MiB",
        scenario.nodes,
        scenario.churn * 100.0,
        scenario.loss * 100.0,
        scenario.rtt,
        outcome.resolved,
        outcome.asked,
        100.0 * outcome.success(),
        figure("hops_p50"),
        figure("hops_p99"),
        (scenario.nodes as f64).log10(),
        figure("latency_ms_p50"),
        figure("latency_ms_p99"),
        figure("messages_per_lookup"),
        figure("maintenance_bytes_per_node_s"),
        figure("heal_s"),
        started.elapsed().as_secs_f64(),
        peak_rss_kib().map_or(0, |kib| kib / 1024),
    );
}
