//! `pnrpctl identity`: the key pairs that own secured names, kept by `pnrpd` for each user — the
//! subcommands, their arguments and answers, and the key files.
//!
//! Keys travel as PKCS#8 PEM, the form `openssl genpkey -algorithm ed25519` writes, so that an
//! identity can be made, backed up or checked with standard tools.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use ed25519_dalek::SigningKey;
use pnrp_shared::ipc::{IdentityInfo, Request, Response};
use serde::Serialize;

use super::output::{self, Output};
use super::request::{Daemon, Failure};
use crate::identity::{parse_private_key_pem, private_key_pem};

/// `pnrpctl identity …`
#[derive(Debug, Subcommand)]
pub(super) enum IdentityCommand {
    /// Make a new identity, or restore one from a private key file (--import)
    Create {
        /// An Ed25519 private key in PKCS#8 PEM (from `identity export --secret-out` or
        /// `openssl genpkey -algorithm ed25519`)
        #[arg(long, value_name = "FILE")]
        import: Option<PathBuf>,
    },
    /// List your identities (root: every user's)
    List,
    /// Print an identity's public key; --secret-out also writes its private key (mode 0600)
    Export {
        /// The identity's authority (40 hex digits)
        authority: String,
        /// Write the private key to FILE as PKCS#8 PEM (FILE must not exist)
        #[arg(long, value_name = "FILE")]
        secret_out: Option<PathBuf>,
    },
    /// Delete an identity (refused while a registered name uses it)
    Delete {
        /// The identity's authority (40 hex digits)
        authority: String,
    },
}

/// Runs one `identity` subcommand.
pub(super) fn run(daemon: &Daemon, out: Output, command: &IdentityCommand) -> Result<(), Failure> {
    match command {
        IdentityCommand::Create { import } => {
            let secret = import.as_deref().map(read_private_key).transpose()?;
            match daemon.ask(&Request::IdentityCreate { secret })? {
                Response::Identities(list) if list.len() == 1 => {
                    out.print(&Created(IdentityView::new(&list[0])))
                }
                other => return Err(Failure::unexpected(other)),
            }
        }
        IdentityCommand::List => match daemon.ask(&Request::IdentityList)? {
            Response::Identities(list) => {
                out.print(&Identities(list.iter().map(IdentityView::new).collect()))
            }
            other => return Err(Failure::unexpected(other)),
        },
        IdentityCommand::Export {
            authority,
            secret_out,
        } => {
            let request = Request::IdentityExport {
                authority: authority.clone(),
                secret: secret_out.is_some(),
            };
            match (daemon.ask(&request)?, secret_out) {
                (Response::IdentitySecret { identity, secret }, Some(path)) => {
                    write_private_key(path, &secret)?;
                    out.print(&Exported {
                        identity: IdentityView::new(&identity),
                        secret_written_to: Some(path.display().to_string()),
                    });
                }
                (Response::Identities(list), None) if list.len() == 1 => out.print(&Exported {
                    identity: IdentityView::new(&list[0]),
                    secret_written_to: None,
                }),
                (other, _) => return Err(Failure::unexpected(other)),
            }
        }
        IdentityCommand::Delete { authority } => {
            let request = Request::IdentityDelete {
                authority: authority.clone(),
            };
            match daemon.ask(&request)? {
                Response::IdentityDeleted => out.print(&Deleted {
                    deleted: authority.clone(),
                }),
                other => return Err(Failure::unexpected(other)),
            }
        }
    }
    Ok(())
}

fn read_private_key(path: &Path) -> Result<[u8; 32], Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::error(format!("cannot read {}: {error}", path.display())))?;
    let key = parse_private_key_pem(&text).map_err(|error| {
        Failure::error(format!(
            "{} is not an Ed25519 private key in PKCS#8 PEM: {error}",
            path.display()
        ))
    })?;
    Ok(key.to_bytes())
}

/// Writes a private key where nobody else can read it, never over an existing file.
fn write_private_key(path: &Path, secret: &[u8; 32]) -> Result<(), Failure> {
    let failed =
        |error: String| Failure::error(format!("cannot write {}: {error}", path.display()));
    let pem = private_key_pem(&SigningKey::from_bytes(secret)).map_err(failed)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| failed(error.to_string()))?;
    file.write_all(pem.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| failed(error.to_string()))
}

/// An identity as every subcommand shows it.
#[derive(Debug, Serialize)]
struct IdentityView {
    /// 40 hex digits: the first label of the names it secures.
    authority: String,
    /// The secured names registered with it.
    names: Vec<String>,
    owner_uid: u32,
    public_key_hex: String,
}

impl IdentityView {
    fn new(identity: &IdentityInfo) -> Self {
        IdentityView {
            authority: identity.authority.clone(),
            names: identity.names.iter().map(ToString::to_string).collect(),
            owner_uid: identity.owner,
            public_key_hex: output::hex(&identity.public_key),
        }
    }

    /// The text; `verb` leads the first line.
    fn show(&self, f: &mut fmt::Formatter<'_>, verb: &str) -> fmt::Result {
        writeln!(f, "{verb}{}", self.authority)?;
        writeln!(f, "  public key: {}", self.public_key_hex)?;
        writeln!(f, "  owner: uid {}", self.owner_uid)?;
        if self.names.is_empty() {
            writeln!(
                f,
                "  secured names: {}.<classifier>, e.g. pnrpctl register {}.myservice",
                self.authority, self.authority
            )?;
        }
        for name in &self.names {
            writeln!(f, "  publishes: {name}")?;
        }
        Ok(())
    }
}

/// What `identity create` made.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Created(IdentityView);

impl fmt::Display for Created {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show(f, "created identity ")
    }
}

/// What `identity list` lists.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Identities(Vec<IdentityView>);

impl fmt::Display for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            writeln!(f, "no identities (make one with `pnrpctl identity create`)")?;
        }
        for identity in &self.0 {
            identity.show(f, "")?;
        }
        Ok(())
    }
}

/// What `identity export` exported (the JSON is the identity alone).
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Exported {
    identity: IdentityView,
    /// Where `--secret-out` wrote the private key.
    #[serde(skip)]
    secret_written_to: Option<String>,
}

impl fmt::Display for Exported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.identity.show(f, "")?;
        if let Some(path) = &self.secret_written_to {
            writeln!(f, "  private key written to {path}")?;
        }
        Ok(())
    }
}

/// What `identity delete` deleted.
#[derive(Debug, Serialize)]
struct Deleted {
    deleted: String,
}

impl fmt::Display for Deleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "deleted identity {}", self.deleted)
    }
}
