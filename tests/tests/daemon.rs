//! The daemon and pnrpctl over the Unix socket: registrations, persistence, exit codes, shutdown,
//! readiness and malformed input; seeds in the configuration; what pnrpctl prints of the
//! clouds' size and reachability (against a fake daemon: these tests run no cloud).

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::Command;
use std::time::Duration;

use pnrp_shared::ipc::{
    self, CloudCounters, CloudInfo, ErrorKind, Reachability, Request, Response, Status, HEADER_LEN,
};
use pnrp_tests::fake_daemon::{FakeDaemon, Reply};
use pnrp_tests::harness::{describe, multicall, run_with_timeout, Daemon, Sandbox, TempDir};

#[test]
fn register_list_resolve_unregister() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let out = sandbox.ctl_ok(&[
        "register",
        "0.myapp",
        "--address",
        "fd70::1",
        "--address",
        "192.0.2.1",
        "--port",
        "8080",
        "--protocol",
        "udp",
        "--comment",
        "lab printer",
    ]);
    assert!(out.contains("registered 0.myapp"), "{out}");

    let list = sandbox.ctl_ok(&["list", "--json"]);
    assert!(list.contains("\"name\":\"0.myapp\""), "{list}");
    assert!(list.contains("\"192.0.2.1\""), "{list}");

    for query in ["0.myapp", "0.myapp.pnrp.net", "myapp.pnrp.net"] {
        let out = sandbox.ctl_ok(&["resolve", query, "--json"]);
        assert!(
            out.contains("\"addresses\":[\"fd70::1\",\"192.0.2.1\"]"),
            "{out}"
        );
        assert!(
            out.contains("\"port\":8080")
                && out.contains("\"protocol\":\"udp\"")
                && out.contains("lab printer"),
            "{out}"
        );
        assert!(out.contains("\"source\":\"local\""), "{out}");
    }

    let out = sandbox.ctl(&["resolve", "0.other"]);
    assert_eq!(out.status.code(), Some(3), "not found: {}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    sandbox.ctl_ok(&["unregister", "0.myapp"]);
    assert_eq!(sandbox.ctl(&["resolve", "0.myapp"]).status.code(), Some(3));
    let again = sandbox.ctl(&["unregister", "0.myapp"]);
    assert_eq!(again.status.code(), Some(3), "{}", describe(&again));
    assert!(sandbox.ctl_ok(&["list"]).contains("no names registered"));
}

#[test]
fn automatic_addresses_are_the_machines_own() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let out = sandbox.ctl_ok(&["register", "0.auto", "--json"]);
    assert!(out.contains("\"automatic_addresses\":true"), "{out}");
    assert!(
        !out.contains("\"::1\"") && !out.contains("127.0.0.1"),
        "never loopback: {out}"
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let cases: [(&[&str], &str); 5] = [
        (&["register", "1.x"], "authority"),
        (
            &["register", "0.x", "--address", "fe80::1"],
            "needs its interface",
        ),
        (
            &["register", "0.x", "--address", "nope"],
            "not an IP address",
        ),
        (&["peername", "example.com"], "not under .pnrp.net"),
        (&["resolve", "0myapp"], "no '.'"),
    ];
    for (args, expected) in cases {
        let out = sandbox.ctl(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{args:?}: {}",
            describe(&out)
        );
    }
    let long_comment = "c".repeat(79);
    let out = sandbox.ctl(&["register", "0.x", "--comment", &long_comment]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds at most 78"),
        "{}",
        describe(&out)
    );
}

