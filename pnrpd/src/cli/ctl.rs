//! `pnrpctl`: register, resolve and inspect peer names through `pnrpd`. See `pnrpctl --help`.
//!
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 not found, 4 daemon unreachable.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::identity::IdentityCommand;
use crate::client::{self, ClientError};
use crate::interfaces::interface_index;
use clap::{Parser, Subcommand};
use pnrp_shared::ipc::{
    ErrorKind, Protocol, Record, Registration, RegistrationInfo, Request, Response, ScopedAddr,
    DEFAULT_SOCKET_PATH,
};
use pnrp_shared::{host_name_of, hostname, peer_name_of_host, PeerName};
use serde_json::json;

pub(super) const EXIT_ERROR: u8 = 1;
const EXIT_NOT_FOUND: u8 = 3;
const EXIT_UNREACHABLE: u8 = 4;

/// Register, resolve and inspect PNRP peer names.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Exit codes: 0 success, 1 error, 2 bad usage, 3 not found, 4 pnrpd unreachable."
)]
pub(super) struct Args {
    /// The daemon's socket
    #[arg(long, global = true, env = "PNRP_SOCKET", default_value = DEFAULT_SOCKET_PATH)]
    socket: PathBuf,
    /// Print data as JSON
    #[arg(long, global = true)]
    pub(super) json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish a peer name from this machine
    Register {
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
    },
    /// Change a name this machine publishes, in place (resolvers see it within the freshness
    /// window): only what is given changes
    Update {
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
    },
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
        action: IdentityCommand,
    },
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
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

fn format_address(address: &ScopedAddr) -> String {
    if let Some(v4) = address.ipv4() {
        return v4.to_string();
    }
    if address.scope_id == 0 {
        return address.ip.to_string();
    }
    match crate::interfaces::interface_name(address.scope_id) {
        Some(name) => format!("{}%{name}", address.ip),
        None => format!("{}%{}", address.ip, address.scope_id),
    }
}

/// A host name if it ends in `.pnrp.net`, else a peer name.
fn parse_query(text: &str) -> Result<PeerName, String> {
    if hostname::is_pnrp_host(text.as_bytes()) {
        peer_name_of_host(text).map_err(|error| error.to_string())
    } else {
        text.parse()
            .map_err(|error: pnrp_shared::PeerNameError| error.to_string())
    }
}

/// Runs the program with these arguments (the first is the program name).
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("pnrpctl: {message}");
            ExitCode::from(code)
        }
    }
}

pub(super) type Failure = (u8, String);

pub(super) fn ask(args: &Args, request: &Request) -> Result<Response, Failure> {
    match client::request(&args.socket, request, Duration::from_secs(10)) {
        Ok(Response::Error { kind, message }) => {
            let code = match kind {
                ErrorKind::NotRegistered => EXIT_NOT_FOUND,
                _ => EXIT_ERROR,
            };
            Err((code, message))
        }
        Ok(response) => Ok(response),
        Err(error @ ClientError::Unreachable { .. }) => {
            Err((EXIT_UNREACHABLE, format!("{error} (is pnrpd running?)")))
        }
        Err(error) => Err((EXIT_UNREACHABLE, error.to_string())),
    }
}

/// Checks a registration as the daemon will, sends it and prints what was registered.
fn publish(args: &Args, registration: Registration) -> Result<(), Failure> {
    let registration = registration
        .checked()
        .map_err(|message| (EXIT_ERROR, message))?;
    match ask(args, &Request::Register(registration))? {
        Response::Registered(info) => print_registrations(args, &[info], true),
        other => return Err(unexpected(other)),
    }
    Ok(())
}

/// The bytes of a payload file.
fn read_payload(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|error| {
        (
            EXIT_ERROR,
            format!("cannot read {}: {error}", path.display()),
        )
    })
}

pub(super) fn unexpected(response: Response) -> Failure {
    (
        EXIT_ERROR,
        format!("unexpected answer from pnrpd: {response:?}"),
    )
}

