//! A million hostile datagrams at one pnrpd (`pnrp-flood`: valid messages with forged fields,
//! mutated, truncated, random bytes, from 16 addresses) while an honest publisher and resolver
//! keep resolving through it: every resolve still succeeds, the target stays alive, its memory
//! grows by less than 32 MiB and its log stays under 100 lines. Hosts in network namespaces on a
//! bridge; the scenario is `tests/scripts/hostile-flood.sh`. `PNRP_FLOOD_COUNT` and
//! `PNRP_FLOOD_RATE` change the volume (default 1,000,000 at 20,000 per second).

use pnrp_tests::harness::run_host_scenario;

#[test]
fn a_million_hostile_datagrams_break_nothing() {
    let count = std::env::var("PNRP_FLOOD_COUNT").unwrap_or_else(|_| "1000000".into());
    let rate = std::env::var("PNRP_FLOOD_RATE").unwrap_or_else(|_| "20000".into());
    let report = run_host_scenario(
        "hostile-flood.sh",
        &[env!("CARGO_BIN_EXE_pnrp-flood"), &count, &rate],
    );
    assert!(report.contains("figure: datagrams sent"), "{report}");
}
