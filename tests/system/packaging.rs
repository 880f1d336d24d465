//! The install/uninstall scripts and the nsswitch.conf editor, run against temporary trees.

use std::process::Command;

use pnrp_tests::harness::{describe, run_with_timeout};

#[test]
fn packaging_scripts() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/test.sh");
    let mut command = Command::new("bash");
    command.arg(script);
    let output = run_with_timeout(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", describe(&output));
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with(" passed, 0 failed"), "{last}");
}
