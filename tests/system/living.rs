//! A living cloud with real daemons in network namespaces (issue 9, "Hosts, for real"): hosts
//! that stop cleanly, move to a new prefix, sit behind a stateful firewall, and two LANs split
//! by a pulled cable and healed. Each scenario is a script of `tests/scripts/` (sharing
//! `hosts-lib.sh`) and its own test, so they run side by side, each in its own namespaces; the
//! scripts print what they measured as `figure:` lines.
//!
//! They wait on the protocol's clocks (a 90 s firewall verdict, caches emptied by 15 s
//! maintenance rounds), so they get a longer limit than `run_host_scenario`'s 120 s.

use pnrp_tests::harness::run_host_scenario_within;

/// Runs `tests/scripts/<script>`, killed after `limit_secs`; asserts that every check passed
/// and returns its report.
fn run_scenario(script: &str, limit_secs: u64) -> String {
    run_host_scenario_within(script, &[], limit_secs)
}

// Named so that the longest scenarios start first (the harness runs tests in name order, as many
// at once as there are cores).

/// Two LANs behind a router: split until each forgets the other, healed, merged again by split
/// detection (`living-split.sh`).
#[test]
fn a_cloud_split_by_a_cut_link_merges_again_after_the_heal() {
    let report = run_scenario("living-split.sh", 420);
    assert!(report.contains("figure: healed "), "{report}");
}

/// A firewalled host resolves, learns it is firewalled and is never cached by others
/// (`living-firewall.sh`).
#[test]
fn a_firewalled_host_resolves_but_is_never_a_route_entry() {
    run_scenario("living-firewall.sh", 300);
}

/// A host whose prefix changes, then its address within the prefix, is found at the new
/// address within 5 s (`living-prefix.sh`).
#[test]
fn a_host_that_moves_is_found_at_its_new_address_within_5_s() {
    run_scenario("living-prefix.sh", 180);
}

/// A publisher stopped cleanly disappears from every resolver at once; one killed lingers until
/// found silent (`living-stop.sh`).
#[test]
fn a_publisher_that_stops_cleanly_disappears_at_once() {
    run_scenario("living-stop.sh", 180);
}
