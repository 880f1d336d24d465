//! Many PNRP nodes on a simulated network: every registered name resolves, in about log10(N)
//! hops, after a tenth of the nodes die, and while nodes keep arriving and leaving.
//! Deterministic: the same seed gives the same run. Larger runs and other scenarios:
//! `tests/examples/simulate.rs` documents the command line,
//! `bench/simulate.sh` the scenario set (docs/PERFORMANCE.md).

use std::time::Duration;

use pnrp_tests::scenario::{run, Lookup, Scenario};

#[test]
fn a_thousand_nodes_resolve_every_name_in_about_log10_n_hops() {
    let scenario = Scenario {
        nodes: 1000,
        lookups: 300,
        churn: 0.0,
        loss: 0.0,
        seed: 42,
        ..Scenario::default()
    };
    let outcome = run(&scenario);
    let (median, p99) = (outcome.hops_at(0.5), outcome.hops_at(0.99));
    println!(
        "{} nodes: {}/{} resolved, hops median {median} p99 {p99}, {:.1} messages per lookup",
        scenario.nodes, outcome.resolved, outcome.asked, outcome.messages_per_lookup
    );
    assert_eq!(
        outcome.resolved, outcome.asked,
        "every registered name must resolve"
    );
    // log10(1000) = 3.
    assert!(median <= 3, "median hops {median}");
    assert!(p99 <= 6, "p99 hops {p99}");
}

#[test]
fn names_still_resolve_after_a_tenth_of_the_nodes_die() {
    let scenario = Scenario {
        nodes: 300,
        lookups: 200,
        churn: 0.1,
        loss: 0.01,
        seed: 7,
        ..Scenario::default()
    };
    let outcome = run(&scenario);
    println!(
        "{} nodes, 10% dead, 1% loss: {}/{} resolved",
        scenario.nodes, outcome.resolved, outcome.asked
    );
    assert!(
        outcome.resolved * 100 >= outcome.asked * 97,
        "{}/{}",
        outcome.resolved,
        outcome.asked
    );
}

#[test]
fn names_resolve_while_nodes_keep_arriving_and_leaving() {
    // Sessions of median 5 min (Weibull, shape 0.5: mean 21 min): over the 2 min of lookups
    // about a tenth of the nodes leave, half of them cleanly, and as many arrive.
    let scenario = Scenario {
        nodes: 2000,
        lookups: 300,
        session_median: Some(Duration::from_secs(300)),
        duration: Some(Duration::from_secs(120)),
        graceful: 0.5,
        seed: 3,
        // No background figures are needed here: a shorter warm-up, no quiet window.
        warmup: Duration::from_secs(30),
        quiet: Duration::ZERO,
        ..Scenario::default()
    };
    let outcome = run(&scenario);
    let figure = |name: &str| {
        outcome
            .report
            .get(name)
            .and_then(|value| value.as_f64())
            .unwrap_or(f64::NAN)
    };
    let (arrivals, graceful, abrupt) = (
        figure("arrivals"),
        figure("departures_graceful"),
        figure("departures_abrupt"),
    );
    println!(
        "{} nodes, sessions median 5 min: {}/{} resolved, hops median {} p99 {}, latency p99 \
         {:.0} ms; {arrivals} arrived, {graceful} left cleanly, {abrupt} vanished",
        scenario.nodes,
        outcome.resolved,
        outcome.asked,
        outcome.hops_at(0.5),
        outcome.hops_at(0.99),
        figure("latency_ms_p99"),
    );
    assert!(
        arrivals >= 100.0 && graceful >= 50.0 && abrupt >= 50.0,
        "real churn during the lookups"
    );
    let newcomers = |pick: fn(&Lookup) -> usize| {
        outcome
            .lookups
            .iter()
            .filter(|lookup| pick(lookup) >= scenario.nodes)
            .count()
    };
    assert!(
        newcomers(|lookup| lookup.target) >= 3 && newcomers(|lookup| lookup.asker) >= 3,
        "newcomers are looked up and look up"
    );
    assert!(
        outcome.resolved * 100 >= outcome.asked * 99,
        "{}/{}",
        outcome.resolved,
        outcome.asked
    );
}
