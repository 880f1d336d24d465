//! The Unix-socket server: binds the socket, accepts clients within the connection limits (all
//! users, and each user), and runs one task per connection that reads request frames (several
//! may come on one connection, even in one read), answers from the [`View`] what needs no cloud
//! work, hands the rest to the run loop as a [`Command`] and writes the answers back in order.
//!
//! The NSS module's connections take a shorter way: it sends one request and shuts its side for
//! writing. A new connection whose one whole request is already there, and whose answer is in
//! the view, is answered in the accept loop; if the client's end is there too (before the
//! answer or just after it), the connection is closed. No task, no timer, and the connection is
//! never registered with the reactor, nor counted against the limits (it is gone before the
//! next is accepted), nor asked who its client is: `accept4`, two `recvfrom`, `sendto`, `close`,
//! half the system calls of a connection served by a task. Anything else (nothing
//! read yet, more to come, more than one request, a request for the run loop) goes to a task
//! with the bytes read so far, as if they had just been read.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pnrp_shared::ipc::{self, ErrorKind, FrameError, Request, Response, HEADER_LEN};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

use super::view::{SharedView, View};
use super::DaemonError;

/// How long a client may stay silent before its connection is closed (the NSS module and
/// pnrpctl send their request at once).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a started frame may take to arrive whole.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Most client connections served at once; more are closed at once (clients retry or fail fast).
const MAX_CONNECTIONS: usize = 1024;
/// Most connections one user may hold, so that no user can starve the others' lookups.
const MAX_CONNECTIONS_PER_USER: usize = 128;

/// A request from a connection, with where to send the answer.
#[derive(Debug)]
pub struct Command {
    /// What was asked.
    pub request: Request,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Response>,
    /// The caller's uid, from the kernel (`SO_PEERCRED`).
    pub uid: u32,
}

