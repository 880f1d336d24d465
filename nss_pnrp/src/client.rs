//! One request and one response with `pnrpd`, over a Unix stream socket, within one deadline.
//!
//! Plain blocking-style code over a non-blocking socket: every wait for `connect`, `send` or
//! `recv` is a `poll` bounded by the time left, so a daemon that accepts and then stalls, or
//! answers a byte at a time, costs at most the configured timeout in total. Where the call is
//! likely to succeed at once (the request into a fresh socket, the body after its header) it is
//! tried first and polled for only if it would block: two system calls fewer per lookup. Errors are errno values,
//! which the caller reports to glibc as they are.

use std::ffi::{CStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libc::{c_char, c_int};
use pnrp_shared::ipc::{
    decode_body, encode_frame, frame_length, FrameError, Request, Response, DEFAULT_SOCKET_PATH,
    HEADER_LEN,
};
use pnrp_shared::snapshot;

extern "C" {
    // The environment, as getenv reads it.
    static environ: *const *const c_char;
}

/// Where the daemon listens, where its snapshot of local names is, and how long one lookup may
/// take, connect to last byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The daemon's socket.
    pub socket_path: PathBuf,
    /// The whole budget of one request: connect, send and receive together.
    pub timeout: Duration,
    /// The daemon's snapshot of this machine's registrations, read before asking the socket;
    /// `None` always asks.
    pub snapshot: Option<PathBuf>,
}

impl Config {
    /// The budget when `PNRP_TIMEOUT_MS` is unset or unreadable.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5000);
    /// The largest budget `PNRP_TIMEOUT_MS` may ask for (smaller ones are raised to 1 ms): the
    /// variable can only shorten the wait, never lengthen it past the contract's 5 s.
    pub const MAX_TIMEOUT: Duration = Self::DEFAULT_TIMEOUT;

    /// `PNRP_SOCKET` and `PNRP_TIMEOUT_MS` as `secure_getenv` reads them, else the defaults; the
    /// snapshot beside the socket (`pnrp_shared::snapshot::path_for`).
    pub fn from_env() -> Self {
        let [socket_path, timeout] = env([c"PNRP_SOCKET", c"PNRP_TIMEOUT_MS"]);
        let socket_path = socket_path
            .filter(|path| !path.is_empty())
            .map(|path| PathBuf::from(OsString::from_vec(path)));
        let (socket_path, snapshot) = match socket_path {
            Some(socket_path) => {
                let snapshot = snapshot::path_for(&socket_path);
                (socket_path, snapshot)
            }
            // The usual case, on every lookup: no path arithmetic.
            None => (
                PathBuf::from(DEFAULT_SOCKET_PATH),
                PathBuf::from(snapshot::DEFAULT_PATH),
            ),
        };
        Config {
            snapshot: Some(snapshot),
            socket_path,
            timeout: parse_timeout(timeout.as_deref()),
        }
    }
}

/// Copies of the variables `names` (the environment may change after we return), read as
/// `secure_getenv` reads them: never in setuid and other secure-execution programs, so that the
/// environment cannot point them at another socket. One pass over the environment for all of
/// them, rather than one `secure_getenv` each: this runs on every lookup.
fn env<const N: usize>(names: [&CStr; N]) -> [Option<Vec<u8>>; N] {
    let mut values = [const { None }; N];
    // SAFETY: getauxval only reads the auxiliary vector. AT_SECURE is what secure_getenv obeys.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return values;
    }
    // SAFETY: `environ` is NULL or a NULL-terminated array of NUL-terminated strings. Reading it
    // races only with a concurrent setenv, the assumption every getenv caller makes.
    let mut entry = unsafe { environ };
    while !entry.is_null() {
        // SAFETY: as above; `entry` points into the array, before or at its NULL.
        let variable = unsafe { *entry };
        if variable.is_null() {
            break;
        }
        // Most variables differ at their first byte from all of ours, which share it.
        // SAFETY: the first byte of a NUL-terminated string.
        let first = unsafe { *variable } as u8;
        for (name, value) in names.iter().zip(values.iter_mut()) {
            let name = name.to_bytes();
            if name.first() != Some(&first) {
                continue;
            }
            // Compared byte by byte up to the first difference, which comes at the latest at
            // the variable's NUL (names have none): no strlen of every variable.
            // SAFETY: each byte read is at or before the variable's NUL.
            let at = |index: usize| unsafe { *variable.add(index) } as u8;
            if value.is_none()
                && name
                    .iter()
                    .enumerate()
                    .all(|(index, byte)| at(index) == *byte)
                && at(name.len()) == b'='
            {
                // SAFETY: the value is the NUL-terminated rest of the variable.
                let text = unsafe { CStr::from_ptr(variable.add(name.len() + 1)) };
                *value = Some(text.to_bytes().to_vec());
            }
        }
        // SAFETY: the array goes on to its NULL, which stopped the loop above.
        entry = unsafe { entry.add(1) };
    }
    values
}

