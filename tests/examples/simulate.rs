//! Simulates a PNRP cloud and prints its figures: resolves, hops (median and p99), messages per
//! lookup. `cargo run --release -p pnrp-tests --example simulate -- --nodes 10000 [--lookups 1000]
//! [--churn 0.1] [--loss 0.01] [--seed 1]`.

use pnrp_tests::scenario::{run, Scenario};

fn main() {
    let mut scenario = Scenario {
        nodes: 10_000,
        lookups: 1000,
        churn: 0.0,
        loss: 0.0,
        seed: 1,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).map(String::as_str).unwrap_or("");
        let bad = || -> ! {
            eprintln!("simulate: {} needs a number, got {value:?}", pair[0]);
            std::process::exit(2)
        };
        match pair[0].as_str() {
            "--nodes" => scenario.nodes = value.parse().unwrap_or_else(|_| bad()),
            "--lookups" => scenario.lookups = value.parse().unwrap_or_else(|_| bad()),
            "--churn" => scenario.churn = value.parse().unwrap_or_else(|_| bad()),
            "--loss" => scenario.loss = value.parse().unwrap_or_else(|_| bad()),
            "--seed" => scenario.seed = value.parse().unwrap_or_else(|_| bad()),
            other => {
                eprintln!("simulate: unknown option {other}");
                std::process::exit(2)
            }
        }
    }
    let started = std::time::Instant::now();
    let outcome = run(&scenario);
    println!(
        "nodes {}  churn {:.0}%  loss {:.1}%  resolved {}/{} ({:.1}%)  hops median {} p99 {}  \
         log10(N) {:.2}  messages/lookup {:.1}  wall {:.0}s",
        scenario.nodes,
        scenario.churn * 100.0,
        scenario.loss * 100.0,
        outcome.resolved,
        outcome.asked,
        100.0 * outcome.resolved as f64 / outcome.asked.max(1) as f64,
        outcome.hops_at(0.5),
        outcome.hops_at(0.99),
        (scenario.nodes as f64).log10(),
        outcome.messages_per_lookup,
        started.elapsed().as_secs_f64()
    );
}