#[test]
fn payloads_are_kept_and_bounded() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let dir = TempDir::new("payload");
    let payload = dir.path().join("in");
    let bytes: Vec<u8> = (0..4096u32).map(|index| (index * 7) as u8).collect();
    std::fs::write(&payload, &bytes).unwrap();
    let payload_arg = payload.to_str().unwrap();
    sandbox.ctl_ok(&[
        "register",
        "0.p",
        "--address",
        "fd70::1",
        "--payload-file",
        payload_arg,
    ]);
    let out = dir.path().join("out");
    let text = sandbox.ctl_ok(&["resolve", "0.p", "--payload-out", out.to_str().unwrap()]);
    assert!(text.contains("payload: 4096 bytes"), "{text}");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    for size in [0, 4097] {
        std::fs::write(&payload, vec![1; size]).unwrap();
        let out = sandbox.ctl(&[
            "register",
            "0.q",
            "--address",
            "fd70::1",
            "--payload-file",
            payload_arg,
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("1 to 4096"),
            "{}",
            describe(&out)
        );
    }
    let out = sandbox.ctl(&["register", "0.q", "--payload-file", "/nonexistent/payload"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/payload"));
}

#[test]
fn update_changes_only_what_is_given() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&[
        "register",
        "0.u",
        "--address",
        "fd70::1",
        "--port",
        "80",
        "--comment",
        "old",
    ]);
    sandbox.ctl_ok(&["update", "0.u", "--comment", "new", "--protocol", "udp"]);
    let text = sandbox.ctl_ok(&["resolve", "0.u"]);
    assert!(
        text.contains("fd70::1") && text.contains("port 80/udp") && text.contains("comment: new"),
        "{text}"
    );
    sandbox.ctl_ok(&["update", "0.u", "--address", "fd70::2", "--no-comment"]);
    let text = sandbox.ctl_ok(&["resolve", "0.u"]);
    assert!(
        text.contains("fd70::2") && !text.contains("fd70::1") && !text.contains("comment"),
        "{text}"
    );
    let out = sandbox.ctl(&["update", "0.absent", "--comment", "x"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
}

#[test]
fn name_mapping_commands() {
    let sandbox = Sandbox::standard();
    assert_eq!(
        sandbox.ctl_ok(&["hostname", "0.my.app"]).trim(),
        "0.my.app.pnrp.net"
    );
    assert_eq!(
        sandbox.ctl_ok(&["peername", "myapp.pnrp.net"]).trim(),
        "0.myapp"
    );
    assert_eq!(
        sandbox
            .ctl_ok(&["peername", "0.xn--caf-dma.pnrp.net"])
            .trim(),
        "0.café"
    );
}

#[test]
fn daemon_unreachable_has_its_own_exit_code() {
    let sandbox = Sandbox::standard();
    for args in [&["status"][..], &["resolve", "0.x"], &["register", "0.x"]] {
        let out = sandbox.ctl(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", describe(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach pnrpd"));
    }
}

#[test]
fn registrations_survive_kill_9_and_restart() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    for index in 0..20 {
        sandbox.ctl_ok(&[
            "register",
            &format!("0.n{index}"),
            "--address",
            &format!("fd70::{index}"),
        ]);
    }
    sandbox.ctl_ok(&["unregister", "0.n3"]);
    daemon.kill9();
    let _daemon = sandbox.start_daemon();
    let status = sandbox.ctl_ok(&["status"]);
    assert!(status.contains("registrations: 19"), "{status}");
    assert!(sandbox.ctl_ok(&["resolve", "0.n19"]).contains("fd70::19"));
    assert_eq!(sandbox.ctl(&["resolve", "0.n3"]).status.code(), Some(3));
}

#[test]
fn sigterm_stops_cleanly_and_removes_the_socket() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    let status = daemon.stop();
    assert!(status.success(), "{status}");
    assert!(!sandbox.socket().exists());
}

#[test]
fn notifies_readiness() {
    let sandbox = Sandbox::standard();
    let notify_path = sandbox.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify_path).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _daemon = Daemon::start_with(
        sandbox.multicall(),
        &sandbox.socket(),
        &sandbox.state_dir(),
        &sandbox.path().join("log"),
        &[("NOTIFY_SOCKET", notify_path.to_str().unwrap())],
    );
    let mut buffer = [0; 64];
    let length = listener.recv(&mut buffer).unwrap();
    assert_eq!(&buffer[..length], b"READY=1");
}

