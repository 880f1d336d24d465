//! Many PNRP nodes on a simulated network: every registered name resolves, in about log10(N)
//! hops. Deterministic: the same seed gives the same run. Larger runs:
//! `cargo run --release -p pnrp-tests --example simulate -- --nodes 10000` (docs/PERFORMANCE.md).

use pnrp_tests::scenario::{run, Scenario};

#[test]
fn a_thousand_nodes_resolve_every_name_in_about_log10_n_hops() {
    let scenario = Scenario {
        nodes: 1000,
        lookups: 300,
        churn: 0.0,
        loss: 0.0,
        seed: 42,
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
