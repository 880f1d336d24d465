//! The DNS front end of a real `pnrpd --no-cloud` over loopback sockets: the same answers as the
//! socket (registrations show at once, and are gone when unregistered), every record type, the
//! negative answers, truncation and TCP, malformed datagrams, and the counters `pnrpctl status`
//! shows. Ports are chosen by the kernel (`--dns 127.0.0.1:0`) and read back from the status.

use std::net::SocketAddr;
use std::process::Command;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use pnrp_tests::dns_client::{answers, query_bytes, tcp, tcp_bytes, udp, udp_bytes};
use pnrp_tests::harness::{describe, multicall, run_with_timeout, Sandbox};

/// The UDP listeners from `pnrpctl status --json`, IPv4 first.
fn listeners(sandbox: &Sandbox) -> Vec<SocketAddr> {
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.ctl_ok(&["status", "--json"])).expect("status JSON");
    let mut udp: Vec<SocketAddr> = json["dns"]
        .as_array()
        .expect("dns listeners")
        .iter()
        .filter(|listener| listener["transport"] == "Udp")
        .map(|listener| listener["address"].as_str().unwrap().parse().unwrap())
        .collect();
    udp.sort_by_key(|address: &SocketAddr| address.is_ipv6());
    udp
}

fn counter(sandbox: &Sandbox, name: &str) -> u64 {
    let json: serde_json::Value =
        serde_json::from_str(&sandbox.ctl_ok(&["status", "--json"])).expect("status JSON");
    json["dns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|listener| listener["counters"][name].as_u64().unwrap())
        .sum()
}

#[test]
fn answers_what_the_socket_answers() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon_with(&["--dns", "127.0.0.1:0", "--dns", "[::1]:0"]);
    let servers = listeners(&sandbox);
    assert_eq!(servers.len(), 2, "{servers:?}");
    let (v4, v6) = (servers[0], servers[1]);
    sandbox.ctl_ok(&[
        "register",
        "0.printer",
        "--address",
        "fd00::7",
        "--address",
        "192.0.2.7",
        "--port",
        "631",
        "--protocol",
        "tcp",
        "--comment",
        "lab printer",
    ]);

    for server in [v4, v6] {
        let message = udp(server, "0.printer.pnrp.net", RecordType::AAAA, None);
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        assert!(message.metadata.authoritative);
        assert_eq!(answers(&message), ["fd00::7"]);
        assert!(message.answers[0].ttl <= 10);
    }
    assert_eq!(
        answers(&udp(v4, "printer.pnrp.net", RecordType::A, Some(1232))),
        ["192.0.2.7"]
    );
    let srv = udp(v4, "_ipp._tcp.0.printer.pnrp.net", RecordType::SRV, None);
    assert_eq!(answers(&srv), ["0 0 631 0.printer.pnrp.net."]);
    assert_eq!(
        answers(&udp(
            v4,
            "_631._tcp.0.printer.pnrp.net",
            RecordType::SRV,
            None
        )),
        ["0 0 631 0.printer.pnrp.net."]
    );
    assert_eq!(
        answers(&udp(v4, "0.printer.pnrp.net", RecordType::TXT, None)),
        ["lab printer"]
    );
    assert_eq!(
        answers(&udp(v4, "7.2.0.192.in-addr.arpa", RecordType::PTR, None)),
        ["0.printer.pnrp.net."]
    );
    // The question's letter case comes back as asked; the classifier keeps its case, as in
    // the socket protocol (0.PRINTER is another name).
    let mixed = udp(v4, "0.printer.PnRp.NeT", RecordType::AAAA, None);
    assert_eq!(mixed.queries[0].name().to_ascii(), "0.printer.PnRp.NeT.");
    assert_eq!(answers(&mixed), ["fd00::7"]);
    let other_case = udp(v4, "0.PRINTER.pnrp.net", RecordType::AAAA, None);
    assert_eq!(other_case.metadata.response_code, ResponseCode::NXDomain);

    // Negative answers.
    let nodata = udp(v4, "0.printer.pnrp.net", RecordType::MX, None);
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty() && !nodata.authorities.is_empty());
    let missing = udp(v4, "0.nobody.pnrp.net", RecordType::AAAA, None);
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);
    let refused = udp(v4, "example.com", RecordType::A, None);
    assert_eq!(refused.metadata.response_code, ResponseCode::Refused);

    // TCP gives the same answer.
    assert_eq!(
        answers(&tcp(v6, "0.printer.pnrp.net", RecordType::AAAA)),
        ["fd00::7"]
    );

    // Unregistered: gone at once, as for the socket.
    sandbox.ctl_ok(&["unregister", "0.printer"]);
    let gone = udp(v4, "0.printer.pnrp.net", RecordType::AAAA, None);
    assert_eq!(gone.metadata.response_code, ResponseCode::NXDomain);

    let status = sandbox.ctl_ok(&["status"]);
    assert!(
        status.contains(&format!("DNS udp {v4}:")) && status.contains(&format!("DNS tcp {v6}:")),
        "{status}"
    );
    // doctor asks each UDP listener for the zone's SOA.
    let doctor = String::from_utf8_lossy(&sandbox.ctl(&["doctor"]).stdout).into_owned();
    for server in [v4, v6] {
        assert!(
            doctor.contains(&format!(
                "ok       DNS: answers pnrp.net at {server} (UDP and TCP)"
            )),
            "{doctor}"
        );
    }
    assert!(counter(&sandbox, "answered") >= 9, "{status}");
    assert!(counter(&sandbox, "nxdomain") >= 3, "{status}");
    assert_eq!(counter(&sandbox, "refused"), 1, "{status}");
}