fn run(args: &Args) -> Result<(), Failure> {
    match &args.command {
        Command::Identity { action } => super::identity::run(args, action)?,
        Command::Register {
            peer_name,
            addresses,
            port,
            protocol,
            comment,
            payload_file,
        } => {
            let payload = payload_file.as_deref().map(read_payload).transpose()?;
            let registration = Registration {
                name: peer_name.clone(),
                addresses: addresses.clone(),
                port: *port,
                protocol: (*protocol).into(),
                comment: comment.clone(),
                payload,
            };
            publish(args, registration)?;
        }
        Command::Update {
            peer_name,
            addresses,
            automatic_addresses,
            port,
            protocol,
            comment,
            no_comment,
            payload_file,
            no_payload,
        } => {
            let Response::Registrations(list) = ask(args, &Request::List)? else {
                return Err((EXIT_ERROR, "unexpected answer from pnrpd to list".into()));
            };
            let mut registration = list
                .into_iter()
                .map(|info| info.registration)
                .find(|registration| &registration.name == peer_name)
                .ok_or_else(|| {
                    (
                        EXIT_NOT_FOUND,
                        format!("{peer_name} is not registered on this node"),
                    )
                })?;
            if !addresses.is_empty() || *automatic_addresses {
                registration.addresses = addresses.clone();
            }
            if port.is_some() {
                registration.port = *port;
            }
            if let Some(protocol) = protocol {
                registration.protocol = (*protocol).into();
            }
            if *no_comment {
                registration.comment = None;
            } else if comment.is_some() {
                registration.comment = comment.clone();
            }
            if *no_payload {
                registration.payload = None;
            } else if let Some(path) = payload_file {
                registration.payload = Some(read_payload(path)?);
            }
            publish(args, registration)?;
        }
        Command::Unregister { peer_name } => {
            match ask(
                args,
                &Request::Unregister {
                    name: peer_name.clone(),
                },
            )? {
                Response::Unregistered => {
                    if args.json {
                        println!("{}", json!({ "unregistered": peer_name.to_string() }));
                    } else {
                        println!("unregistered {peer_name}");
                    }
                }
                other => return Err(unexpected(other)),
            }
        }
        Command::List => match ask(args, &Request::List)? {
            Response::Registrations(list) => print_registrations(args, &list, false),
            other => return Err(unexpected(other)),
        },
        Command::Resolve { name, payload_out } => {
            let name = parse_query(name).map_err(|message| (EXIT_ERROR, message))?;
            match ask(args, &Request::Resolve { name: name.clone() })? {
                Response::Resolved(records) => {
                    print_records(args, &name, &records);
                    if let Some(path) = payload_out {
                        let payload = records
                            .iter()
                            .find_map(|record| record.payload.as_ref())
                            .ok_or_else(|| (EXIT_NOT_FOUND, format!("{name} has no payload")))?;
                        std::fs::write(path, payload).map_err(|error| {
                            (
                                EXIT_ERROR,
                                format!("cannot write {}: {error}", path.display()),
                            )
                        })?;
                    }
                }
                Response::NotFound => {
                    return Err((EXIT_NOT_FOUND, format!("{name}: not found")));
                }
                other => return Err(unexpected(other)),
            }
        }
        Command::Hostname { peer_name } => {
            let host = host_name_of(peer_name);
            if args.json {
                println!(
                    "{}",
                    json!({ "peer_name": peer_name.to_string(), "host_name": host })
                );
            } else {
                println!("{host}");
            }
        }
        Command::Peername { host_name } => {
            let peer =
                peer_name_of_host(host_name).map_err(|error| (EXIT_ERROR, error.to_string()))?;
            if args.json {
                println!(
                    "{}",
                    json!({ "host_name": host_name, "peer_name": peer.to_string() })
                );
            } else {
                println!("{peer}");
            }
        }
        Command::Clouds => match ask(args, &Request::Clouds)? {
            Response::Clouds(clouds) => {
                if args.json {
                    let items: Vec<_> = clouds
                        .iter()
                        .map(|cloud| {
                            json!({
                                "name": cloud.name,
                                "endpoints": cloud.endpoints,
                                "cached": cloud.cached,
                                "published": cloud.published.iter()
                                    .map(|(id, name)| json!({"id": id, "name": name}))
                                    .collect::<Vec<_>>(),
                                "sent": cloud.counters[0],
                                "received": cloud.counters[1],
                                "malformed": cloud.counters[2],
                                "bad_cpas": cloud.counters[3],
                                "rate_limited": cloud.counters[4],
                                "withheld": cloud.counters[5],
                            })
                        })
                        .collect();
                    println!("{}", json!(items));
                } else if clouds.is_empty() {
                    println!("no cloud (pnrpd runs with cloud = false)");
                } else {
                    for cloud in clouds {
                        println!("{}", cloud.name);
                        let endpoints = if cloud.endpoints.is_empty() {
                            "none yet (no address of this scope)".to_string()
                        } else {
                            cloud.endpoints.join(" ")
                        };
                        println!("  listening: {endpoints}");
                        println!("  cached nodes: {}", cloud.cached);
                        for (id, name) in &cloud.published {
                            println!("  publishes {name} as {id}");
                        }
                        let [sent, received, malformed, bad, limited, withheld] = cloud.counters;
                        println!("  datagrams sent {sent}, received {received}, malformed {malformed}; CPAs rejected {bad}");
                        println!("  dropped over the rate limit {limited}; answers withheld from unproven addresses {withheld}");
                    }
                }
            }
            other => return Err(unexpected(other)),
        },
        Command::Cache => match ask(args, &Request::Cache)? {
            Response::Cache(entries) => {
                if args.json {
                    let items: Vec<_> = entries
                        .iter()
                        .map(|entry| {
                            json!({"cloud": entry.cloud, "id": entry.id,
                                   "endpoints": entry.endpoints, "age_secs": entry.age_secs})
                        })
                        .collect();
                    println!("{}", json!(items));
                } else {
                    if entries.is_empty() {
                        println!("the cache is empty");
                    }
                    for entry in entries {
                        println!(
                            "{} {} {} (seen {}s ago)",
                            entry.cloud,
                            entry.id,
                            entry.endpoints.join(" "),
                            entry.age_secs
                        );
                    }
                }
            }
            other => return Err(unexpected(other)),
        },
        Command::Traceroute { name } => {
            let name = parse_query(name).map_err(|message| (EXIT_ERROR, message))?;
            match ask(args, &Request::Traceroute { name: name.clone() })? {
                Response::Trace(traces) => {
                    let found = traces.iter().any(|trace| !trace.publishers.is_empty());
                    if args.json {
                        let items: Vec<_> = traces
                            .iter()
                            .map(|trace| {
                                json!({"cloud": trace.cloud, "hops": trace.hops,
                                                "publishers": trace.publishers})
                            })
                            .collect();
                        println!("{}", json!({"name": name.to_string(), "clouds": items}));
                    } else {
                        if traces.is_empty() {
                            println!("no cloud to ask");
                        }
                        for trace in &traces {
                            println!("{} in {}:", name, trace.cloud);
                            for (index, hop) in trace.hops.iter().enumerate() {
                                let mark = if trace.publishers.contains(hop) {
                                    "  publisher"
                                } else {
                                    ""
                                };
                                println!("  {:2}  {hop}{mark}", index + 1);
                            }
                            if trace.publishers.is_empty() {
                                println!("  not found");
                            }
                        }
                    }
                    if !found {
                        return Err((EXIT_NOT_FOUND, format!("{name}: not found in any cloud")));
                    }
                }
                other => return Err(unexpected(other)),
            }
        }
        Command::Status => match ask(args, &Request::Status)? {
            Response::Status(status) => {
                if args.json {
                    println!(
                        "{}",
                        json!({
                            "version": status.version,
                            "uptime_secs": status.uptime_secs,
                            "registrations": status.registrations,
                            "state_dir": status.state_dir,
                            "socket": args.socket.display().to_string(),
                        })
                    );
                } else {
                    println!(
                        "pnrpd {} running for {}s",
                        status.version, status.uptime_secs
                    );
                    println!("socket:        {}", args.socket.display());
                    println!("state dir:     {}", status.state_dir);
                    println!("registrations: {}", status.registrations);
                }
            }
            other => return Err(unexpected(other)),
        },
    }
    Ok(())
}

