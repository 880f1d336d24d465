//! A million hostile datagrams at one pnrpd (`pnrp-flood`: valid messages with forged fields,
//! mutated, truncated, random bytes, from 16 addresses) while an honest publisher and resolver
//! keep resolving through it: every resolve still succeeds, the target stays alive, its memory
//! grows by less than 32 MiB and its log stays under 100 lines. Hosts in network namespaces on a
//! bridge; the scenario is `tests/scripts/hostile-flood.sh`. `PNRP_FLOOD_COUNT` and
//! `PNRP_FLOOD_RATE` change the volume (default 1,000,000 at 20,000 per second).

use std::process::Command;

use pnrp_tests::harness::{describe, is_root, run_with_timeout};

#[test]
fn a_million_hostile_datagrams_break_nothing() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hostile-flood.sh");
    let count = std::env::var("PNRP_FLOOD_COUNT").unwrap_or_else(|_| "1000000".into());
    let rate = std::env::var("PNRP_FLOOD_RATE").unwrap_or_else(|_| "20000".into());
    let mut command = Command::new("unshare");
    if !is_root() {
        command.args(["--user", "--map-root-user"]);
    }
    // A private network and /run: the hosts' namespaces hang off it, never off the machine's.
    command.args([
        "--mount",
        "--net",
        "--propagation",
        "private",
        "--",
        "bash",
        script,
    ]);
    command
        .arg(env!("CARGO_BIN_EXE_pnrp-multicall"))
        .arg(env!("CARGO_BIN_EXE_pnrp-flood"))
        .arg(&count)
        .arg(&rate);
    let output = run_with_timeout(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with(" passed, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("figure: datagrams sent"), "{stdout}");
}
