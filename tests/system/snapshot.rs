//! Through real glibc: local names answered from the daemon's snapshot, and every snapshot the
//! module must doubt (another user's, group-writable, cut short, oversized, another version)
//! ignored so that the socket answers. A planted snapshot names other addresses than the
//! daemon, so each answer tells where it came from. Also: a name is gone for getaddrinfo the
//! moment `pnrpctl unregister` returns; the snapshot path under valgrind, with the daemon frozen
//! so that nothing else can answer.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use pnrp_shared::snapshot::{self, MAX_SNAPSHOT_LEN};
use pnrp_shared::{PeerName, ScopedAddr};
use pnrp_tests::harness::{describe, is_root, Sandbox};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// getaddrinfo of `name` inside the sandbox: its lines (`inet6 ADDR SCOPE`, `error EAI_…`).
fn lookup(sandbox: &Sandbox, name: &str) -> String {
    stdout(&sandbox.gai(&["lookup", name, "inet6"]))
}

/// A snapshot saying 0.myapp is at fd70::99, the address the daemon never gives.
fn planted() -> Vec<u8> {
    let name: PeerName = "0.myapp".parse().unwrap();
    let address = ScopedAddr {
        ip: "fd70::99".parse().unwrap(),
        scope_id: 0,
    };
    snapshot::encode([(&name, &[address][..])])
}

fn plant(path: &Path, bytes: &[u8], mode: u32, owner: u32) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(path, Some(owner), Some(owner)).unwrap();
}

#[test]
fn doubtful_snapshots_are_ignored_and_the_socket_answers() {
    assert!(
        is_root(),
        "this test gives files to another user (chown): run it as root (tests/system.sh)"
    );
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.myapp", "--address", "fd70::1"]);
    let path = snapshot::path_for(&sandbox.socket());
    let from_daemon = "inet6 fd70::1 0\n";
    let from_snapshot = "inet6 fd70::99 0\n";
    assert_eq!(lookup(&sandbox, "0.myapp.pnrp.net"), from_daemon);

    // The daemon's user (root here, as the socket's owner), mode 0644: believed.
    plant(&path, &planted(), 0o644, 0);
    assert_eq!(lookup(&sandbox, "0.myapp.pnrp.net"), from_snapshot);

    let good = planted();
    let mut other_version = good.clone();
    other_version[8] = 9;
    let mut oversized = good.clone();
    oversized.resize(MAX_SNAPSHOT_LEN + 1, 0);
    let cases: [(&str, Vec<u8>, u32, u32); 6] = [
        ("owned by nobody", good.clone(), 0o644, 65534),
        ("group-writable", good.clone(), 0o664, 0),
        ("world-writable", good.clone(), 0o646, 0),
        ("cut short", good[..good.len() - 3].to_vec(), 0o644, 0),
        ("oversized", oversized, 0o644, 0),
        ("of another version", other_version, 0o644, 0),
    ];
    for (case, bytes, mode, owner) in cases {
        plant(&path, &bytes, mode, owner);
        assert_eq!(
            lookup(&sandbox, "0.myapp.pnrp.net"),
            from_daemon,
            "a snapshot {case} was believed"
        );
    }
}

#[test]
fn a_name_is_gone_when_pnrpctl_unregister_returns() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    for round in 0..5 {
        sandbox.ctl_ok(&["register", "0.flicker", "--address", "fd70::5"]);
        assert_eq!(
            lookup(&sandbox, "0.flicker.pnrp.net"),
            "inet6 fd70::5 0\n",
            "round {round}"
        );
        sandbox.ctl_ok(&["unregister", "0.flicker"]);
        assert_eq!(
            lookup(&sandbox, "0.flicker.pnrp.net"),
            "error EAI_NONAME\n",
            "round {round}"
        );
    }
}

#[test]
fn valgrind_clean_from_the_snapshot_alone() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.myapp", "--address", "fd70::1"]);
    // Frozen: a lookup the snapshot did not answer would wait for the 5 s deadline and fail.
    daemon.signal(libc::SIGSTOP);
    let timed = sandbox.gai(&["timed", "0.myapp.pnrp.net"]);
    let text = stdout(&timed);
    assert!(text.contains("inet6 fd70::1"), "{}", describe(&timed));
    let elapsed: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("elapsed_ms "))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no elapsed_ms: {}", describe(&timed)));
    assert!(elapsed < 1000, "{elapsed} ms: the frozen daemon was asked");
    let output = sandbox.valgrind_getent("0.myapp.pnrp.net");
    daemon.signal(libc::SIGCONT);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stdout(&output).contains("fd70::1"), "{}", describe(&output));
}
