//! A blocking client of the daemon's socket, for `pnrpctl` and tests.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pnrp_shared::ipc::{self, FrameError, Request, Response, HEADER_LEN};

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon's socket could not be reached.
    #[error("cannot reach pnrpd at {path}: {source}")]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The connection failed or timed out mid-exchange.
    #[error("talking to pnrpd failed: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon's answer was not a valid frame.
    #[error("pnrpd answered something unreadable: {0}")]
    Frame(#[from] FrameError),
}

/// Sends one request and waits (at most `timeout` per read or write) for its response.
pub fn request(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| ClientError::Unreachable {
        path: socket.into(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&ipc::encode_frame(request)?)?;
    let mut header = [0; HEADER_LEN];
    stream.read_exact(&mut header)?;
    let mut body = vec![0; ipc::frame_length(header)?];
    stream.read_exact(&mut body)?;
    Ok(ipc::decode_body(&body)?)
}
