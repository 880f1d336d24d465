//! Talking to `pnrpd` and failing: the daemon's socket ([`Daemon`]), one request and its answer
//! ([`Daemon::ask`]), and what a command reports when it fails ([`Failure`], with `pnrpctl`'s exit
//! codes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pnrp_shared::ipc::{ErrorKind, Request, Response};

use crate::client::{self, ClientError};

/// Exit code of a failure that is no other kind (clap exits 2 on bad usage).
const EXIT_ERROR: u8 = 1;
/// Exit code when the name, registration or payload asked for does not exist.
const EXIT_NOT_FOUND: u8 = 3;
/// Exit code when the daemon cannot be reached or answers nonsense.
const EXIT_UNREACHABLE: u8 = 4;

/// Why a command failed: the exit code and the message `pnrpctl` prints.
#[derive(Debug)]
pub(super) struct Failure {
    /// The process's exit code.
    pub(super) code: u8,
    /// What went wrong, for people.
    pub(super) message: String,
}

impl Failure {
    /// A failure of no particular kind (exit code 1).
    pub(super) fn error(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }

    /// What was asked for does not exist (exit code 3).
    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_NOT_FOUND,
            message: message.into(),
        }
    }

    /// The daemon answered something that makes no sense for the request.
    pub(super) fn unexpected(response: Response) -> Self {
        Failure::error(format!("unexpected answer from pnrpd: {response:?}"))
    }
}

/// The daemon `pnrpctl` talks to.
#[derive(Debug)]
pub(super) struct Daemon {
    socket: PathBuf,
}

impl Daemon {
    /// The daemon listening on `socket`.
    pub(super) fn new(socket: PathBuf) -> Self {
        Daemon { socket }
    }

    /// Its socket.
    pub(super) fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request and returns the answer; an error answer, or no answer, is a failure.
    pub(super) fn ask(&self, request: &Request) -> Result<Response, Failure> {
        match client::request(&self.socket, request, Duration::from_secs(10)) {
            Ok(Response::Error { kind, message }) => {
                let code = match kind {
                    ErrorKind::NotRegistered => EXIT_NOT_FOUND,
                    _ => EXIT_ERROR,
                };
                Err(Failure { code, message })
            }
            Ok(response) => Ok(response),
            Err(error @ ClientError::Unreachable { .. }) => Err(Failure {
                code: EXIT_UNREACHABLE,
                message: format!("{error} (is pnrpd running?)"),
            }),
            Err(error) => Err(Failure {
                code: EXIT_UNREACHABLE,
                message: error.to_string(),
            }),
        }
    }
}
