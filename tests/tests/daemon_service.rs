//! A real `pnrpd` as systemd runs it: `systemctl reload` (SIGHUP) applies an edited
//! configuration (seeds, log level, the DNS front end's listeners) while registrations, the
//! clouds and open connections stay;
//! a configuration that does not load is refused and the running one stays; under the watchdog
//! (`WATCHDOG_USEC`) the run loop sends `WATCHDOG=1` at half the interval.

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use pnrp_shared::ipc::{self, Request, Response, HEADER_LEN};
use pnrp_tests::dns_client;
use pnrp_tests::harness::{is_root, multicall, Daemon, Sandbox};

/// `pnrpd --config CONFIG` on the sandbox's socket and state directory, in a network namespace of
/// its own (through a user namespace when not root) so that its cloud sees no real interface.
/// `unshare` execs pnrpd: signals sent to the child reach the daemon.
fn daemon_in_namespace(sandbox: &Sandbox, config: &Path, env: &[(&str, &str)]) -> Daemon {
    let mut command = Command::new("unshare");
    if !is_root() {
        command.args(["--user", "--map-root-user"]);
    }
    command
        .args(["--net", "--"])
        .arg(multicall())
        .arg("pnrpd")
        .arg("--config")
        .arg(config)
        .arg("--socket")
        .arg(sandbox.socket())
        .arg("--state-dir")
        .arg(sandbox.state_dir())
        .envs(env.iter().copied());
    Daemon::spawn(command, &sandbox.socket(), &sandbox.path().join("log"))
}

fn ask(stream: &mut UnixStream, request: &Request) -> Response {
    stream
        .write_all(&ipc::encode_frame(request).unwrap())
        .unwrap();
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    let mut body = vec![0u8; ipc::frame_length(header).unwrap()];
    stream.read_exact(&mut body).unwrap();
    ipc::decode_body(&body).unwrap()
}

fn status(stream: &mut UnixStream) -> ipc::Status {
    match ask(stream, &Request::Status) {
        Response::Status(status) => status,
        other => panic!("status answered {other:?}"),
    }
}

/// Waits until the daemon's log contains `text` (at most 10 s).
fn wait_for_log(daemon: &Daemon, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = daemon.log();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "no {text:?} in the log: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_applies_the_edited_config_and_keeps_registrations() {
    let sandbox = Sandbox::standard();
    let config = sandbox.path().join("pnrpd.toml");
    std::fs::write(
        &config,
        "log_level = \"info\"\ndiscovery = false\nseeds = []\n",
    )
    .unwrap();
    let daemon = daemon_in_namespace(&sandbox, &config, &[]);
    sandbox.ctl_ok(&["register", "0.kept", "--address", "fd70::1"]);
    // A connection opened before the reload is still served after it.
    let mut connection = UnixStream::connect(sandbox.socket()).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let before = status(&mut connection);
    assert_eq!((before.log_level.as_str(), before.seeds.len()), ("info", 0));
    let clouds_before = sandbox.ctl_ok(&["clouds"]);
    assert!(clouds_before.contains("Global_"), "{clouds_before}");

    std::fs::write(
        &config,
        "log_level = \"debug\"\ndiscovery = false\nseeds = [\"[fd70::99]:3540\"]\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    let log = wait_for_log(&daemon, "configuration reloaded");
    // The log level is in effect: no debug line before the SIGHUP, and then the network's about
    // its new seeds.
    let reloaded_at = log.find("SIGHUP").unwrap();
    assert!(
        !log[..reloaded_at].contains(" DEBUG "),
        "debug lines before the reload: {log}"
    );
    wait_for_log(&daemon, "seeds changed");

    let after = status(&mut connection);
    assert_eq!(after.log_level, "debug");
    assert_eq!(after.seeds, ["[fd70::99]:3540"]);
    assert!(after.uptime_secs >= before.uptime_secs);
    assert_eq!(after.registrations, 1, "the registration survives");
    let resolved = sandbox.ctl_ok(&["resolve", "0.kept"]);
    assert!(resolved.contains("fd70::1"), "{resolved}");
    let clouds_after = sandbox.ctl_ok(&["clouds"]);
    assert!(clouds_after.contains("Global_"), "{clouds_after}");
    let text = sandbox.ctl_ok(&["status"]);
    assert!(
        text.contains("seeds:         [fd70::99]:3540") && text.contains("log level:     debug"),
        "{text}"
    );

    // A broken config is refused as a whole; the running one stays.
    std::fs::write(&config, "log_level = \"info\"\nseeds = [\"pnrp.net\"]\n").unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for_log(&daemon, "reload refused");
    std::fs::write(&config, "log_levle = \"info\"\n").unwrap();
    daemon.signal(libc::SIGHUP);
    let log = wait_for_log(&daemon, "unknown field `log_levle`");
    assert!(log.contains("reload refused"), "{log}");
    let kept = status(&mut connection);
    assert_eq!(
        (kept.log_level.as_str(), kept.seeds.as_slice()),
        ("debug", ["[fd70::99]:3540".to_string()].as_slice())
    );
    assert!(daemon.stop().success());
}

/// A daemon without a cloud whose notifications (`NOTIFY_SOCKET`) reach the returned socket,
/// read with `timeout`; `env` adds the watchdog's variables.
fn watched(sandbox: &Sandbox, timeout: Duration, env: &[(&str, &str)]) -> (UnixDatagram, Daemon) {
    let notify_path = sandbox.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify_path).unwrap();
    listener.set_read_timeout(Some(timeout)).unwrap();
    let config = sandbox.path().join("pnrpd.toml");
    std::fs::write(&config, "cloud = false\n").unwrap();
    let mut all = vec![("NOTIFY_SOCKET", notify_path.to_str().unwrap())];
    all.extend_from_slice(env);
    let daemon = daemon_in_namespace(sandbox, &config, &all);
    (listener, daemon)
}