fn addresses_json(addresses: &[ScopedAddr]) -> Vec<String> {
    addresses.iter().map(format_address).collect()
}

fn print_registrations(args: &Args, list: &[RegistrationInfo], just_registered: bool) {
    if args.json {
        let items: Vec<_> = list
            .iter()
            .map(|info| {
                let registration = &info.registration;
                json!({
                    "name": registration.name.to_string(),
                    "host_name": host_name_of(&registration.name),
                    "automatic_addresses": registration.addresses.is_empty(),
                    "addresses": addresses_json(&info.published),
                    "port": registration.port,
                    "protocol": protocol_name(registration.protocol),
                    "comment": registration.comment,
                    "owner_uid": info.owner,
                })
            })
            .collect();
        let value = if just_registered {
            items[0].clone()
        } else {
            json!(items)
        };
        println!("{value}");
        return;
    }
    if list.is_empty() {
        println!("no names registered");
    }
    for info in list {
        let registration = &info.registration;
        let verb = if just_registered { "registered " } else { "" };
        println!(
            "{verb}{}  ({})",
            registration.name,
            host_name_of(&registration.name)
        );
        print_details(
            &info.published,
            registration.port.map(|port| (port, registration.protocol)),
            registration.comment.as_deref(),
        );
        if registration.addresses.is_empty() {
            println!("  (this machine's addresses, followed as they change)");
        }
        if !just_registered {
            println!("  owner: uid {}", info.owner);
        }
    }
}

