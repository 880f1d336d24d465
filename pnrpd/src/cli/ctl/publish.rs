//! The names this machine publishes: `pnrpctl register`, `update`, `unregister` and `list`, with
//! their arguments and answers.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use pnrp_shared::ipc::{Protocol, Registration, RegistrationInfo, Request, Response, ScopedAddr};
use pnrp_shared::{host_name_of, PeerName};
use serde::Serialize;

use super::output::{self, Output};
use super::request::{Daemon, Failure};
use crate::interfaces::interface_index;

/// The arguments of `pnrpctl register`.
#[derive(Debug, clap::Args)]
pub(super) struct RegisterArgs {
    /// e.g. 0.myapp
    peer_name: PeerName,
    /// An address to publish (repeatable; fe80::1%eth0 for link-local). Default: this
    /// machine's non-loopback addresses, followed as they change
    #[arg(long = "address", value_name = "IP", value_parser = parse_address)]
    addresses: Vec<ScopedAddr>,
    /// Application port published with the addresses
    #[arg(long)]
    port: Option<u16>,
    /// Transport of that port
    #[arg(long, value_enum, default_value = "tcp", requires = "port")]
    protocol: ProtocolArg,
    /// Free text shown to resolvers (PNRP's friendly name: at most 78 bytes)
    #[arg(long)]
    comment: Option<String>,
    /// A file of 1 to 4096 bytes resolvers receive with the name (the extended payload)
    #[arg(long, value_name = "FILE")]
    payload_file: Option<PathBuf>,
}

/// The arguments of `pnrpctl update`.
#[derive(Debug, clap::Args)]
pub(super) struct UpdateArgs {
    /// e.g. 0.myapp
    peer_name: PeerName,
    /// New addresses, replacing the old (repeatable)
    #[arg(long = "address", value_name = "IP", value_parser = parse_address)]
    addresses: Vec<ScopedAddr>,
    /// Publish this machine's own addresses again, followed as they change
    #[arg(long, conflicts_with = "addresses")]
    automatic_addresses: bool,
    /// New application port
    #[arg(long)]
    port: Option<u16>,
    /// New transport of the port
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// New comment
    #[arg(long, conflicts_with = "no_comment")]
    comment: Option<String>,
    /// Remove the comment
    #[arg(long)]
    no_comment: bool,
    /// New payload from a file
    #[arg(long, value_name = "FILE", conflicts_with = "no_payload")]
    payload_file: Option<PathBuf>,
    /// Remove the payload
    #[arg(long)]
    no_payload: bool,
}

/// `--protocol` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ProtocolArg {
    Tcp,
    Udp,
}

impl From<ProtocolArg> for Protocol {
    fn from(protocol: ProtocolArg) -> Self {
        match protocol {
            ProtocolArg::Tcp => Protocol::Tcp,
            ProtocolArg::Udp => Protocol::Udp,
        }
    }
}

/// `2001:db8::1`, `192.0.2.1` (carried v4-mapped) or `fe80::1%eth0` / `fe80::1%2`.
fn parse_address(text: &str) -> Result<ScopedAddr, String> {
    let (ip_text, scope) = match text.split_once('%') {
        Some((ip, scope)) => (ip, Some(scope)),
        None => (text, None),
    };
    let ip: IpAddr = ip_text
        .parse()
        .map_err(|_| format!("{ip_text:?} is not an IP address"))?;
    let ip = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let scope_id = match scope {
        None => 0,
        Some(scope) => scope
            .parse()
            .ok()
            .or_else(|| interface_index(scope))
            .ok_or_else(|| format!("no network interface {scope:?}"))?,
    };
    Ok(ScopedAddr { ip, scope_id })
}

/// `pnrpctl register`.
pub(super) fn register(daemon: &Daemon, out: Output, args: &RegisterArgs) -> Result<(), Failure> {
    let payload = args.payload_file.as_deref().map(read_payload).transpose()?;
    let registration = Registration {
        name: args.peer_name.clone(),
        addresses: args.addresses.clone(),
        port: args.port,
        protocol: args.protocol.into(),
        comment: args.comment.clone(),
        payload,
    };
    publish(daemon, out, registration)
}