/// Milliseconds in decimal, clamped to 1..=5000; anything unreadable means the default.
fn parse_timeout(value: Option<&[u8]>) -> Duration {
    value
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.clamp(1, Config::MAX_TIMEOUT.as_millis() as u64)))
        .unwrap_or(Config::DEFAULT_TIMEOUT)
}

/// Sends `request` and returns the daemon's response, or the errno that stopped it: the connect
/// error when the daemon is not there (`ENOENT`, `ECONNREFUSED`), `ETIMEDOUT` when the budget ran
/// out, `EMSGSIZE` for an oversized frame, `EPROTO` for one that does not decode, `ECONNRESET`
/// when the daemon hangs up mid-frame.
pub(crate) fn request(config: &Config, request: &Request) -> Result<Response, c_int> {
    let deadline = Deadline::after(config.timeout);
    let frame = encode_frame(request).map_err(|_| libc::EMSGSIZE)?;
    let socket = connect(&config.socket_path, &deadline)?;
    write_all(&socket, &frame, &deadline)?;
    // Nothing more to send: saying so lets the daemon answer in its accept loop and close,
    // without watching the connection for a next request (see pnrpd's server.rs). A failure
    // changes nothing: the daemon then waits for our close, as before.
    // SAFETY: a plain call on our own socket.
    unsafe { libc::shutdown(socket.as_raw_fd(), libc::SHUT_WR) };
    let mut header = [0; HEADER_LEN];
    // The daemon has not answered yet: wait before reading.
    read_exact(&socket, &mut header, &deadline, false)?;
    // Checked before allocating: a hostile length never costs more than MAX_FRAME_LEN.
    let length = frame_length(header).map_err(|error| match error {
        FrameError::TooLarge(_) => libc::EMSGSIZE,
        _ => libc::EPROTO,
    })?;
    // Fallible allocation: running out of memory must not abort the program we are loaded in.
    let mut body = Vec::new();
    body.try_reserve_exact(length).map_err(|_| libc::ENOMEM)?;
    body.resize(length, 0);
    // Usually in the same segment as its header: read at once.
    read_exact(&socket, &mut body, &deadline, true)?;
    decode_body(&body).map_err(|_| libc::EPROTO)
}

/// A point on the monotonic clock (`Instant` is `clock_gettime(CLOCK_MONOTONIC)` on Linux).
struct Deadline(Instant);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout.min(Config::MAX_TIMEOUT))
    }

    /// Whole milliseconds left, rounded down so that the budget is never overrun; `ETIMEDOUT`
    /// once less than a millisecond is left.
    fn remaining_ms(&self) -> Result<c_int, c_int> {
        let left = self.0.saturating_duration_since(Instant::now()).as_millis();
        if left == 0 {
            return Err(libc::ETIMEDOUT);
        }
        Ok(left.min(c_int::MAX as u128) as c_int)
    }
}

fn last_errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn connect(path: &Path, deadline: &Deadline) -> Result<OwnedFd, c_int> {
    let (address, length) = socket_address(path)?;
    // SAFETY: plain system call. CLOEXEC so a concurrent fork+exec elsewhere in the process does not
    // inherit it; NONBLOCK so every wait goes through `poll` with the deadline.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: `fd` was just opened and nothing else owns it; dropping closes it on every path.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    loop {
        // SAFETY: `address` is an initialised sockaddr_un and `length` does not exceed its size.
        let result = unsafe {
            libc::connect(
                fd,
                std::ptr::from_ref(&address).cast::<libc::sockaddr>(),
                length,
            )
        };
        if result == 0 {
            return Ok(socket);
        }
        match last_errno() {
            // The daemon's backlog is full. A Unix socket cannot be polled for room there, so retry
            // every millisecond until the deadline.
            libc::EAGAIN => sleep_ms(deadline.remaining_ms()?.min(1)),
            libc::EINPROGRESS | libc::EINTR => {
                wait(&socket, libc::POLLOUT, deadline)?;
                return match socket_error(&socket) {
                    0 => Ok(socket),
                    errno => Err(errno),
                };
            }
            errno => return Err(errno),
        }
    }
}

fn socket_address(path: &Path) -> Result<(libc::sockaddr_un, libc::socklen_t), c_int> {
    let path = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data, for which all zeroes is valid.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    // Room for the terminating NUL, which the zeroing provides.
    if path.is_empty() || path.contains(&0) || path.len() >= address.sun_path.len() {
        return Err(libc::ENAMETOOLONG);
    }
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (slot, &byte) in address.sun_path.iter_mut().zip(path) {
        *slot = byte as c_char;
    }
    let length = std::mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + 1;
    Ok((address, length as libc::socklen_t))
}