/// A `pnrpd` command on the sandbox's socket and state directory, run by hand (it is expected to
/// refuse to start).
fn daemon_command(sandbox: &Sandbox) -> Command {
    let mut command = Command::new(multicall());
    command
        .args(["pnrpd", "--config", "/dev/null", "--no-cloud", "--socket"])
        .arg(sandbox.socket());
    command.arg("--state-dir").arg(sandbox.state_dir());
    command
}

#[test]
fn a_second_daemon_refuses_to_start() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let out = run_with_timeout(daemon_command(&sandbox));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in use by another pnrpd"),
        "{}",
        describe(&out)
    );
    assert!(
        sandbox.socket().exists(),
        "the running daemon's socket must stay"
    );
}

#[test]
fn check_config_accepts_good_and_rejects_unknown_keys() {
    let dir = TempDir::new("config");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "socket = \"/tmp/x.sock\"\nstate_dir = \"/tmp/st\"\n").unwrap();
    let mut command = Command::new(multicall());
    command
        .args(["pnrpd", "--check-config", "--config"])
        .arg(&good)
        .args(["--socket", "/tmp/y.sock"]);
    let out = run_with_timeout(command);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("configuration OK")
            && text.contains("/tmp/y.sock")
            && text.contains("/tmp/st"),
        "{text}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "sokcet = \"/tmp/x.sock\"\n").unwrap();
    let mut command = Command::new(multicall());
    command
        .args(["pnrpd", "--check-config", "--config"])
        .arg(&bad);
    let out = run_with_timeout(command);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown field `sokcet`"),
        "{}",
        describe(&out)
    );

    let mut command = Command::new(multicall());
    command.args([
        "pnrpd",
        "--check-config",
        "--config",
        "/nonexistent/pnrpd.toml",
    ]);
    assert_eq!(run_with_timeout(command).status.code(), Some(1));
}

fn exchange(socket: &std::path::Path, bytes: &[u8]) -> Option<Response> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A connection the daemon refuses may already be closed: no answer, not a test failure.
    stream.write_all(bytes).ok()?;
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header).ok()?;
    let mut body = vec![0; ipc::frame_length(header).ok()?];
    stream.read_exact(&mut body).ok()?;
    ipc::decode_body(&body).ok()
}

#[test]
fn malformed_frames_get_an_error_reply_and_the_daemon_lives_on() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let socket = sandbox.socket();
    let bad_kind = |bytes: &[u8]| match exchange(&socket, bytes) {
        Some(Response::Error { kind, .. }) => kind,
        other => panic!("{bytes:?}: {other:?}"),
    };
    assert_eq!(bad_kind(&[0, 0, 0, 0]), ErrorKind::BadRequest);
    assert_eq!(bad_kind(&[0xff, 0xff, 0xff, 0xff]), ErrorKind::BadRequest);
    assert_eq!(bad_kind(&[0, 0, 0, 2, 9, 0]), ErrorKind::UnsupportedVersion);
    assert_eq!(
        bad_kind(&[0, 0, 0, 3, ipc::PROTOCOL_VERSION, 0xee, 0xee]),
        ErrorKind::BadRequest
    );
    // A client that closes mid-frame.
    {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.write_all(&[0, 0, 0, 50, 1, 2]).unwrap();
    }
    // Two requests on one connection, then still serving others.
    let mut both = ipc::encode_frame(&Request::Status).unwrap();
    both.extend(ipc::encode_frame(&Request::List).unwrap());
    let mut stream = UnixStream::connect(&socket).unwrap();
    stream.write_all(&both).unwrap();
    for _ in 0..2 {
        let mut header = [0; HEADER_LEN];
        stream.read_exact(&mut header).unwrap();
        let mut body = vec![0; ipc::frame_length(header).unwrap()];
        stream.read_exact(&mut body).unwrap();
        assert!(!matches!(
            ipc::decode_body::<Response>(&body).unwrap(),
            Response::Error { .. }
        ));
    }
    assert!(sandbox.ctl_ok(&["status"]).contains("running"));
}

#[test]
fn shipped_default_config_is_accepted() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/pnrpd.toml");
    let mut command = Command::new(multicall());
    command.args(["pnrpd", "--check-config", "--config", shipped]);
    let out = run_with_timeout(command);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("/run/pnrp/pnrpd.sock"));
}

