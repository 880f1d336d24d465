//! `pnrpctl identity`: the key pairs that own secured names, kept by `pnrpd` for each user.
//!
//! Keys travel as PKCS#8 PEM, the form `openssl genpkey -algorithm ed25519` writes, so that an
//! identity can be made, backed up or checked with standard tools.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use ed25519_dalek::SigningKey;
use pnrp_shared::ipc::{IdentityInfo, Request, Response};
use serde_json::json;

use crate::identity::{parse_private_key_pem, private_key_pem};

use super::ctl::{ask, hex, unexpected, Args, Failure, EXIT_ERROR};

/// `pnrpctl identity …`
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
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
pub(super) fn run(args: &Args, command: &IdentityCommand) -> Result<(), Failure> {
    match command {
        IdentityCommand::Create { import } => {
            let secret = import.as_deref().map(read_private_key).transpose()?;
            match ask(args, &Request::IdentityCreate { secret })? {
                Response::Identities(list) if list.len() == 1 => {
                    print_identity(args, &list[0], true)
                }
                other => return Err(unexpected(other)),
            }
        }
        IdentityCommand::List => match ask(args, &Request::IdentityList)? {
            Response::Identities(list) => {
                if args.json {
                    println!(
                        "{}",
                        json!(list.iter().map(identity_json).collect::<Vec<_>>())
                    );
                } else if list.is_empty() {
                    println!("no identities (make one with `pnrpctl identity create`)");
                }
                if !args.json {
                    for identity in &list {
                        print_identity(args, identity, false);
                    }
                }
            }
            other => return Err(unexpected(other)),
        },
        IdentityCommand::Export {
            authority,
            secret_out,
        } => {
            let request = Request::IdentityExport {
                authority: authority.clone(),
                secret: secret_out.is_some(),
            };
            match (ask(args, &request)?, secret_out) {
                (Response::IdentitySecret { identity, secret }, Some(path)) => {
                    write_private_key(path, &secret)?;
                    print_identity(args, &identity, false);
                    if !args.json {
                        println!("  private key written to {}", path.display());
                    }
                }
                (Response::Identities(list), None) if list.len() == 1 => {
                    print_identity(args, &list[0], false)
                }
                (other, _) => return Err(unexpected(other)),
            }
        }
        IdentityCommand::Delete { authority } => {
            let request = Request::IdentityDelete {
                authority: authority.clone(),
            };
            match ask(args, &request)? {
                Response::IdentityDeleted => {
                    if args.json {
                        println!("{}", json!({ "deleted": authority }));
                    } else {
                        println!("deleted identity {authority}");
                    }
                }
                other => return Err(unexpected(other)),
            }
        }
    }
    Ok(())
}

fn identity_json(identity: &IdentityInfo) -> serde_json::Value {
    json!({
        "authority": identity.authority,
        "public_key_hex": hex(&identity.public_key),
        "owner_uid": identity.owner,
        "names": identity.names.iter().map(ToString::to_string).collect::<Vec<_>>(),
    })
}

fn print_identity(args: &Args, identity: &IdentityInfo, created: bool) {
    if args.json {
        println!("{}", identity_json(identity));
        return;
    }
    let verb = if created { "created identity " } else { "" };
    println!("{verb}{}", identity.authority);
    println!("  public key: {}", hex(&identity.public_key));
    println!("  owner: uid {}", identity.owner);
    if identity.names.is_empty() {
        println!(
            "  secured names: {}.<classifier>, e.g. pnrpctl register {}.myservice",
            identity.authority, identity.authority
        );
    }
    for name in &identity.names {
        println!("  publishes: {name}");
    }
}

fn read_private_key(path: &Path) -> Result<[u8; 32], Failure> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        (
            EXIT_ERROR,
            format!("cannot read {}: {error}", path.display()),
        )
    })?;
    let key = parse_private_key_pem(&text).map_err(|error| {
        (
            EXIT_ERROR,
            format!(
                "{} is not an Ed25519 private key in PKCS#8 PEM: {error}",
                path.display()
            ),
        )
    })?;
    Ok(key.to_bytes())
}

/// Writes a private key where nobody else can read it, never over an existing file.
fn write_private_key(path: &Path, secret: &[u8; 32]) -> Result<(), Failure> {
    let failed = |error: String| {
        (
            EXIT_ERROR,
            format!("cannot write {}: {error}", path.display()),
        )
    };
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
