//! A fake `pnrpd` on a temporary Unix socket, and helpers to read what the module packed.

#![allow(dead_code)] // Each test binary uses a different part.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use libc::c_char;
use nss_pnrp::{Config, GaihAddrtuple};
use pnrp_shared::ipc::{
    decode_body, encode_frame, frame_length, Record, Request, Response, ScopedAddr, HEADER_LEN,
};
use pnrp_shared::PeerName;

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
    dir: PathBuf,
    pub path: PathBuf,
    /// Every request received, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A fresh empty directory under the temp dir, short enough for sun_path.
pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "nss_pnrp-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A socket path in a directory that does not exist, so nothing is created or left behind.
pub fn absent_path() -> PathBuf {
    std::env::temp_dir()
        .join(format!("nss_pnrp-absent-{}", std::process::id()))
        .join("pnrpd.sock")
}

impl FakeDaemon {
    pub fn start(reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let dir = temp_dir();
        let path = dir.join("pnrpd.sock");
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
            dir,
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

    pub fn config(&self) -> Config {
        Config {
            socket_path: self.path.clone(),
            timeout: Duration::from_secs(5),
        }
    }

    pub fn config_with_timeout(&self, timeout: Duration) -> Config {
        Config {
            socket_path: self.path.clone(),
            timeout,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
    let wait_for_hang_up = |mut stream: UnixStream| {
        let _ = stream.read_to_end(&mut Vec::new());
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

pub fn peer(name: &str) -> PeerName {
    name.parse().unwrap()
}

pub fn v6(text: &str, scope_id: u32) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id,
    }
}

pub fn v4(text: &str) -> ScopedAddr {
    ScopedAddr {
        ip: text.parse::<std::net::Ipv4Addr>().unwrap().to_ipv6_mapped(),
        scope_id: 0,
    }
}

pub fn record(name: &str, addresses: Vec<ScopedAddr>) -> Record {
    Record {
        name: peer(name),
        addresses,
        port: None,
        protocol: Default::default(),
        comment: None,
        payload: None,
        source: "local".into(),
    }
}

/// `0.myapp`: a global IPv6, an IPv4 and a link-local IPv6 with scope 3.
pub fn three_addresses() -> Response {
    Response::Resolved(vec![record(
        "0.myapp",
        vec![v6("2001:db8::1", 0), v4("192.0.2.7"), v6("fe80::1", 3)],
    )])
}

/// A buffer with 64 poison bytes on each side of the `len` bytes handed out.
pub struct Guarded {
    storage: Vec<u8>,
    len: usize,
}

pub const GUARD: usize = 64;
pub const POISON: u8 = 0xA5;

impl Guarded {
    pub fn new(len: usize) -> Self {
        Guarded {
            storage: vec![POISON; len + 2 * GUARD],
            len,
        }
    }

    pub fn ptr(&mut self) -> *mut c_char {
        self.storage[GUARD..].as_mut_ptr().cast()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether `pointer .. pointer + size` lies inside the handed-out bytes.
    pub fn holds(&self, pointer: *const u8, size: usize) -> bool {
        let start = self.storage[GUARD..].as_ptr() as usize;
        let pointer = pointer as usize;
        pointer >= start
            && pointer
                .checked_add(size)
                .is_some_and(|end| end <= start + self.len)
    }

    pub fn guards_intact(&self) -> bool {
        let (before, rest) = self.storage.split_at(GUARD);
        let after = &rest[self.len..];
        before.iter().chain(after).all(|&byte| byte == POISON)
    }

    /// The NUL-terminated string at `pointer`, which must lie wholly inside.
    pub fn c_str(&self, pointer: *const c_char) -> String {
        assert!(
            self.holds(pointer.cast(), 1),
            "string pointer outside the buffer"
        );
        let start = pointer as usize - self.storage[GUARD..].as_ptr() as usize;
        let bytes = &self.storage[GUARD + start..GUARD + self.len];
        let text = CStr::from_bytes_until_nul(bytes).expect("string runs past the buffer");
        text.to_str().unwrap().to_owned()
    }
}

/// One tuple as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tuple {
    pub name: String,
    pub family: i32,
    pub bytes: Vec<u8>,
    pub scopeid: u32,
}

impl Tuple {
    pub fn v6(name: &str, text: &str, scopeid: u32) -> Self {
        let ip: Ipv6Addr = text.parse().unwrap();
        Tuple {
            name: name.into(),
            family: libc::AF_INET6,
            bytes: ip.octets().to_vec(),
            scopeid,
        }
    }

    pub fn v4(name: &str, text: &str) -> Self {
        let ip: std::net::Ipv4Addr = text.parse().unwrap();
        Tuple {
            name: name.into(),
            family: libc::AF_INET,
            bytes: ip.octets().to_vec(),
            scopeid: 0,
        }
    }
}

/// Walks a tuple list whose tuples (except perhaps `first`, the caller's own) lie in `buffer`.
pub fn read_tuples(buffer: &Guarded, first: &GaihAddrtuple) -> Vec<Tuple> {
    let mut tuples = Vec::new();
    let mut tuple = *first;
    loop {
        let bytes: Vec<u8> = tuple
            .addr
            .iter()
            .flat_map(|word| word.to_ne_bytes())
            .collect();
        let bytes = match tuple.family {
            libc::AF_INET => bytes[..4].to_vec(),
            libc::AF_INET6 => bytes,
            family => panic!("family {family}"),
        };
        tuples.push(Tuple {
            name: buffer.c_str(tuple.name),
            family: tuple.family,
            bytes,
            scopeid: tuple.scopeid,
        });
        if tuple.next.is_null() {
            return tuples;
        }
        let size = std::mem::size_of::<GaihAddrtuple>();
        assert!(
            buffer.holds(tuple.next.cast(), size),
            "tuple outside the buffer"
        );
        assert_eq!(
            tuple.next as usize % std::mem::align_of::<GaihAddrtuple>(),
            0
        );
        // SAFETY: checked to lie inside the buffer, aligned.
        tuple = unsafe { *tuple.next };
        assert!(tuples.len() < 10_000, "tuple list loops");
    }
}

/// A hostent as plain data: name, aliases, family, address length, addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub aliases: Vec<String>,
    pub family: i32,
    pub length: i32,
    pub addresses: Vec<Vec<u8>>,
}

/// Reads a hostent, checking that everything it points at lies inside `buffer`.
pub fn read_hostent(buffer: &Guarded, host: &libc::hostent) -> Host {
    let pointer_size = std::mem::size_of::<*mut c_char>();
    let read_array = |array: *mut *mut c_char| {
        let mut items = Vec::new();
        for index in 0.. {
            let slot = array.wrapping_add(index);
            assert!(
                buffer.holds(slot.cast(), pointer_size),
                "pointer array outside the buffer"
            );
            assert_eq!(slot as usize % pointer_size, 0, "misaligned pointer array");
            // SAFETY: checked to lie inside the buffer, aligned.
            let item = unsafe { *slot };
            if item.is_null() {
                return items;
            }
            items.push(item);
        }
        unreachable!()
    };
    let length = host.h_length;
    Host {
        name: buffer.c_str(host.h_name),
        aliases: read_array(host.h_aliases)
            .into_iter()
            .map(|alias| buffer.c_str(alias))
            .collect(),
        family: host.h_addrtype,
        length,
        addresses: read_array(host.h_addr_list)
            .into_iter()
            .map(|address| {
                assert!(
                    buffer.holds(address.cast(), length as usize),
                    "address outside"
                );
                assert_eq!(address as usize % 4, 0, "misaligned address");
                // SAFETY: checked to lie inside the buffer.
                unsafe { std::slice::from_raw_parts(address.cast::<u8>(), length as usize) }
                    .to_vec()
            })
            .collect(),
    }
}

pub fn octets6(text: &str) -> Vec<u8> {
    text.parse::<Ipv6Addr>().unwrap().octets().to_vec()
}

pub fn octets4(text: &str) -> Vec<u8> {
    text.parse::<std::net::Ipv4Addr>()
        .unwrap()
        .octets()
        .to_vec()
}

pub fn empty_hostent() -> libc::hostent {
    libc::hostent {
        h_name: std::ptr::null_mut(),
        h_aliases: std::ptr::null_mut(),
        h_addrtype: 0,
        h_length: 0,
        h_addr_list: std::ptr::null_mut(),
    }
}