#[test]
fn a_large_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon_with(&["--dns", "127.0.0.1:0"]);
    let server = listeners(&sandbox)[0];
    let mut args = vec!["register".to_owned(), "0.big".to_owned()];
    for index in 1..=40 {
        args.extend(["--address".to_owned(), format!("fd00::{index:x}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sandbox.ctl_ok(&args);
    let cut = udp(server, "0.big.pnrp.net", RecordType::AAAA, None);
    assert!(cut.metadata.truncation, "{cut:?}");
    assert!(cut.answers.is_empty());
    let whole = tcp(server, "0.big.pnrp.net", RecordType::AAAA);
    assert!(!whole.metadata.truncation);
    assert_eq!(whole.answers.len(), 40);
    // With EDNS the datagram may be larger: 40 × 28 bytes fits in 1232.
    let edns = udp(server, "0.big.pnrp.net", RecordType::AAAA, Some(1232));
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 40);
    assert!(counter(&sandbox, "truncated") >= 1);
}

#[test]
fn malformed_queries_never_stop_it() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon_with(&["--dns", "127.0.0.1:0"]);
    let server = listeners(&sandbox)[0];
    sandbox.ctl_ok(&["register", "0.alive", "--address", "fd00::1"]);
    let good = query_bytes(1, "0.alive.pnrp.net", RecordType::AAAA, None);
    let mut looped = good[..12].to_vec();
    looped.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1]);
    let mut huge_counts = good.clone();
    huge_counts[4..12].fill(0xff);
    let mut state: u64 = 12345;
    let noise: Vec<u8> = (0..3000)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            (state >> 33) as u8
        })
        .collect();
    for bytes in [
        &good[..5],
        &good[..good.len() - 2],
        &looped,
        &huge_counts,
        &noise[..],
        &noise[..12],
    ] {
        // An answer, if any, is FORMERR with the query's ID; none is fine too.
        if let Some(answer) = udp_bytes(server, bytes).filter(|_| bytes.len() >= 12) {
            let message = hickory_proto::op::Message::from_vec(&answer).expect("decodes");
            assert_eq!(message.metadata.response_code, ResponseCode::FormErr);
        }
        let _ = tcp_bytes(server, bytes);
    }
    assert_eq!(
        answers(&udp(server, "0.alive.pnrp.net", RecordType::AAAA, None)),
        ["fd00::1"]
    );
    assert!(counter(&sandbox, "malformed") >= 4);
}

#[test]
fn the_dns_settings_are_checked() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/pnrpd.toml");
    let mut command = Command::new(multicall());
    command.args(["pnrpd", "--check-config", "--config", shipped]);
    let out = run_with_timeout(command);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dns_listen = [\"127.0.0.1:3553\", \"[::1]:3553\"]"),
        "{stdout}"
    );
    for bad in ["--dns=localhost", "--dns=127.0.0.1:x"] {
        let mut command = Command::new(multicall());
        command.args(["pnrpd", "--check-config", "--config", "/dev/null", bad]);
        let out = run_with_timeout(command);
        assert!(!out.status.success(), "{bad}: {}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("DNS"),
            "{}",
            describe(&out)
        );
    }
    // A port already taken: pnrpd says so and does not start.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let sandbox = Sandbox::standard();
    let mut command = Command::new(multicall());
    command
        .args(["pnrpd", "--config", "/dev/null", "--no-cloud", "--socket"])
        .arg(sandbox.socket())
        .arg("--state-dir")
        .arg(sandbox.state_dir())
        .arg(format!("--dns=127.0.0.1:{port}"));
    let out = run_with_timeout(command);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("DNS UDP 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!sandbox.socket().exists(), "the socket was not taken");
}