/// Binds the socket, replacing a stale file but never a live daemon's socket; any local user may
/// connect (resolving is open to all).
pub fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    let socket_error = |message: String| DaemonError::Socket {
        path: path.into(),
        message,
    };
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .create(parent)
                .and_then(|()| {
                    // Set explicitly: the umask must not hide the socket from other users.
                    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
                })
                .map_err(|error| socket_error(format!("cannot create its directory: {error}")))?;
        }
    }
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !metadata.file_type().is_socket() {
            return Err(socket_error(
                "something that is not a socket is in the way".into(),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(socket_error(
                "another pnrpd is already listening there".into(),
            ));
        }
        std::fs::remove_file(path)
            .map_err(|error| socket_error(format!("cannot remove the stale socket: {error}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|error| socket_error(error.to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|error| socket_error(format!("cannot open it to all users: {error}")))?;
    Ok(listener)
}

/// Accepts clients for ever, each served by a task of its own that answers from `view` what it
/// can and sends the other requests to `commands` (or at once, in this loop: see the file's
/// comment).
pub async fn accept(listener: UnixListener, commands: mpsc::Sender<Command>, view: SharedView) {
    // Accepted by hand (accept4), so that a connection answered here is never registered with
    // the reactor.
    let listener = match listener.into_std().and_then(|listener| {
        // SAFETY: the AsyncFd owns the listener, whose descriptor stays open and the same for
        // as long as the AsyncFd lives.
        unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
            .map_err(std::io::Error::from)
    }) {
        Ok(listener) => listener,
        Err(error) => {
            warn!(%error, "cannot watch the socket; no client will be served");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_user: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
    loop {
        let accepted = match listener.readable().await {
            Ok(mut ready) => match ready.try_io(|listener| accept4(listener.get_ref())) {
                Ok(accepted) => accepted,
                // Readiness cleared: wait for the next client.
                Err(_) => continue,
            },
            Err(error) => Err(error),
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // A connection answered here is gone before the next is accepted: it holds no slot,
        // and who called does not change a resolve's answer. The kernel's word for who is
        // calling (unknown callers share one budget) is asked only for a connection that stays.
        let caller = || peer_uid(&stream).unwrap_or(u32::MAX);
        let mut uid = None;
        let mut look = first_look(&stream, &view);
        if matches!(look, FirstLook::Empty) {
            // Accepted before its request arrived (the client connects, then sends): who it is
            // will be needed if it stays; then one more look, as the request may be there now.
            uid = Some(caller());
            look = first_look(&stream, &view);
        }
        let (received, unsent) = match look {
            FirstLook::Done => continue,
            FirstLook::Empty => (Vec::new(), Vec::new()),
            FirstLook::Serve { received, unsent } => (received, unsent),
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!("too many clients; closing a connection");
            continue;
        };
        let uid = uid.unwrap_or_else(caller);
        let Some(admission) = Admission::new(&per_user, uid, slot) else {
            debug!(uid, "user holds too many connections; closing a new one");
            continue;
        };
        let stream = match UnixStream::from_std(stream) {
            Ok(stream) => stream,
            Err(error) => {
                warn!(%error, "cannot watch a connection; closing it");
                continue;
            }
        };
        let commands = commands.clone();
        let view = view.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            let written = unsent.is_empty()
                || tokio::time::timeout(FRAME_TIMEOUT, stream.write_all(&unsent))
                    .await
                    .is_ok_and(|written| written.is_ok());
            if written {
                serve(stream, received, commands, uid, &view).await;
            }
            drop(admission);
        });
    }
}

/// A connection counted against the limits until dropped.
struct Admission {
    per_user: Arc<Mutex<HashMap<u32, usize>>>,
    uid: u32,
    _slot: OwnedSemaphorePermit,
}

impl Admission {
    /// The connection of `uid`, if that user holds fewer than [`MAX_CONNECTIONS_PER_USER`].
    fn new(
        per_user: &Arc<Mutex<HashMap<u32, usize>>>,
        uid: u32,
        slot: OwnedSemaphorePermit,
    ) -> Option<Self> {
        let mut counts = per_user
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(uid).or_default();
        if *count >= MAX_CONNECTIONS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Admission {
            per_user: per_user.clone(),
            uid,
            _slot: slot,
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut counts = self
            .per_user
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.uid) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

/// One client from the listener, non-blocking and close-on-exec from the start (no `fcntl`).
fn accept4(
    listener: &std::os::unix::net::UnixListener,
) -> std::io::Result<std::os::unix::net::UnixStream> {
    loop {
        // SAFETY: a plain call on the listener; no address is asked for.
        let fd = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) }.into());
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// The uid of the process at the other end (`SO_PEERCRED`).
fn peer_uid(stream: &std::os::unix::net::UnixStream) -> Option<u32> {
    // SAFETY: `ucred` is plain data, for which all zeroes is valid.
    let mut credentials: libc::ucred = unsafe { std::mem::zeroed() };
    let mut length = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `credentials` is valid for writes of `length` bytes.
    let result = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(credentials).cast(),
            &mut length,
        )
    };
    (result == 0).then_some(credentials.uid)
}

/// What the first look at a new connection found.
enum FirstLook {
    /// Answered and done with (or nothing to serve): the connection closes.
    Done,
    /// Nothing there yet, nothing written.
    Empty,
    /// For a task to serve: first writing `unsent` (the rest of an answer too large for the
    /// socket's buffer), then handling `received`, the bytes already read.
    Serve { received: Vec<u8>, unsent: Vec<u8> },
}

impl FirstLook {
    fn serve(received: &[u8]) -> Self {
        FirstLook::Serve {
            received: received.to_vec(),
            unsent: Vec::new(),
        }
    }
}

/// Reads what a new connection already holds without waiting, and answers it here when it is
/// one whole request whose answer is in the view. Done if the client's end follows (it said it
/// would send nothing more, as the NSS module does), at once or after the answer; else a task
/// serves the rest.
fn first_look(stream: &std::os::unix::net::UnixStream, view: &SharedView) -> FirstLook {
    let mut buffer = [0; READ_ROOM];
    let mut filled = 0;
    let mut ended = false;
    // Two reads at most: the request, then (if the client shut its side) the end.
    for _ in 0..2 {
        if filled == buffer.len() {
            break;
        }
        match (&*stream).read(&mut buffer[filled..]) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => return FirstLook::Done,
        }
    }
    if filled == 0 && !ended {
        return FirstLook::Empty;
    }
    let received = &buffer[..filled];
    if ended && received.is_empty() {
        return FirstLook::Done;
    }
    let answered = one_request(received).and_then(|request| answer_at_once(&view.load(), &request));
    let Some(response) = answered else {
        return FirstLook::serve(received);
    };
    let frame = response_frame(&response);
    let sent = match (&*stream).write(&frame) {
        Ok(sent) => sent,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(_) => return FirstLook::Done,
    };
    if sent < frame.len() {
        return FirstLook::Serve {
            received: Vec::new(),
            unsent: frame[sent..].to_vec(),
        };
    }
    if ended {
        return FirstLook::Done;
    }
    // The client's end had not come yet; it usually has by now, our answer written.
    loop {
        match (&*stream).read(&mut buffer) {
            Ok(0) => return FirstLook::Done,
            Ok(read) => return FirstLook::serve(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                return FirstLook::serve(&[])
            }
            Err(_) => return FirstLook::Done,
        }
    }
}

/// The request that `received` is, if it is exactly one whole request frame.
fn one_request(received: &[u8]) -> Option<Request> {
    let header = received.first_chunk::<HEADER_LEN>()?;
    let length = ipc::frame_length(*header).ok()?;
    if received.len() != HEADER_LEN + length {
        return None;
    }
    ipc::decode_body(&received[HEADER_LEN..]).ok()
}

/// Serves one client: frames in, frames out, until it closes, idles or sends garbage.
async fn serve(
    mut stream: UnixStream,
    mut received: Vec<u8>,
    commands: mpsc::Sender<Command>,
    uid: u32,
    view: &SharedView,
) {
    // `received`: bytes received and not yet handled (what the accept loop read, at first): one
    // read usually brings a whole request (the NSS module sends header and body at once), and
    // may bring several.
    // When the first byte of the frame being received arrived.
    let mut frame_started: Option<Instant> = (!received.is_empty()).then(Instant::now);
    loop {
        let request = match next_request(&mut received) {
            Ok(Some(request)) => request,
            Ok(None) => {
                let wait = match frame_started {
                    Some(started) => FRAME_TIMEOUT.saturating_sub(started.elapsed()),
                    None => IDLE_TIMEOUT,
                };
                let want = wanted(&received);
                received.reserve(want);
                match tokio::time::timeout(wait, stream.read_buf(&mut received)).await {
                    Ok(Ok(read)) if read > 0 => {
                        frame_started.get_or_insert_with(Instant::now);
                        continue;
                    }
                    // The client closed or idled between frames: done.
                    _ if received.is_empty() => return,
                    _ => {
                        refuse(&mut stream, FrameError::Malformed("frame cut short".into())).await;
                        return;
                    }
                }
            }
            Err(error) => {
                refuse(&mut stream, error).await;
                return;
            }
        };
        frame_started = (!received.is_empty()).then(Instant::now);
        let at_once = answer_at_once(&view.load(), &request);
        let response = match at_once {
            Some(response) => response,
            None => through_run_loop(&commands, request, uid).await,
        };
        if write_response(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

/// The view's answer, if it has one (the `Arc` is held only for this call).
fn answer_at_once(view: &View, request: &Request) -> Option<Response> {
    view.answer(Instant::now(), request)
}

/// The run loop's answer; an error if it is stopping.
async fn through_run_loop(
    commands: &mpsc::Sender<Command>,
    request: Request,
    uid: u32,
) -> Response {
    let (reply, answer) = oneshot::channel();
    let response = match commands
        .send(Command {
            request,
            reply,
            uid,
        })
        .await
    {
        Ok(()) => answer.await.ok(),
        Err(_) => None,
    };
    response.unwrap_or(Response::Error {
        kind: ErrorKind::Unavailable,
        message: "pnrpd is shutting down".into(),
    })
}

/// The first whole request in `received`, taken out of it; `None` until one has arrived whole.
/// A header announcing too much is an error at once, before its body is awaited.
fn next_request(received: &mut Vec<u8>) -> Result<Option<Request>, FrameError> {
    let Some(header) = received.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let length = ipc::frame_length(*header)?;
    if received.len() < HEADER_LEN + length {
        return Ok(None);
    }
    let request = ipc::decode_body(&received[HEADER_LEN..HEADER_LEN + length]);
    received.drain(..HEADER_LEN + length);
    request.map(Some)
}

/// How much room the next read should have: the rest of the frame under way, at least
/// [`READ_ROOM`].
fn wanted(received: &[u8]) -> usize {
    let rest = received
        .first_chunk::<HEADER_LEN>()
        .and_then(|header| ipc::frame_length(*header).ok())
        .map_or(0, |length| {
            (HEADER_LEN + length).saturating_sub(received.len())
        });
    rest.max(READ_ROOM)
}

/// The least room a read is given: a whole resolve request almost always, yet under glibc
/// malloc's 1 KiB "large" size, whose every allocation first consolidates the freed small
/// chunks (a measurable share of the daemon's CPU per connection).
const READ_ROOM: usize = 512;

/// Answers a frame that cannot be served with the error saying why.
async fn refuse(stream: &mut UnixStream, error: FrameError) {
    debug!(%error, "bad frame from a client");
    let kind = match error {
        FrameError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
        _ => ErrorKind::BadRequest,
    };
    let response = Response::Error {
        kind,
        message: error.to_string(),
    };
    let _ = write_response(stream, &response).await;
}

/// The frame of `response`, or of the error saying it is too large.
fn response_frame(response: &Response) -> Vec<u8> {
    ipc::encode_frame(response).unwrap_or_else(|error| {
        ipc::encode_frame(&Response::Error {
            kind: ErrorKind::Unavailable,
            message: format!("answer too large: {error}"),
        })
        .unwrap_or_default()
    })
}

async fn write_response(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    let frame = response_frame(response);
    // An answer almost always fits the socket's buffer at once: written so, it arms no timer.
    let sent = match stream.try_write(&frame) {
        Ok(sent) => sent,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(error) => return Err(error),
    };
    if sent == frame.len() {
        return Ok(());
    }
    tokio::time::timeout(FRAME_TIMEOUT, stream.write_all(&frame[sent..]))
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
