//! Six hosts in network namespaces on a bridge (ULA and link-local addresses), one pnrpd each:
//! a name registered on one host resolves on another through glibc (getent, ping6, Python),
//! a name on two hosts resolves to both, names disappear when unregistered or when their
//! publisher dies, survive other nodes dying; a restarted node rejoins from its persistent
//! cache; a node with no seed finds the cloud by SSDP; a link-local name pings over fe80::.
//! The scenario is `tests/scripts/cloud-hosts.sh`.

use std::process::Command;

use pnrp_tests::harness::{describe, is_root, nss_library, run_with_timeout, TempDir};

#[test]
fn six_hosts_share_names_through_the_cloud() {
    let libdir = TempDir::new("cloud-lib");
    std::os::unix::fs::symlink(nss_library(), libdir.path().join("libnss_pnrp.so.2")).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cloud-hosts.sh");
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
        .arg(libdir.path());
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
}
