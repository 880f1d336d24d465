//! A real `pnrpd --no-cloud` and its two fast paths: the snapshot of local names beside its
//! socket (written before pnrpctl hears "done", owned by the daemon's user, mode 0644, removed
//! at a clean stop, rewritten after a crash), and resolves answered from the view, several on
//! one connection, in order, or in the accept loop for a client that says it is done sending
//! (as the NSS module does), which then sees the connection closed.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use pnrp_shared::ipc::{self, Request, Response, HEADER_LEN};
use pnrp_shared::snapshot::{self, Snapshot};
use pnrp_tests::harness::Sandbox;
use pnrp_tests::nss_buffer::Tuple;

/// The names in the snapshot, in order; `None` when there is no snapshot.
fn snapshot_names(path: &Path) -> Option<Vec<String>> {
    let bytes = std::fs::read(path).ok()?;
    let snapshot = Snapshot::parse(&bytes).expect("the daemon's snapshot parses");
    Some(
        snapshot
            .entries()
            .iter()
            .map(|entry| entry.name.to_string())
            .collect(),
    )
}

#[test]
fn the_snapshot_follows_pnrpctl_before_it_returns() {
    let sandbox = Sandbox::standard();
    let daemon = sandbox.start_daemon();
    let path = snapshot::path_for(&sandbox.socket());
    assert_eq!(snapshot_names(&path), Some(vec![]), "written at start");
    let metadata = std::fs::metadata(&path).unwrap();
    let socket = std::fs::metadata(sandbox.socket()).unwrap();
    assert_eq!(metadata.uid(), socket.uid(), "owned by the socket's owner");
    assert_eq!(metadata.mode() & 0o7777, 0o644);

    sandbox.ctl_ok(&["register", "0.one", "--address", "fd70::1"]);
    sandbox.ctl_ok(&["register", "0.two", "--address", "fd70::2"]);
    assert_eq!(
        snapshot_names(&path),
        Some(vec!["0.one".into(), "0.two".into()])
    );
    sandbox.ctl_ok(&["update", "0.one", "--address", "fd70::11"]);
    let bytes = std::fs::read(&path).unwrap();
    let snapshot = Snapshot::parse(&bytes).unwrap();
    let one: Vec<String> = snapshot
        .get("0.one")
        .unwrap()
        .addresses()
        .map(|address| address.ip.to_string())
        .collect();
    assert_eq!(one, ["fd70::11"], "an update is in it when pnrpctl returns");
    // Checked the moment pnrpctl has returned: the daemon wrote it before acknowledging.
    sandbox.ctl_ok(&["unregister", "0.one"]);
    assert_eq!(snapshot_names(&path), Some(vec!["0.two".into()]));

    // After a crash, the next daemon writes it again from the state directory.
    daemon.kill9();
    std::fs::write(&path, b"left by the crash").unwrap();
    let daemon = sandbox.start_daemon();
    assert_eq!(snapshot_names(&path), Some(vec!["0.two".into()]));
    // A clean stop removes it with the socket: no reader believes a daemon that is gone.
    assert!(daemon.stop().success());
    assert!(!path.exists(), "snapshot left after a clean stop");
}

#[test]
fn resolves_are_answered_in_order_several_to_a_connection() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.here", "--address", "fd70::7"]);
    let resolve = |name: &str| Request::Resolve {
        name: name.parse().unwrap(),
    };
    let requests = [
        resolve("0.here"),
        resolve("0.absent"),
        Request::List,
        resolve("0.here"),
    ];
    // All four in one write: answered one after the other, in order.
    let mut bytes = Vec::new();
    for request in &requests {
        bytes.extend(ipc::encode_frame(request).unwrap());
    }
    let mut stream = UnixStream::connect(sandbox.socket()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(&bytes).unwrap();
    let mut answers = Vec::new();
    for _ in &requests {
        let mut header = [0; HEADER_LEN];
        stream.read_exact(&mut header).unwrap();
        let mut body = vec![0; ipc::frame_length(header).unwrap()];
        stream.read_exact(&mut body).unwrap();
        answers.push(ipc::decode_body::<Response>(&body).unwrap());
    }
    let here = |answer: &Response| match answer {
        Response::Resolved(records) => {
            records.len() == 1 && records[0].addresses[0].ip.to_string() == "fd70::7"
        }
        _ => false,
    };
    assert!(here(&answers[0]), "{:?}", answers[0]);
    assert_eq!(answers[1], Response::NotFound);
    assert!(
        matches!(&answers[2], Response::Registrations(list) if list.len() == 1),
        "{:?}",
        answers[2]
    );
    assert!(here(&answers[3]), "{:?}", answers[3]);
    // A request split across writes, a byte at a time, is still one request.
    let frame = ipc::encode_frame(&resolve("0.here")).unwrap();
    for byte in frame {
        stream.write_all(&[byte]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    let mut body = vec![0; ipc::frame_length(header).unwrap()];
    stream.read_exact(&mut body).unwrap();
    assert!(here(&ipc::decode_body::<Response>(&body).unwrap()));
}

/// Reads one answer frame.
fn read_answer(stream: &mut UnixStream) -> Response {
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header).unwrap();
    let mut body = vec![0; ipc::frame_length(header).unwrap()];
    stream.read_exact(&mut body).unwrap();
    ipc::decode_body::<Response>(&body).unwrap()
}

/// Everything the daemon sends on a connection until it closes it: the answers.
fn answers_until_closed(stream: &mut UnixStream) -> Vec<Response> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let mut answers = Vec::new();
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        let header: [u8; HEADER_LEN] = rest[..HEADER_LEN].try_into().unwrap();
        let length = ipc::frame_length(header).unwrap();
        answers.push(ipc::decode_body(&rest[HEADER_LEN..HEADER_LEN + length]).unwrap());
        rest = &rest[HEADER_LEN + length..];
    }
    answers
}

