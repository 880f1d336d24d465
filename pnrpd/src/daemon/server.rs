//! The Unix-socket server: binds the socket, accepts clients within the connection limits (all
//! users, and each user), and runs one task per connection that reads request frames (several
//! may come on one connection, even in one read), answers from the [`View`] what needs no cloud
//! work, hands the rest to the run loop as a [`Command`] and writes the answers back in order.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pnrp_shared::ipc::{self, ErrorKind, FrameError, Request, Response, HEADER_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
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
/// can and sends the other requests to `commands`.
pub async fn accept(listener: UnixListener, commands: mpsc::Sender<Command>, view: SharedView) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_user: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!("too many clients; closing a connection");
            continue;
        };
        // The kernel's word for who is calling; unknown callers share one budget.
        let uid = stream
            .peer_cred()
            .map_or(u32::MAX, |credentials| credentials.uid());
        let admitted = {
            let mut counts = per_user
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = counts.entry(uid).or_default();
            let admitted = *count < MAX_CONNECTIONS_PER_USER;
            *count += usize::from(admitted);
            admitted
        };
        if !admitted {
            debug!(uid, "user holds too many connections; closing a new one");
            continue;
        }
        let commands = commands.clone();
        let per_user = per_user.clone();
        let view = view.clone();
        tokio::spawn(async move {
            serve(stream, commands, uid, &view).await;
            let mut counts = per_user
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(count) = counts.get_mut(&uid) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&uid);
                }
            }
            drop(slot);
        });
    }
}

/// Serves one client: frames in, frames out, until it closes, idles or sends garbage.
async fn serve(
    mut stream: UnixStream,
    commands: mpsc::Sender<Command>,
    uid: u32,
    view: &SharedView,
) {
    // Bytes received and not yet handled: one read usually brings a whole request (the NSS
    // module sends header and body at once), and may bring several.
    let mut received: Vec<u8> = Vec::new();
    // When the first byte of the frame being received arrived.
    let mut frame_started: Option<Instant> = None;
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

/// How much room the next read should have: the rest of the frame under way, at least 4 KiB.
fn wanted(received: &[u8]) -> usize {
    let rest = received
        .first_chunk::<HEADER_LEN>()
        .and_then(|header| ipc::frame_length(*header).ok())
        .map_or(0, |length| {
            (HEADER_LEN + length).saturating_sub(received.len())
        });
    rest.max(4096)
}

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

async fn write_response(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    let frame = ipc::encode_frame(response).unwrap_or_else(|error| {
        ipc::encode_frame(&Response::Error {
            kind: ErrorKind::Unavailable,
            message: format!("answer too large: {error}"),
        })
        .unwrap_or_default()
    });
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
