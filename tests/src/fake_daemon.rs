//! A fake `pnrpd` on a temporary Unix socket, with honest answers and the table of hostile
//! ones ([`hostile_replies`]) that the NSS module's tests (`tests/nss.rs`, and under valgrind
//! `system/hostile_daemons.rs`) meet it with.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use libc::c_int;
use nss_pnrp::Config;
use pnrp_shared::ipc::{
    decode_body, encode_frame, frame_length, ErrorKind, Record, Request, Response, ScopedAddr,
    Source, HEADER_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION,
};
use pnrp_shared::PeerName;

use crate::harness::TempDir;

/// What the fake daemon does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer this response as a proper frame.
    Frame(Response),
    /// Write these bytes, then close.
    Raw(Vec<u8>),
    /// Write these bytes, then hold the connection open until the client hangs up.
    RawThenStall(Vec<u8>),
    /// Write these bytes one at a time with this pause before each, then close.
    Trickle(Vec<u8>, Duration),
    /// Never answer.
    Stall,
}

/// A fake daemon serving `reply` for every request, each connection in its own thread.
#[derive(Debug)]
pub struct FakeDaemon {
    _dir: TempDir,
    /// Its socket.
    pub path: PathBuf,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
}

/// A socket path in a directory that does not exist, so nothing is created or left behind.
pub fn absent_path() -> PathBuf {
    std::env::temp_dir()
        .join(format!("pnrp-absent-{}", std::process::id()))
        .join("pnrpd.sock")
}

impl FakeDaemon {
    /// A daemon answering each request as `reply` says.
    pub fn start(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let dir = TempDir::new("fake");
        let path = dir.path().join("pnrpd.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(reply);
        let seen = requests.clone();
        // Detached: the listener lives until the test process exits.
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (reply, seen) = (reply.clone(), seen.clone());
                thread::spawn(move || serve(stream, &*reply, &seen));
            }
        });
        FakeDaemon {
            _dir: dir,
            path,
            requests,
        }
    }

    /// A daemon with fixed answers to Resolve and ResolveAddress.
    pub fn answering(resolve: Response, reverse: Response) -> Self {
        FakeDaemon::start(move |request| match request {
            Request::Resolve { .. } => Reply::Frame(resolve.clone()),
            _ => Reply::Frame(reverse.clone()),
        })
    }

    /// The module's configuration for this daemon, with its default deadline and no snapshot.
    pub fn config(&self) -> Config {
        self.config_with_timeout(Duration::from_secs(5))
    }

    /// The module's configuration for this daemon, with another deadline and no snapshot.
    pub fn config_with_timeout(&self, timeout: Duration) -> Config {
        Config {
            socket_path: self.path.clone(),
            timeout,
            snapshot: None,
        }
    }

    /// Where this daemon's snapshot of local names is (`pnrp_shared::snapshot::path_for`);
    /// nothing is there until the test writes it.
    pub fn snapshot_path(&self) -> PathBuf {
        pnrp_shared::snapshot::path_for(&self.path)
    }

    /// The module's configuration for this daemon, reading the snapshot at
    /// [`FakeDaemon::snapshot_path`] first, as installed.
    pub fn config_with_snapshot(&self) -> Config {
        Config {
            snapshot: Some(self.snapshot_path()),
            ..self.config()
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut stream: UnixStream, reply: &dyn Fn(&Request) -> Reply, seen: &Mutex<Vec<Request>>) {
    let mut header = [0; HEADER_LEN];
    if stream.read_exact(&mut header).is_err() {
        return;
    }
    let mut body = vec![0; frame_length(header).unwrap()];
    stream.read_exact(&mut body).unwrap();
    let request: Request = decode_body(&body).unwrap();
    seen.lock().unwrap().push(request.clone());
    // Until the client closes: POLLHUP, not the end of its data (the module shuts its side for
    // writing as soon as its request is sent).
    let wait_for_hang_up = |stream: UnixStream| {
        use std::os::fd::AsRawFd;
        let mut poll = libc::pollfd {
            fd: stream.as_raw_fd(),
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd; waits for the hang-up only.
        while unsafe { libc::poll(&mut poll, 1, -1) } == 0
            || poll.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) == 0
        {}
    };
    match reply(&request) {
        Reply::Frame(response) => {
            let _ = stream.write_all(&encode_frame(&response).unwrap());
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
        }
        Reply::RawThenStall(bytes) => {
            let _ = stream.write_all(&bytes);
            wait_for_hang_up(stream);
        }
        Reply::Trickle(bytes, pause) => {
            for byte in bytes {
                thread::sleep(pause);
                if stream.write_all(&[byte]).is_err() {
                    return;
                }
            }
        }
        Reply::Stall => wait_for_hang_up(stream),
    }
}

/// A peer name from text.
pub fn peer(name: &str) -> PeerName {
    name.parse().unwrap()
}

/// An IPv6 address with its scope.
pub fn v6(text: &str, scope_id: u32) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id,
    }
}

