//! Two local users against one real daemon: root (the test) and `nobody` (uid 65534, through
//! `setpriv`). Names and identities belong to the user who made them; another user may resolve
//! but not change them; each user has a quota and a share of the connections. Needs root.

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use pnrp_shared::ipc::{self, Request, Response};
use pnrp_tests::harness::{
    describe, is_root, multicall, run_with_timeout, shared_copies, Sandbox, TempDir,
};

/// The daemon under test, with root's check that this test can act as another user.
fn sandbox() -> Sandbox {
    assert!(
        is_root(),
        "these tests act as root and as nobody: run them as root (tests/system.sh)"
    );
    Sandbox::standard()
}

/// A copy of the multi-call binary that `nobody` may run (the build directory may be private).
fn multicall_for_nobody() -> std::path::PathBuf {
    static COPIES: OnceLock<TempDir> = OnceLock::new();
    let copies = COPIES.get_or_init(|| shared_copies(&[&multicall()]));
    copies.path().join("pnrp-multicall")
}

/// Runs pnrpctl as `nobody`.
fn ctl_as_nobody(sandbox: &Sandbox, args: &[&str]) -> Output {
    let mut command = Command::new("setpriv");
    command
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(multicall_for_nobody())
        .arg("pnrpctl")
        .arg("--socket")
        .arg(sandbox.socket())
        .args(args);
    run_with_timeout(command)
}

#[track_caller]
fn refused(output: &Output, words: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", describe(output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(words),
        "{}",
        describe(output)
    );
}

/// The authority of the identity a `pnrpctl --json identity create` printed.
fn authority_of(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON");
    value["authority"].as_str().expect("authority").to_owned()
}

#[test]
fn names_belong_to_the_user_who_registered_them() {
    let sandbox = sandbox();
    let daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.mine", "--address", "fd70::1"]);
    assert!(sandbox.ctl_ok(&["list"]).contains("owner: uid 0"));
    // Another user may resolve, but not change or remove root's name.
    let out = ctl_as_nobody(&sandbox, &["resolve", "0.mine"]);
    assert!(out.status.success(), "{}", describe(&out));
    for args in [
        &["unregister", "0.mine"][..],
        &["register", "0.mine", "--address", "fd70::66"],
    ] {
        refused(&ctl_as_nobody(&sandbox, args), "belongs to another user");
    }
    assert!(
        sandbox.ctl_ok(&["resolve", "0.mine"]).contains("fd70::1"),
        "unchanged"
    );
    // nobody's own name: theirs to change, and root may remove it too.
    let out = ctl_as_nobody(&sandbox, &["register", "0.theirs", "--address", "fd70::2"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(sandbox.ctl_ok(&["list"]).contains("owner: uid 65534"));
    let out = ctl_as_nobody(&sandbox, &["register", "0.theirs", "--address", "fd70::3"]);
    assert!(out.status.success(), "{}", describe(&out));
    sandbox.ctl_ok(&["unregister", "0.theirs"]);
    // Ownership survives a restart.
    drop(daemon);
    let _daemon = sandbox.start_daemon();
    refused(
        &ctl_as_nobody(&sandbox, &["unregister", "0.mine"]),
        "belongs to another user",
    );
}

#[test]
fn each_user_has_a_quota() {
    let sandbox = sandbox();
    let _daemon = sandbox.start_daemon();
    for index in 0..ipc::MAX_REGISTRATIONS_PER_USER {
        let name = format!("0.q{index}");
        let out = ctl_as_nobody(&sandbox, &["register", &name, "--address", "fd70::9"]);
        assert!(out.status.success(), "{}", describe(&out));
    }
    refused(
        &ctl_as_nobody(
            &sandbox,
            &["register", "0.onetoomany", "--address", "fd70::9"],
        ),
        "the most one user may",
    );
    // Root is not bound by it.
    sandbox.ctl_ok(&["register", "0.root-extra", "--address", "fd70::9"]);
}

#[test]
fn identities_belong_to_their_users() {
    let sandbox = sandbox();
    let _daemon = sandbox.start_daemon();
    let authority = authority_of(&sandbox.ctl_ok(&["--json", "identity", "create"]));
    // Another user sees none of root's identities and cannot use, export or delete them…
    let out = ctl_as_nobody(&sandbox, &["identity", "list"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&authority));
    for args in [
        &[
            "register",
            &format!("{authority}.other"),
            "--address",
            "fd71::6",
        ][..],
        &["identity", "export", &authority],
        &["identity", "delete", &authority],
    ] {
        let out = ctl_as_nobody(&sandbox, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
    }
    // …but makes and uses their own, which root may use too.
    let out = ctl_as_nobody(&sandbox, &["--json", "identity", "create"]);
    assert!(out.status.success(), "{}", describe(&out));
    let theirs = authority_of(&String::from_utf8_lossy(&out.stdout));
    assert!(sandbox
        .state_dir()
        .join(format!("identities/65534/{theirs}.pem"))
        .exists());
    let out = ctl_as_nobody(
        &sandbox,
        &["register", &format!("{theirs}.svc"), "--address", "fd71::7"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(sandbox.ctl_ok(&["identity", "list"]).contains(&theirs));
    sandbox.ctl_ok(&["unregister", &format!("{theirs}.svc")]);
    sandbox.ctl_ok(&["identity", "delete", &theirs]);
}

#[test]
fn one_user_holding_every_connection_leaves_the_others_served() {
    let sandbox = sandbox();
    let _daemon = sandbox.start_daemon();
    // 128 idle connections are root's whole allowance: the next is closed unanswered.
    let idle: Vec<std::os::unix::net::UnixStream> = (0..128)
        .map(|_| std::os::unix::net::UnixStream::connect(sandbox.socket()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused =
        pnrpd::client::request(&sandbox.socket(), &Request::Status, Duration::from_secs(2));
    assert!(
        refused.is_err(),
        "served past the per-user limit: {refused:?}"
    );
    // Another user is still served.
    let out = ctl_as_nobody(&sandbox, &["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    drop(idle);
}

#[test]
fn root_is_bound_by_the_nodes_limit_alone() {
    let sandbox = sandbox();
    let _daemon = sandbox.start_daemon();
    for index in 0..ipc::MAX_REGISTRATIONS {
        let registration = pnrp_shared::Registration {
            name: format!("0.cap{index}").parse().unwrap(),
            addresses: vec![pnrp_shared::ScopedAddr {
                ip: "fd70::1".parse().unwrap(),
                scope_id: 0,
            }],
            port: None,
            protocol: Default::default(),
            comment: Some("c".repeat(ipc::MAX_COMMENT_BYTES)),
            payload: None,
        };
        assert!(matches!(
            pnrpd::client::request(
                &sandbox.socket(),
                &Request::Register(registration),
                Duration::from_secs(5)
            ),
            Ok(Response::Registered(_))
        ));
    }
    let out = sandbox.ctl(&["register", "0.onemore", "--address", "fd70::2"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the most it may"),
        "{}",
        describe(&out)
    );
    // Re-registering an existing name is still allowed, and the full list fits in one answer.
    sandbox.ctl_ok(&["register", "0.cap0", "--address", "fd70::3"]);
    assert!(sandbox.ctl_ok(&["list", "--json"]).contains("0.cap127"));
}