#[test]
fn a_client_done_sending_is_answered_and_closed() {
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    sandbox.ctl_ok(&["register", "0.here", "--address", "fd70::7"]);
    let resolve = |name: &str| Request::Resolve {
        name: name.parse().unwrap(),
    };
    let connect = || {
        let stream = UnixStream::connect(sandbox.socket()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    };
    let here = |answer: &Response| match answer {
        Response::Resolved(records) => {
            records.len() == 1 && records[0].addresses[0].ip.to_string() == "fd70::7"
        }
        _ => false,
    };
    // One request, then the end (the module's way), whether the view or the run loop answers
    // it, and several: every answer in order, then the daemon closes (read_to_end returns; a
    // daemon waiting for more would time the read out).
    for requests in [
        vec![resolve("0.here")],
        vec![resolve("0.absent")],
        vec![Request::List],
        vec![resolve("0.here"), Request::List, resolve("0.here")],
    ] {
        let mut stream = connect();
        let mut bytes = Vec::new();
        for request in &requests {
            bytes.extend(ipc::encode_frame(request).unwrap());
        }
        stream.write_all(&bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let answers = answers_until_closed(&mut stream);
        assert_eq!(answers.len(), requests.len(), "{requests:?}: {answers:?}");
        for (request, answer) in requests.iter().zip(&answers) {
            let expected = match request {
                Request::List => matches!(answer, Response::Registrations(list) if list.len() == 1),
                Request::Resolve { name } if name.to_string() == "0.here" => here(answer),
                _ => *answer == Response::NotFound,
            };
            assert!(expected, "{request:?}: {answer:?}");
        }
    }
    // A client that asks again after its first answer, without saying it is done: both answered.
    let mut stream = connect();
    for _ in 0..2 {
        stream
            .write_all(&ipc::encode_frame(&resolve("0.here")).unwrap())
            .unwrap();
        assert!(here(&read_answer(&mut stream)));
    }
    // A request cut short by the end: an error, then the connection closes.
    let mut stream = connect();
    let frame = ipc::encode_frame(&resolve("0.here")).unwrap();
    stream.write_all(&frame[..frame.len() - 1]).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let answers = answers_until_closed(&mut stream);
    assert!(
        matches!(answers[..], [Response::Error { .. }]),
        "{answers:?}"
    );
}

/// gethostbyname4 of `host` in this process, through the module with the sandbox's daemon and
/// snapshot: the addresses, or the status.
fn module_lookup(sandbox: &Sandbox, host: &str) -> Result<Vec<Tuple>, nss_pnrp::NssStatus> {
    use pnrp_tests::nss_buffer::{read_tuples, Guarded};
    let config = nss_pnrp::Config {
        socket_path: sandbox.socket(),
        timeout: Duration::from_secs(5),
        snapshot: Some(snapshot::path_for(&sandbox.socket())),
    };
    let mut buffer = Guarded::new(4096);
    let answer = pnrp_tests::nss_calls::byname4(|| config, host.as_bytes(), &mut buffer);
    if answer.status != nss_pnrp::NssStatus::Success {
        return Err(answer.status);
    }
    // SAFETY: success leaves a valid tuple in *pat.
    Ok(read_tuples(&buffer, unsafe { &*answer.result }))
}

#[test]
fn a_program_that_kept_the_snapshot_sees_pnrpctl_at_once() {
    // One process looking up again and again (the module keeps the snapshot between lookups):
    // each change is seen by the first lookup after pnrpctl returns.
    let sandbox = Sandbox::standard();
    let _daemon = sandbox.start_daemon();
    let host = "0.kept.pnrp.net";
    let at = |address: &str| Ok(vec![Tuple::v6(host, address, 0)]);
    sandbox.ctl_ok(&["register", "0.kept", "--address", "fd70::1"]);
    assert_eq!(module_lookup(&sandbox, host), at("fd70::1"));
    assert_eq!(module_lookup(&sandbox, host), at("fd70::1"));
    sandbox.ctl_ok(&["unregister", "0.kept"]);
    assert_eq!(
        module_lookup(&sandbox, host),
        Err(nss_pnrp::NssStatus::NotFound),
        "still answered from the kept snapshot after pnrpctl unregister returned"
    );
    sandbox.ctl_ok(&["register", "0.kept", "--address", "fd70::2"]);
    assert_eq!(module_lookup(&sandbox, host), at("fd70::2"));
    sandbox.ctl_ok(&["update", "0.kept", "--address", "fd70::3"]);
    assert_eq!(module_lookup(&sandbox, host), at("fd70::3"));
}