#[test]
fn the_watchdog_is_fed_from_the_run_loop_and_reloads_are_announced() {
    let sandbox = Sandbox::standard();
    // 200 ms: a ping every 100 ms.
    let (listener, daemon) = watched(
        &sandbox,
        Duration::from_secs(5),
        &[("WATCHDOG_USEC", "200000")],
    );
    let mut buffer = [0; 64];
    let mut next = || {
        let length = listener.recv(&mut buffer).expect("a notification in time");
        String::from_utf8_lossy(&buffer[..length]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    let started = Instant::now();
    let mut pings = 0;
    while pings < 5 {
        assert_eq!(next(), "WATCHDOG=1");
        pings += 1;
    }
    let period = started.elapsed() / 5;
    assert!(
        period >= Duration::from_millis(50) && period <= Duration::from_millis(200),
        "a ping every {period:?}, not every 100 ms"
    );
    daemon.signal(libc::SIGHUP);
    let mut seen = Vec::new();
    while !seen.contains(&"READY=1".to_string()) {
        let message = next();
        if message != "WATCHDOG=1" {
            seen.push(message);
        }
    }
    assert_eq!(seen, ["RELOADING=1", "READY=1"]);
    assert!(daemon.stop().success());
}

#[test]
fn no_watchdog_pings_for_another_process() {
    let sandbox = Sandbox::standard();
    // WATCHDOG_PID names pid 1: the interval is not ours to keep.
    let (listener, _daemon) = watched(
        &sandbox,
        Duration::from_millis(600),
        &[("WATCHDOG_USEC", "100000"), ("WATCHDOG_PID", "1")],
    );
    let mut buffer = [0; 64];
    let length = listener.recv(&mut buffer).unwrap();
    assert_eq!(&buffer[..length], b"READY=1");
    assert!(
        listener.recv(&mut buffer).is_err(),
        "a ping although WATCHDOG_PID is another process"
    );
}

/// `pnrpd --config CONFIG --no-cloud` on the sandbox's socket, outside any namespace: its DNS
/// listeners are on this machine's loopback, where the test can ask them.
fn daemon_without_cloud(sandbox: &Sandbox, config: &Path) -> Daemon {
    let mut command = Command::new(multicall());
    command
        .arg("pnrpd")
        .arg("--config")
        .arg(config)
        .arg("--no-cloud")
        .arg("--socket")
        .arg(sandbox.socket())
        .arg("--state-dir")
        .arg(sandbox.state_dir());
    Daemon::spawn(command, &sandbox.socket(), &sandbox.path().join("log"))
}

/// The UDP listener of the DNS front end, from `status`.
fn dns_udp(status: &ipc::Status) -> Option<SocketAddr> {
    status
        .dns
        .iter()
        .find(|listener| listener.transport == ipc::DnsTransport::Udp)
        .map(|listener| listener.address.parse().unwrap())
}

#[test]
fn sighup_opens_moves_and_closes_the_dns_listeners() {
    let sandbox = Sandbox::standard();
    let config = sandbox.path().join("pnrpd.toml");
    std::fs::write(&config, "cloud = false\ndns_listen = []\n").unwrap();
    let daemon = daemon_without_cloud(&sandbox, &config);
    sandbox.ctl_ok(&["register", "0.reloaded", "--address", "fd70::5"]);
    let mut connection = UnixStream::connect(sandbox.socket()).unwrap();
    connection
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(status(&mut connection).dns.is_empty());

    // Turned on: both transports listen, and the name is answered.
    std::fs::write(&config, "cloud = false\ndns_listen = [\"127.0.0.1:0\"]\n").unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for_log(&daemon, "DNS front end reloaded");
    let on = status(&mut connection);
    assert_eq!(on.dns.len(), 2, "{:?}", on.dns);
    let first = dns_udp(&on).expect("a UDP listener");
    let answer = dns_client::udp(first, "0.reloaded.pnrp.net", RecordType::AAAA, None);
    assert_eq!(dns_client::answers(&answer), ["fd70::5"]);

    // Moved to a port something else holds: refused, and the listeners in effect come back.
    let squatter = UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    std::fs::write(
        &config,
        format!("cloud = false\ndns_listen = [\"{taken}\"]\n"),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    let log = wait_for_log(&daemon, "DNS front end not reloaded");
    assert!(log.contains("the previous listeners are back"), "{log}");
    let back = dns_udp(&status(&mut connection)).expect("the listener is back");
    let answer = dns_client::udp(back, "0.reloaded.pnrp.net", RecordType::AAAA, None);
    assert_eq!(dns_client::answers(&answer), ["fd70::5"]);
    drop(squatter);

    // Turned off: no listener, nothing answers at the old address; the registration stays.
    std::fs::write(&config, "cloud = false\ndns_listen = []\n").unwrap();
    daemon.signal(libc::SIGHUP);
    wait_for_log(&daemon, "DNS front end reloaded: dns_listen []");
    let off = status(&mut connection);
    assert!(off.dns.is_empty(), "{:?}", off.dns);
    assert_eq!(off.registrations, 1);
    let query = dns_client::query_bytes(7, "0.reloaded.pnrp.net", RecordType::AAAA, None);
    assert!(dns_client::udp_bytes(back, &query).is_none());
    assert!(daemon.stop().success());
}