/// An IPv4 address, v4-mapped.
pub fn v4(text: &str) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse::<std::net::Ipv4Addr>().unwrap().to_ipv6_mapped(),
        scope_id: 0,
    }
}

/// A local record of `name` at `addresses`.
pub fn record(name: &str, addresses: Vec<ScopedAddr>) -> Record {
    Record {
        name: peer(name),
        addresses,
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
        source: Source::Local,
    }
}

/// `0.myapp`: a global IPv6, an IPv4 and a link-local IPv6 with scope 3.
pub fn three_addresses() -> Response {
    Response::Resolved(vec![record(
        "0.myapp",
        vec![v6("2001:db8::1", 0), v4("192.0.2.7"), v6("fe80::1", 3)],
    )])
}

/// How a hostile daemon's exchange must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// At once: what it sent settles the matter.
    Promptly,
    /// At the deadline: it never finishes.
    AtTheDeadline,
}

/// A hostile daemon: what it answers, how the lookup must end, and the errno the module
/// reports (with `TRY_AGAIN`, a temporary failure).
#[derive(Debug, Clone)]
pub struct Hostile {
    /// What it does, in words.
    pub case: &'static str,
    /// Its answer.
    pub reply: Reply,
    /// When the lookup must end.
    pub ends: Ends,
    /// The errno the module reports.
    pub errno: c_int,
}

/// Every way a daemon may answer badly, for a module with this `deadline`.
pub fn hostile_replies(deadline: Duration) -> Vec<Hostile> {
    let frame = encode_frame(&three_addresses()).expect("frame");
    let length = |n: u32| n.to_be_bytes().to_vec();
    let mut wrong_version = frame.clone();
    wrong_version[4] = PROTOCOL_VERSION + 1;
    let mut huge = length(MAX_FRAME_LEN as u32);
    huge.push(PROTOCOL_VERSION);
    huge.resize(4 + MAX_FRAME_LEN, 0xff);
    let hostile = |case, reply, ends, errno| Hostile {
        case,
        reply,
        ends,
        errno,
    };
    use Ends::{AtTheDeadline, Promptly};
    vec![
        // Announced lengths past the limit are refused before reading or allocating the body.
        hostile(
            "a frame announcing 4 GiB",
            Reply::RawThenStall(length(u32::MAX)),
            Promptly,
            libc::EMSGSIZE,
        ),
        hostile(
            "a frame just over the limit",
            Reply::RawThenStall(length(MAX_FRAME_LEN as u32 + 1)),
            Promptly,
            libc::EMSGSIZE,
        ),
        hostile(
            "an HTTP error page",
            Reply::Raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Promptly,
            libc::EMSGSIZE,
        ),
        hostile(
            "a frame whose body is not a response",
            Reply::Raw([length(5), vec![PROTOCOL_VERSION, 0xff, 0xff, 0xff, 0xff]].concat()),
            Promptly,
            libc::EPROTO,
        ),
        // The largest frame allowed, sent whole: read, then refused as malformed.
        hostile(
            "a 1 MiB frame of garbage",
            Reply::Raw(huge),
            Promptly,
            libc::EPROTO,
        ),
        hostile(
            "an empty frame",
            Reply::Raw(length(0)),
            Promptly,
            libc::EPROTO,
        ),
        hostile(
            "another protocol version",
            Reply::Raw(wrong_version),
            Promptly,
            libc::EPROTO,
        ),
        hostile(
            "closed three bytes before the end of the body",
            Reply::Raw(frame[..frame.len() - 3].to_vec()),
            Promptly,
            libc::ECONNRESET,
        ),
        hostile(
            "closed inside the length",
            Reply::Raw(frame[..2].to_vec()),
            Promptly,
            libc::ECONNRESET,
        ),
        hostile(
            "closed without a byte",
            Reply::Raw(Vec::new()),
            Promptly,
            libc::ECONNRESET,
        ),
        hostile(
            "an answer to another question",
            Reply::Frame(Response::Names(vec![peer("0.x")])),
            Promptly,
            libc::EPROTO,
        ),
        hostile(
            "shutting down",
            Reply::Frame(Response::Error {
                kind: ErrorKind::Unavailable,
                message: "shutting down".into(),
            }),
            Promptly,
            libc::EAGAIN,
        ),
        hostile(
            "never answers",
            Reply::Stall,
            AtTheDeadline,
            libc::ETIMEDOUT,
        ),
        hostile(
            "announces a frame, then never sends it",
            Reply::RawThenStall(length(MAX_FRAME_LEN as u32)),
            AtTheDeadline,
            libc::ETIMEDOUT,
        ),
        // Every byte comes well within the deadline, but the whole answer does not.
        hostile(
            "a trickle of one byte per quarter deadline",
            Reply::Trickle(frame, deadline / 4),
            AtTheDeadline,
            libc::ETIMEDOUT,
        ),
    ]
}
