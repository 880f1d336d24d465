//! `pnrpctl`: register, resolve and inspect peer names through `pnrpd`. See `pnrpctl --help`.
//!
//! This file owns the command line (the global options and the list of commands; commands with
//! more than a name or two declare their arguments in their own module), [`main`], and the
//! dispatch to the command modules:
//!
//! - `publish`: register, update, unregister, list
//! - `resolve`: resolve, traceroute
//! - `inspect`: status, clouds, cache
//! - `names`: hostname, peername
//! - `identity`: identity create, list, export, delete
//! - `doctor`: doctor
//! - `super::docs` (shared with pnrpd): completions, and the hidden generate-docs
//!
//! Each of them asks the daemon through `request` and prints through `output`; neither of those
//! knows the commands. Exit codes: 0 success, 1 error, 2 bad usage, 3 not found, 4 daemon
//! unreachable.

mod doctor;
mod identity;
mod inspect;
mod names;
mod output;
mod publish;
mod request;
mod resolve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pnrp_shared::ipc::DEFAULT_SOCKET_PATH;
use pnrp_shared::PeerName;

use output::Output;
use request::{Daemon, Failure};

/// Register, resolve and inspect PNRP peer names.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 success, 1 error, 2 bad usage, 3 not found, 4 pnrpd unreachable."
)]
struct Args {
    /// The daemon's socket
    #[arg(long, global = true, env = "PNRP_SOCKET", default_value = DEFAULT_SOCKET_PATH)]
    socket: PathBuf,
    /// Print data as JSON
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish a peer name from this machine
    Register(publish::RegisterArgs),
    /// Change a name this machine publishes, in place (resolvers see it within the freshness
    /// window): only what is given changes
    Update(publish::UpdateArgs),
    /// Withdraw a peer name this machine publishes
    Unregister {
        /// e.g. 0.myapp
        peer_name: PeerName,
    },
    /// List the names this machine publishes
    List,
    /// Resolve a peer name (0.myapp) or host name (0.myapp.pnrp.net)
    Resolve {
        /// A peer name or a host name under pnrp.net
        name: String,
        /// Write the first payload found to FILE (binary)
        #[arg(long, value_name = "FILE")]
        payload_out: Option<PathBuf>,
    },
    /// Print the host name of a peer name
    Hostname {
        /// e.g. 0.myapp
        peer_name: PeerName,
    },
    /// Print the peer name of a host name under pnrp.net
    Peername {
        /// e.g. 0.myapp.pnrp.net or myapp.pnrp.net
        host_name: String,
    },
    /// Show the daemon's state
    Status,
    /// List the PNRP clouds this machine takes part in
    Clouds,
    /// Show every cloud's route cache
    Cache,
    /// Resolve a name and show the nodes each cloud asked on the way
    Traceroute {
        /// A peer name or a host name under pnrp.net
        name: String,
    },
    /// Manage identities: the key pairs that own secured names (<authority>.<classifier>)
    Identity {
        #[command(subcommand)]
        action: identity::IdentityCommand,
    },
    /// Check everything a .pnrp.net lookup needs on this machine (nsswitch.conf, the module,
    /// pnrpd, its clouds and peers, reachability); exit 0 only when all is well
    Doctor,
    /// Print the completion script of pnrpctl or pnrpd for a shell
    Completions {
        /// bash, zsh or fish
        shell: clap_complete::Shell,
        /// The program to complete
        #[arg(long, default_value = "pnrpctl", value_parser = ["pnrpctl", "pnrpd"])]
        program: String,
    },
    /// Write the manual pages and completion scripts under DIR (as under /usr/share)
    #[command(hide = true)]
    GenerateDocs {
        /// The directory (created if need be)
        dir: PathBuf,
    },
}

/// pnrpctl's command line, for its manual page and completions.
pub fn command() -> clap::Command {
    <Args as clap::CommandFactory>::command()
}

/// Runs the program with these arguments (the first is the program name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    let daemon = Daemon::new(args.socket);
    match run(&daemon, Output::new(args.json), &args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::error(&failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(daemon: &Daemon, out: Output, command: &Command) -> Result<(), Failure> {
    match command {
        Command::Register(args) => publish::register(daemon, out, args),
        Command::Update(args) => publish::update(daemon, out, args),
        Command::Unregister { peer_name } => publish::unregister(daemon, out, peer_name),
        Command::List => publish::list(daemon, out),
        Command::Resolve { name, payload_out } => {
            resolve::resolve(daemon, out, name, payload_out.as_deref())
        }
        Command::Traceroute { name } => resolve::traceroute(daemon, out, name),
        Command::Hostname { peer_name } => {
            names::hostname(out, peer_name);
            Ok(())
        }
        Command::Peername { host_name } => names::peername(out, host_name),
        Command::Status => inspect::status(daemon, out),
        Command::Clouds => inspect::clouds(daemon, out),
        Command::Cache => inspect::cache(daemon, out),
        Command::Identity { action } => identity::run(daemon, out, action),
        Command::Doctor => doctor::doctor(daemon, out),
        Command::Completions { shell, program } => {
            super::docs::completions(program, *shell, &mut std::io::stdout());
            Ok(())
        }
        Command::GenerateDocs { dir } => match super::docs::generate(dir) {
            Ok(written) => {
                for path in written {
                    println!("{}", dir.join(path).display());
                }
                Ok(())
            }
            Err(error) => Err(Failure {
                code: 1,
                message: format!("{}: {error}", dir.display()),
            }),
        },
    }
}