fn print_details(addresses: &[ScopedAddr], port: Option<(u16, Protocol)>, comment: Option<&str>) {
    if addresses.is_empty() {
        println!("  no address yet");
    }
    for address in addresses {
        println!("  {}", format_address(address));
    }
    if let Some((port, protocol)) = port {
        println!("  port {port}/{}", protocol_name(protocol));
    }
    if let Some(comment) = comment {
        println!("  comment: {comment}");
    }
}

fn print_records(args: &Args, name: &PeerName, records: &[Record]) {
    if args.json {
        let records: Vec<_> = records
            .iter()
            .map(|record| {
                json!({
                    "source": record.source,
                    "addresses": addresses_json(&record.addresses),
                    "port": record.port,
                    "protocol": protocol_name(record.protocol),
                    "payload_hex": record.payload.as_deref().map(hex),
                    "comment": record.comment,
                })
            })
            .collect();
        println!(
            "{}",
            json!({ "name": name.to_string(), "host_name": host_name_of(name), "records": records })
        );
        return;
    }
    println!("{name}  ({})", host_name_of(name));
    for record in records {
        println!(" from {}", record.source);
        print_details(
            &record.addresses,
            record.port.map(|port| (port, record.protocol)),
            record.comment.as_deref(),
        );
        if let Some(payload) = &record.payload {
            println!(
                "  payload: {} bytes (--payload-out FILE saves it)",
                payload.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let v4 = parse_address("192.0.2.1").unwrap();
        assert_eq!(v4.ipv4(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(format_address(&v4), "192.0.2.1");
        let scoped = parse_address("fe80::1%lo").unwrap();
        assert_eq!(scoped.scope_id, 1);
        assert_eq!(format_address(&scoped), "fe80::1%lo");
        assert_eq!(parse_address("fe80::1%7").unwrap().scope_id, 7);
        assert!(parse_address("fe80::1%nosuchif0").is_err());
        assert!(parse_address("nope").is_err());
        assert_eq!(
            parse_address("2001:db8::1").unwrap().ip,
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn queries_prefer_host_names() {
        assert_eq!(
            parse_query("0.myapp.pnrp.net").unwrap().to_string(),
            "0.myapp"
        );
        assert_eq!(parse_query("0.myapp").unwrap().to_string(), "0.myapp");
        assert!(parse_query("nope").is_err());
    }
}