fn socket_error(socket: &OwnedFd) -> c_int {
    let mut error: c_int = 0;
    let mut length = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `error` and `length` are valid for writes and `length` is error's size.
    let result = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            std::ptr::from_mut(&mut error).cast(),
            &mut length,
        )
    };
    if result < 0 {
        last_errno()
    } else {
        error
    }
}

fn sleep_ms(ms: c_int) {
    // SAFETY: poll with no descriptors only sleeps; it neither reads nor writes memory.
    unsafe { libc::poll(std::ptr::null_mut(), 0, ms) };
}

/// Waits until `events` (or an error or hang-up, which the next call reports) or the deadline.
fn wait(socket: &OwnedFd, events: libc::c_short, deadline: &Deadline) -> Result<(), c_int> {
    loop {
        let timeout = deadline.remaining_ms()?;
        let mut poll_fd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll_fd, 1, timeout) } {
            ready if ready > 0 => return Ok(()),
            // Timed out, perhaps early by rounding: remaining_ms decides.
            0 => continue,
            _ => match last_errno() {
                libc::EINTR => continue,
                errno => return Err(errno),
            },
        }
    }
}

/// Sends all of `bytes`, trying each `send` first and polling only when it would block.
fn write_all(socket: &OwnedFd, mut bytes: &[u8], deadline: &Deadline) -> Result<(), c_int> {
    while !bytes.is_empty() {
        // Checked on every pass, not only in `wait`: the budget holds even if no call blocks.
        deadline.remaining_ms()?;
        // SAFETY: `bytes` is valid for reads of its length. MSG_NOSIGNAL: a daemon that hung up
        // must give EPIPE, not kill the host program with SIGPIPE.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent >= 0 {
            bytes = &bytes[sent as usize..];
            continue;
        }
        match last_errno() {
            libc::EAGAIN => wait(socket, libc::POLLOUT, deadline)?,
            libc::EINTR => continue,
            errno => return Err(errno),
        }
    }
    Ok(())
}

/// Fills `buffer` exactly: never asks the socket for more than is still owed. With `try_first`
/// the first `recv` is made before any `poll`; otherwise every `recv` waits for data first.
fn read_exact(
    socket: &OwnedFd,
    mut buffer: &mut [u8],
    deadline: &Deadline,
    mut try_first: bool,
) -> Result<(), c_int> {
    while !buffer.is_empty() {
        if !try_first {
            wait(socket, libc::POLLIN, deadline)?;
        }
        deadline.remaining_ms()?;
        // SAFETY: `buffer` is valid for writes of its length.
        let received = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        match received {
            0 => return Err(libc::ECONNRESET),
            received if received > 0 => {
                buffer = &mut buffer[received as usize..];
                try_first = true;
            }
            _ => match last_errno() {
                libc::EAGAIN => try_first = false,
                libc::EINTR => {}
                errno => return Err(errno),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_is_parsed_and_clamped() {
        assert_eq!(parse_timeout(None), Config::DEFAULT_TIMEOUT);
        assert_eq!(parse_timeout(Some(b"250")), Duration::from_millis(250));
        assert_eq!(parse_timeout(Some(b" 250\n")), Duration::from_millis(250));
        assert_eq!(parse_timeout(Some(b"0")), Duration::from_millis(1));
        assert_eq!(parse_timeout(Some(b"999999999999")), Config::MAX_TIMEOUT);
        for bad in [&b""[..], b"-5", b"1.5", b"ten", b"\xff"] {
            assert_eq!(parse_timeout(Some(bad)), Config::DEFAULT_TIMEOUT);
        }
    }

    #[test]
    fn socket_paths_must_fit_sun_path() {
        assert!(socket_address(Path::new("/run/pnrp/pnrpd.sock")).is_ok());
        assert_eq!(
            socket_address(Path::new("")).unwrap_err(),
            libc::ENAMETOOLONG
        );
        let long = format!("/{}", "x".repeat(107));
        assert_eq!(
            socket_address(Path::new(&long)).unwrap_err(),
            libc::ENAMETOOLONG
        );
        assert!(socket_address(Path::new(&long[..107])).is_ok());
    }

    #[test]
    fn deadline_runs_out() {
        let deadline = Deadline::after(Duration::ZERO);
        assert_eq!(deadline.remaining_ms(), Err(libc::ETIMEDOUT));
        let deadline = Deadline::after(Duration::from_secs(3600));
        assert!((4_990..5_000).contains(&deadline.remaining_ms().unwrap()));
    }
}