/// `pnrpctl update`: the registration as the daemon has it, with what the arguments change.
pub(super) fn update(daemon: &Daemon, out: Output, args: &UpdateArgs) -> Result<(), Failure> {
    let Response::Registrations(list) = daemon.ask(&Request::List)? else {
        return Err(Failure::error("unexpected answer from pnrpd to list"));
    };
    let peer_name = &args.peer_name;
    let mut registration = list
        .into_iter()
        .map(|info| info.registration)
        .find(|registration| &registration.name == peer_name)
        .ok_or_else(|| Failure::not_found(format!("{peer_name} is not registered on this node")))?;
    if !args.addresses.is_empty() || args.automatic_addresses {
        registration.addresses = args.addresses.clone();
    }
    if args.port.is_some() {
        registration.port = args.port;
    }
    if let Some(protocol) = args.protocol {
        registration.protocol = protocol.into();
    }
    if args.no_comment {
        registration.comment = None;
    } else if args.comment.is_some() {
        registration.comment = args.comment.clone();
    }
    if args.no_payload {
        registration.payload = None;
    } else if let Some(path) = &args.payload_file {
        registration.payload = Some(read_payload(path)?);
    }
    publish(daemon, out, registration)
}

/// `pnrpctl unregister`.
pub(super) fn unregister(
    daemon: &Daemon,
    out: Output,
    peer_name: &PeerName,
) -> Result<(), Failure> {
    let request = Request::Unregister {
        name: peer_name.clone(),
    };
    match daemon.ask(&request)? {
        Response::Unregistered => out.print(&Unregistered {
            unregistered: peer_name.to_string(),
        }),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// `pnrpctl list`.
pub(super) fn list(daemon: &Daemon, out: Output) -> Result<(), Failure> {
    match daemon.ask(&Request::List)? {
        Response::Registrations(list) => out.print(&Registrations(
            list.iter().map(RegistrationView::new).collect(),
        )),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// Checks a registration as the daemon will, sends it and prints what was registered.
fn publish(daemon: &Daemon, out: Output, registration: Registration) -> Result<(), Failure> {
    let registration = registration.checked().map_err(Failure::error)?;
    match daemon.ask(&Request::Register(registration))? {
        Response::Registered(info) => out.print(&Registered(RegistrationView::new(&info))),
        other => return Err(Failure::unexpected(other)),
    }
    Ok(())
}

/// The bytes of a payload file.
fn read_payload(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|error| Failure::error(format!("cannot read {}: {error}", path.display())))
}

/// A registration as `register`, `update` and `list` show it.
#[derive(Debug, Serialize)]
struct RegistrationView {
    /// The addresses published now.
    addresses: Vec<String>,
    /// Whether those are the machine's own, followed as they change.
    automatic_addresses: bool,
    comment: Option<String>,
    host_name: String,
    name: String,
    owner_uid: u32,
    port: Option<u16>,
    protocol: &'static str,
}

impl RegistrationView {
    fn new(info: &RegistrationInfo) -> Self {
        let registration = &info.registration;
        RegistrationView {
            addresses: info.published.iter().map(output::address).collect(),
            automatic_addresses: registration.addresses.is_empty(),
            comment: registration.comment.clone(),
            host_name: host_name_of(&registration.name),
            name: registration.name.to_string(),
            owner_uid: info.owner,
            port: registration.port,
            protocol: output::protocol_name(registration.protocol),
        }
    }

    /// The text: `verb` leads the first line; `owner` adds the owner's line.
    fn show(&self, f: &mut fmt::Formatter<'_>, verb: &str, owner: bool) -> fmt::Result {
        writeln!(f, "{verb}{}  ({})", self.name, self.host_name)?;
        output::details(
            f,
            &self.addresses,
            self.port,
            self.protocol,
            self.comment.as_deref(),
        )?;
        if self.automatic_addresses {
            writeln!(f, "  (this machine's addresses, followed as they change)")?;
        }
        if owner {
            writeln!(f, "  owner: uid {}", self.owner_uid)?;
        }
        Ok(())
    }
}

/// What `register` and `update` registered.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Registered(RegistrationView);

impl fmt::Display for Registered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.show(f, "registered ", false)
    }
}

/// What `list` lists.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Registrations(Vec<RegistrationView>);

impl fmt::Display for Registrations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            writeln!(f, "no names registered")?;
        }
        for registration in &self.0 {
            registration.show(f, "", true)?;
        }
        Ok(())
    }
}

/// What `unregister` withdrew.
#[derive(Debug, Serialize)]
struct Unregistered {
    unregistered: String,
}

impl fmt::Display for Unregistered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "unregistered {}", self.unregistered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let v4 = parse_address("192.0.2.1").unwrap();
        assert_eq!(v4.ipv4(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(output::address(&v4), "192.0.2.1");
        let scoped = parse_address("fe80::1%lo").unwrap();
        assert_eq!(scoped.scope_id, 1);
        assert_eq!(output::address(&scoped), "fe80::1%lo");
        assert_eq!(parse_address("fe80::1%7").unwrap().scope_id, 7);
        assert!(parse_address("fe80::1%nosuchif0").is_err());
        assert!(parse_address("nope").is_err());
        assert_eq!(
            parse_address("2001:db8::1").unwrap().ip,
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
        );
    }
}