#[test]
fn the_daemon_refuses_what_pnrpctl_refuses() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let register = |ip: &str, scope_id| {
        let registration = pnrp_shared::ipc::Registration {
            name: "0.raw".parse().unwrap(),
            addresses: vec![pnrp_shared::ipc::ScopedAddr {
                ip: ip.parse().unwrap(),
                scope_id,
            }],
            port: None,
            protocol: Default::default(),
            comment: None,
            payload: None,
        };
        exchange(
            &sandbox.socket(),
            &ipc::encode_frame(&Request::Register(registration)).unwrap(),
        )
    };
    for (ip, scope) in [("fe80::9", 0), ("::", 0), ("ff02::1", 77)] {
        match register(ip, scope) {
            Some(Response::Error {
                kind: ErrorKind::BadRequest,
                ..
            }) => {}
            other => panic!("{ip}%{scope} accepted: {other:?}"),
        }
    }
    match register("2001:db8::5", 9) {
        Some(Response::Registered(info)) => assert_eq!(info.registration.addresses[0].scope_id, 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn never_deletes_a_file_that_is_not_a_socket() {
    let sandbox = Sandbox::standard();
    std::fs::write(sandbox.socket(), b"precious").unwrap();
    let out = run_with_timeout(daemon_command(&sandbox));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a socket"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read(sandbox.socket()).unwrap(), b"precious");
}

#[test]
fn one_user_cannot_take_every_connection() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    // 128 idle connections are this user's whole allowance: the next one is closed unanswered.
    let idle: Vec<UnixStream> = (0..128)
        .map(|_| UnixStream::connect(sandbox.socket()).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let refused = exchange(
        &sandbox.socket(),
        &ipc::encode_frame(&Request::Status).unwrap(),
    );
    assert!(
        refused.is_none(),
        "served past the per-user limit: {refused:?}"
    );
    // That another user is still served meanwhile: system/users.rs.
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    assert!(sandbox.ctl_ok(&["status"]).contains("running"));
}

#[test]
fn names_show_the_user_who_registered_them() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    sandbox.ctl_ok(&["register", "0.mine", "--address", "fd70::1"]);
    assert!(sandbox
        .ctl_ok(&["list"])
        .contains(&format!("owner: uid {me}")));
    // Other users' rights: the service's unit tests, and system/users.rs for real.
    sandbox.ctl_ok(&["unregister", "0.mine"]);
}

/// The authority of the identity a `pnrpctl --json identity create|export` printed.
fn authority_of(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON");
    value["authority"].as_str().expect("authority").to_owned()
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn secured_names_need_their_identity() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    let me = unsafe { libc::geteuid() };
    let authority = authority_of(&sandbox.ctl_ok(&["--json", "identity", "create"]));
    assert_eq!(authority.len(), 40);
    let key_file = sandbox
        .state_dir()
        .join(format!("identities/{me}/{authority}.pem"));
    assert_eq!(mode_of(&key_file), 0o600, "the private key is private");
    assert_eq!(mode_of(key_file.parent().unwrap()), 0o700);
    let listed = sandbox.ctl_ok(&["identity", "list"]);
    assert!(listed.contains(&authority), "{listed}");

    // The identity publishes its secured names; a secured name without one is refused.
    let name = format!("{authority}.web");
    sandbox.ctl_ok(&["register", &name, "--address", "fd71::1"]);
    assert!(sandbox.ctl_ok(&["resolve", &name]).contains("fd71::1"));
    let stranger = format!("{}.web", "5".repeat(40));
    let out = sandbox.ctl(&["register", &stranger, "--address", "fd71::1"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is a secured name"),
        "{}",
        describe(&out)
    );
    // In use: not deleted.
    let out = sandbox.ctl(&["identity", "delete", &authority]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unregister first"));
    assert!(key_file.exists());

    // Both survive a restart.
    drop(daemon);
    let _daemon = sandbox.start_daemon();
    assert!(sandbox.ctl_ok(&["list"]).contains(&name));
    assert!(sandbox
        .ctl_ok(&["identity", "list"])
        .contains(&format!("publishes: {name}")));

    // Exported (privately, never over a file), deleted, imported again: the same authority.
    let exported = sandbox.path().join("backup.pem");
    let shown = sandbox.ctl_ok(&[
        "--json",
        "identity",
        "export",
        &authority,
        "--secret-out",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(authority_of(&shown), authority);
    assert_eq!(mode_of(&exported), 0o600);
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
    let again = sandbox.ctl(&[
        "identity",
        "export",
        &authority,
        "--secret-out",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    sandbox.ctl_ok(&["unregister", &name]);
    sandbox.ctl_ok(&["identity", "delete", &authority]);
    assert!(!key_file.exists());
    let out = sandbox.ctl(&["register", &name, "--address", "fd71::1"]);
    assert_eq!(out.status.code(), Some(1), "gone with its identity");
    let imported = sandbox.ctl_ok(&[
        "--json",
        "identity",
        "create",
        "--import",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(authority_of(&imported), authority);
    sandbox.ctl_ok(&["register", &name, "--address", "fd71::2"]);
    let garbage = sandbox.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let out = sandbox.ctl(&["identity", "create", "--import", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an Ed25519 private key"));
    // Other users cannot see or use it: the service's unit tests, and system/users.rs.
}

#[test]
fn seeds_may_be_host_names_but_never_under_pnrp_net() {
    let mut command = Command::new(multicall());
    command.args([
        "pnrpd",
        "--check-config",
        "--config",
        "/dev/null",
        "--seed",
        "seed.example.org",
        "--seed",
        "seed.example.org:3541",
        "--seed",
        "[fd00::1]:3540",
        "--seed",
        "fd00::2",
    ]);
    let out = run_with_timeout(command);
    assert!(out.status.success(), "{}", describe(&out));
    // As given: nothing is resolved by a check.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "seeds = [\"seed.example.org\", \"seed.example.org:3541\", \"[fd00::1]:3540\", \
             \"fd00::2\"]"
        ),
        "{}",
        describe(&out)
    );

    let dir = TempDir::new("config");
    let config = dir.path().join("pnrpd.toml");
    std::fs::write(&config, "seeds = [\"fd00::1\", \"seed.PNRP.net.\"]\n").unwrap();
    let mut command = Command::new(multicall());
    command
        .args(["pnrpd", "--check-config", "--config"])
        .arg(&config);
    let out = run_with_timeout(command);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("seed \"seed.PNRP.net.\"")
            && stderr.contains("under pnrp.net")
            && stderr.contains("through pnrpd itself"),
        "{}",
        describe(&out)
    );
}

#[test]
fn status_without_a_cloud_names_no_firewalled_cloud() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let status = sandbox.ctl_ok(&["status"]);
    assert!(!status.contains("firewall"), "{status}");
    let json = sandbox.ctl_ok(&["status", "--json"]);
    assert!(
        json.starts_with(
            "{\"dns\":[],\"firewalled_clouds\":[],\"log_level\":\"debug\",\"registrations\":0,\
             \"seeds\":[],"
        ),
        "{json}"
    );
    assert_eq!(sandbox.ctl_ok(&["clouds", "--json"]), "[]\n");
}

/// `pnrpctl ARGS` against a fake daemon.
fn ctl_against(daemon: &FakeDaemon, args: &[&str]) -> String {
    let mut command = Command::new(multicall());
    command
        .arg("pnrpctl")
        .arg("--socket")
        .arg(&daemon.path)
        .args(args);
    let out = run_with_timeout(command);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clouds_and_status_show_size_and_reachability() {
    let counters = CloudCounters {
        sent: 1,
        received: 2,
        malformed: 3,
        bad_cpas: 4,
        rate_limited: 5,
        withheld: 6,
    };
    let cloud = |name: &str, estimated_size, reachability| CloudInfo {
        name: name.into(),
        endpoints: vec!["[fd00::1]:3540".into()],
        cached: 7,
        published: Vec::new(),
        counters,
        estimated_size,
        reachability,
    };
    let clouds = Response::Clouds(vec![
        cloud("Global_", Some(1200), Reachability::Reachable),
        cloud("LinkLocal_a", None, Reachability::Firewalled),
        cloud("LinkLocal_b", Some(2), Reachability::Unknown),
    ]);
    let status = |firewalled_clouds: Vec<String>| {
        Response::Status(Status {
            version: "9.9.9".into(),
            uptime_secs: 5,
            registrations: 1,
            state_dir: "/var/lib/pnrp".into(),
            firewalled_clouds,
            dns: Vec::new(),
            seeds: Vec::new(),
            log_level: "info".into(),
        })
    };
    let firewalled = status(vec!["Global_".into(), "LinkLocal_a".into()]);
    let daemon = FakeDaemon::start(move |request| {
        Reply::Frame(match request {
            Request::Clouds => clouds.clone(),
            _ => firewalled.clone(),
        })
    });

    let text = ctl_against(&daemon, &["clouds"]);
    let expected = "\
Global_
  listening: [fd00::1]:3540
  cached nodes: 7
  estimated size: 1200 nodes
  reachable from outside: yes
  datagrams sent 1, received 2, malformed 3; CPAs rejected 4
  dropped over the rate limit 5; answers withheld from unproven addresses 6
LinkLocal_a
  listening: [fd00::1]:3540
  cached nodes: 7
  estimated size: not yet (no neighbour on each side)
  reachable from outside: no (behind a firewall: resolving only; names published on its links only)
  datagrams sent 1, received 2, malformed 3; CPAs rejected 4
  dropped over the rate limit 5; answers withheld from unproven addresses 6
LinkLocal_b
  listening: [fd00::1]:3540
  cached nodes: 7
  estimated size: 2 nodes
  reachable from outside: not known yet
  datagrams sent 1, received 2, malformed 3; CPAs rejected 4
  dropped over the rate limit 5; answers withheld from unproven addresses 6
";
    assert_eq!(text, expected);

    let json = ctl_against(&daemon, &["clouds", "--json"]);
    let fields = |name: &str, size: &str, reachability: &str| {
        format!(
            "{{\"bad_cpas\":4,\"cached\":7,\"endpoints\":[\"[fd00::1]:3540\"],\
             \"estimated_size\":{size},\"malformed\":3,\"name\":\"{name}\",\"published\":[],\
             \"rate_limited\":5,\"reachability\":\"{reachability}\",\"received\":2,\"sent\":1,\
             \"withheld\":6}}"
        )
    };
    let expected = format!(
        "[{},{},{}]\n",
        fields("Global_", "1200", "reachable"),
        fields("LinkLocal_a", "null", "firewalled"),
        fields("LinkLocal_b", "2", "unknown")
    );
    assert_eq!(json, expected);

    let text = ctl_against(&daemon, &["status"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 9, "{text}");
    assert_eq!(lines[0], "pnrpd 9.9.9 running for 5s");
    assert_eq!(lines[4], "seeds:         none");
    assert_eq!(lines[5], "log level:     info");
    assert_eq!(lines[8], "DNS:           off (dns_listen in pnrpd.toml)");
    for (line, cloud) in lines[6..].iter().zip(["Global_", "LinkLocal_a"]) {
        assert!(
            line.starts_with(&format!("{cloud}: behind a firewall"))
                && line.contains("resolving only; names published on its links only")
                && line.contains("UDP port 3540"),
            "{text}"
        );
    }
    let json = ctl_against(&daemon, &["status", "--json"]);
    assert!(
        json.starts_with(
            "{\"dns\":[],\"firewalled_clouds\":[\"Global_\",\"LinkLocal_a\"],\"log_level\":\"info\",\
             \"registrations\":1,\"seeds\":[],\"socket\":"
        ) && json.ends_with(
            ",\"state_dir\":\"/var/lib/pnrp\",\"uptime_secs\":5,\"version\":\"9.9.9\"}\n"
        ),
        "{json}"
    );
}
