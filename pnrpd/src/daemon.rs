//! The tokio driver: moves requests between the Unix socket and the [`Node`], owns the timers and
//! persists registrations. It holds no protocol logic of its own.
//!
//! One task (`run`) owns the node, the store and every pending resolve; each client connection is a
//! task that decodes frames and sends `Command`s to it over a channel. Shutdown (the future passed
//! to `run` completing, e.g. on SIGTERM) stops accepting, answers what is in flight with an error,
//! and removes the socket file.

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, SocketAddrV6};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::ipc::{
    self, ErrorKind, FrameError, Request, Response, Status, HEADER_LEN, MAX_REGISTRATIONS,
    MAX_REGISTRATIONS_PER_USER,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UdpSocket, UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tracing::{debug, info, warn};

use crate::cloud::guard::Generations;
use crate::cloud::node::{Cloud, CloudConfig, WallClock};
use crate::cloud::ssdp;
use crate::identity::{Identities, Identity, IdentityError, MAX_IDENTITIES_PER_USER};
use crate::interfaces;
use crate::node::{CloudScope, Event, Node, QueryId};
use crate::store::{OwnedRegistration, Store, StoreError};

/// How long a client may stay silent before its connection is closed (the NSS module and
/// pnrpctl send their request at once).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a started frame may take to arrive whole.
const FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Most client connections served at once; more are closed at once (clients retry or fail fast).
const MAX_CONNECTIONS: usize = 1024;
/// Most connections one user may hold, so that no user can starve the others' lookups.
const MAX_CONNECTIONS_PER_USER: usize = 128;
/// How often the machine's addresses are re-read for automatic registrations.
const ADDRESS_REFRESH: Duration = Duration::from_secs(2);

/// Every this many address refreshes (30 s), the cloud's cache is remembered for the next start.
const PEERS_SAVE_TICKS: u64 = 15;
/// Most peers whose local address is remembered for replies.
const MAX_PEERS_TRACKED: usize = 4096;
/// Most remembered cloud nodes.
const MAX_SAVED_PEERS: usize = 64;
/// Datagrams taken from the UDP socket in one round of the driver's loop, at most.
const RECEIVE_BATCH: usize = 64;
/// The UDP socket's receive buffer asked for: bursts wait there rather than being dropped (the
/// kernel may grant less: net.core.rmem_max).
const RECEIVE_BUFFER: usize = 1 << 20;
/// Every this many address refreshes (30 s), at most one line sums up the datagrams dropped
/// since the last one: hostile input never costs one log line per datagram.
const DROP_SUMMARY_TICKS: u64 = 15;

/// Counts of dropped or failed datagrams, summed over the clouds, logged as one line per
/// [`DROP_SUMMARY_TICKS`] when they grew.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Drops {
    malformed: u64,
    rate_limited: u64,
    withheld: u64,
    bad_cpas: u64,
    send_failed: u64,
}

impl Drops {
    fn now(node: &Node, send_failed: u64) -> Drops {
        let mut drops = Drops {
            send_failed,
            ..Drops::default()
        };
        for (_, _, cloud) in node.clouds() {
            let stats = cloud.stats();
            drops.malformed += stats.malformed;
            drops.rate_limited += stats.rate_limited;
            drops.withheld += stats.withheld;
            drops.bad_cpas += stats.bad_cpas;
        }
        drops
    }

    /// Logs what grew since `self` (one line, or none), and becomes `current`.
    fn summarize(&mut self, current: Drops) {
        if current != *self {
            warn!(
                malformed = current.malformed - self.malformed,
                rate_limited = current.rate_limited - self.rate_limited,
                withheld = current.withheld - self.withheld,
                bad_cpas = current.bad_cpas - self.bad_cpas,
                send_failed = current.send_failed - self.send_failed,
                "datagrams dropped in the last {} s",
                ADDRESS_REFRESH.as_secs() * DROP_SUMMARY_TICKS
            );
        }
        *self = current;
    }
}

/// Remembers the clouds' cached nodes, so that a restart rejoins without seeds.
fn save_peers(node: &Node, store: &Store) {
    let peers: Vec<SocketAddrV6> = node
        .clouds()
        .flat_map(|(_, _, cloud)| cloud.cache().entries())
        .filter_map(|entry| entry.endpoints.first().copied())
        .take(MAX_SAVED_PEERS)
        .collect();
    if peers.is_empty() {
        return;
    }
    if let Err(error) = store.save_peers(&peers) {
        warn!(%error, "could not remember cloud nodes");
    }
}

/// What the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Unix socket to serve.
    pub socket: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The cloud, unless the daemon keeps to this machine.
    pub cloud: Option<CloudSettings>,
}

/// How the daemon takes part in the PNRP cloud.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// UDP port.
    pub port: u16,
    /// Nodes to join through.
    pub seeds: Vec<SocketAddrV6>,
    /// How long a positive answer may be reused.
    pub freshness: Duration,
    /// Whether to find and answer neighbours by SSDP multicast.
    pub discovery: bool,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The state directory is unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identities in the state directory are unusable.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The cloud's UDP port could not be opened.
    #[error("UDP port {port}: {message}")]
    Cloud {
        /// The port.
        port: u16,
        /// What went wrong.
        message: String,
    },
    /// The socket could not be set up.
    #[error("socket {path}: {message}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A request from a connection, with where to send the answer.
#[derive(Debug)]
struct Command {
    request: Request,
    reply: oneshot::Sender<Response>,
    /// The caller's uid, from the kernel (`SO_PEERCRED`).
    uid: u32,
}

/// Runs the daemon until `shutdown` completes. `ready` is called once the socket accepts clients.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    let store = Store::open(&settings.state_dir)?;
    let started = Instant::now();
    let mut node = Node::new();
    node.handle_local_addresses(started, interfaces::local_addresses());
    let mut identities = Identities::open(&settings.state_dir)?;
    let saved = store.load()?;
    info!(count = saved.len(), dir = %store.dir().display(), "loaded registrations");
    for saved in saved {
        let name = &saved.registration.name;
        let identity = identity_of(&identities, name).map(|identity| identity.key.clone());
        if name.is_secured() && identity.is_none() {
            warn!(%name, "its identity is gone: other nodes will refuse this name's CPAs");
        }
        node.register(started, saved.registration, saved.owner, identity);
    }

    let mut io = match &settings.cloud {
        Some(cloud) => Some(open_cloud(&mut node, &store, cloud, started)?),
        None => None,
    };
    let mut datagram = vec![0u8; 65536];
    let mut announcement = vec![0u8; 4096];

    let listener = bind(&settings.socket)?;
    info!(socket = %settings.socket.display(), "listening");
    let (commands, mut incoming) = mpsc::channel::<Command>(256);
    let accept = tokio::spawn(accept_loop(listener, commands));
    ready();

    let mut pending: HashMap<QueryId, oneshot::Sender<Response>> = HashMap::new();
    let mut tracing_queries: std::collections::HashSet<QueryId> = Default::default();
    let mut refresh = tokio::time::interval(ADDRESS_REFRESH);
    let mut refreshes: u64 = 0;
    let mut send_failed: u64 = 0;
    let mut drops = Drops::default();
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let deadline = node.poll_timeout();
        tokio::select! {
            () = &mut shutdown => break,
            Some(command) = incoming.recv() => {
                if let Request::Traceroute { name } = &command.request {
                    let query = node.start_trace(Instant::now(), name);
                    tracing_queries.insert(query);
                    pending.insert(query, command.reply);
                } else {
                    handle_command(
                        &mut node,
                        &store,
                        &mut identities,
                        &mut pending,
                        started,
                        command,
                    );
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => node.handle_timeout(Instant::now()),
            _ = refresh.tick() => {
                node.handle_local_addresses(Instant::now(), interfaces::local_addresses());
                refreshes += 1;
                if let Some(io) = &mut io {
                    open_link_local_clouds(&mut node, io, Instant::now());
                }
                if refreshes % PEERS_SAVE_TICKS == 0 {
                    save_peers(&node, &store);
                }
                if refreshes % DROP_SUMMARY_TICKS == 0 {
                    drops.summarize(Drops::now(&node, send_failed));
                }
            }
            received = receive_cloud(io.as_ref().map(|io| &io.udp), &mut datagram) => {
                if let (Ok(first), Some(io)) = (received, &mut io) {
                    let mut next = Some(first);
                    let mut taken = 0;
                    while let Some((length, from, local)) = next.take() {
                        if let Some(local) = local {
                            *io.reached.entry(from, || local) = local;
                        }
                        if let Some(cloud) = node.cloud_for(&from) {
                            node.handle_datagram(Instant::now(), cloud, from, &datagram[..length]);
                        }
                        // Under a flood, take what else is queued without a round of the loop
                        // each.
                        taken += 1;
                        if taken <= RECEIVE_BATCH {
                            next = crate::udp::try_receive(&io.udp, &mut datagram).ok();
                        }
                    }
                }
            }
            received = receive(io.as_ref().and_then(|io| io.ssdp.as_ref()), &mut announcement) => {
                if let (Ok((length, SocketAddr::V6(from))), Some(io)) = (received, &io) {
                    for answer in node.handle_ssdp(Instant::now(), from, &announcement[..length]) {
                        if let Some(ssdp) = &io.ssdp {
                            let _ = ssdp.try_send_to(&answer, SocketAddr::V6(from));
                        }
                    }
                }
            }
        }
        if let Some(io) = &io {
            send_failed += flush(&mut node, io);
        }
        while let Some(event) = node.poll_event() {
            match event {
                Event::Resolved {
                    query,
                    records,
                    trace,
                } => {
                    if let Some(reply) = pending.remove(&query) {
                        let response = if tracing_queries.remove(&query) {
                            Response::Trace(trace)
                        } else if records.is_empty() {
                            Response::NotFound
                        } else {
                            Response::Resolved(records)
                        };
                        let _ = reply.send(response);
                    }
                }
            }
        }
    }

    info!("shutting down");
    save_peers(&node, &store);
    accept.abort();
    if let Err(error) = std::fs::remove_file(&settings.socket) {
        warn!(%error, "could not remove the socket file");
    }
    Ok(())
}

/// The cloud's sockets and what it takes to open one more cloud.
#[derive(Debug)]
struct CloudIo {
    udp: UdpSocket,
    /// The local address each peer last reached us at: replies leave from it. Bounded, so a
    /// flood of forged sources costs bounded memory and honest peers' fresh entries survive.
    reached: Generations<SocketAddrV6, std::net::Ipv6Addr>,
    ssdp: Option<UdpSocket>,
    joined: std::collections::HashSet<u32>,
    key: [u8; 32],
    seeds: Vec<SocketAddrV6>,
    settings: CloudSettings,
    clock: WallClock,
    next_seed: u64,
}

impl CloudIo {
    fn config(&mut self, scope_id: u32, discovery: Option<&'static str>) -> CloudConfig {
        self.next_seed = self.next_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let seeds = self
            .seeds
            .iter()
            .filter(|seed| {
                let link_local = seed.ip().is_unicast_link_local();
                if scope_id == 0 {
                    !link_local
                } else {
                    link_local && seed.scope_id() == scope_id
                }
            })
            .copied()
            .collect();
        CloudConfig {
            seed: self.next_seed,
            seeds,
            key: ed25519_dalek::SigningKey::from_bytes(&self.key),
            clock: self.clock,
            scope_id,
            discovery: discovery.filter(|_| self.settings.discovery),
        }
    }
}

fn udp_socket(port: u16, shared: bool) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None)?;
    socket.set_only_v6(true)?;
    socket.set_nonblocking(true)?;
    if !shared {
        // Best effort: a smaller buffer only means earlier drops under load.
        let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    }
    if shared {
        // Port 1900 belongs to every SSDP speaker on the machine.
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_multicast_loop_v6(false)?;
    }
    let address = SocketAddrV6::new(std::net::Ipv6Addr::UNSPECIFIED, port, 0, 0);
    socket.bind(&SocketAddr::V6(address).into())?;
    UdpSocket::from_std(socket.into())
}

/// Binds the cloud's UDP socket (IPv6 only, all addresses; datagrams are told apart by their
/// source's scope), the SSDP socket, and adds the `Global_` cloud.
fn open_cloud(
    node: &mut Node,
    store: &Store,
    settings: &CloudSettings,
    now: Instant,
) -> Result<CloudIo, DaemonError> {
    let cloud_error = |message: String| DaemonError::Cloud {
        port: settings.port,
        message,
    };
    let udp = udp_socket(settings.port, false).map_err(|error| cloud_error(error.to_string()))?;
    let ssdp = if settings.discovery {
        match udp_socket(ssdp::PORT, true) {
            Ok(socket) => Some(socket),
            Err(error) => {
                warn!(%error, "SSDP discovery off: cannot bind port 1900");
                None
            }
        }
    } else {
        None
    };
    let seed = crate::store::random_bytes::<8>().map_err(|error| cloud_error(error.to_string()))?;
    let unix_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    // Configured seeds first, then the nodes remembered from the last run.
    let mut seeds = settings.seeds.clone();
    for peer in store.load_peers() {
        if !seeds.contains(&peer) {
            seeds.push(peer);
        }
    }
    crate::udp::enable_destination_info(&udp).map_err(|error| cloud_error(error.to_string()))?;
    let mut io = CloudIo {
        udp,
        reached: Generations::new(MAX_PEERS_TRACKED),
        ssdp,
        joined: Default::default(),
        key: store.node_key()?,
        seeds,
        settings: settings.clone(),
        clock: WallClock { at: now, unix_secs },
        next_seed: u64::from_le_bytes(seed),
    };
    node.set_freshness(settings.freshness);
    let config = io.config(0, Some("Global"));
    node.add_cloud(
        now,
        "Global_".into(),
        CloudScope::Global,
        settings.port,
        Cloud::new(config, now),
    );
    info!(
        port = settings.port,
        seeds = settings.seeds.len(),
        "joined the Global_ cloud"
    );
    open_link_local_clouds(node, &mut io, now);
    Ok(io)
}

/// One `LinkLocal_<interface>` cloud per interface with a link-local address; SSDP listens on
/// each such link.
fn open_link_local_clouds(node: &mut Node, io: &mut CloudIo, now: Instant) {
    let interfaces: std::collections::BTreeSet<u32> = interfaces::local_addresses()
        .iter()
        .filter(|address| address.is_link_local())
        .map(|address| address.scope_id)
        .collect();
    for interface in interfaces {
        if let Some(ssdp) = &io.ssdp {
            if io.joined.insert(interface) {
                if let Err(error) = ssdp.join_multicast_v6(&ssdp::GROUP, interface) {
                    debug!(%error, interface, "cannot join the SSDP group");
                }
            }
        }
        if node.has_link_local_cloud(interface) {
            continue;
        }
        let name = format!(
            "LinkLocal_{}",
            interfaces::interface_name(interface).unwrap_or_else(|| interface.to_string())
        );
        let config = io.config(interface, Some("LinkLocal"));
        info!(cloud = %name, "joined");
        node.add_cloud(
            now,
            name,
            CloudScope::LinkLocal(interface),
            io.settings.port,
            Cloud::new(config, now),
        );
    }
}

/// Sends what the node queued: PNRP datagrams, SSDP searches. Returns how many PNRP datagrams
/// could not be sent (counted, not logged one by one: see [`Drops`]).
fn flush(node: &mut Node, io: &CloudIo) -> u64 {
    let mut failed = 0;
    while let Some((_, to, bytes)) = node.poll_transmit() {
        // UDP may drop; PNRP retransmits what matters.
        if crate::udp::send_from(&io.udp, &bytes, to, io.reached.get(&to).copied()).is_err() {
            failed += 1;
        }
    }
    while let Some((interface, bytes)) = node.poll_ssdp() {
        let Some(ssdp) = &io.ssdp else { continue };
        let links: Vec<u32> = match interface {
            Some(interface) => vec![interface],
            None => io.joined.iter().copied().collect(),
        };
        for link in links {
            let group = SocketAddrV6::new(ssdp::GROUP, ssdp::PORT, 0, link);
            if let Err(error) = ssdp.try_send_to(&bytes, SocketAddr::V6(group)) {
                debug!(%error, link, "SSDP search not sent");
            }
        }
    }
    failed
}

async fn receive_cloud(
    socket: Option<&UdpSocket>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, SocketAddrV6, Option<std::net::Ipv6Addr>)> {
    match socket {
        Some(socket) => crate::udp::receive(socket, buffer).await,
        None => std::future::pending().await,
    }
}

async fn receive(
    socket: Option<&UdpSocket>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(socket) => socket.recv_from(buffer).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

fn handle_command(
    node: &mut Node,
    store: &Store,
    identities: &mut Identities,
    pending: &mut HashMap<QueryId, oneshot::Sender<Response>>,
    started: Instant,
    Command {
        request,
        reply,
        uid,
    }: Command,
) {
    let now = Instant::now();
    let response = match request {
        Request::Resolve { name } => {
            let query = node.start_resolve(now, &name);
            pending.insert(query, reply);
            return;
        }
        Request::ResolveAddress { address } => {
            let names = node.names_at(&address);
            if names.is_empty() {
                Response::NotFound
            } else {
                Response::Names(names)
            }
        }
        Request::Register(registration) => match registration.checked() {
            Err(message) => Response::Error {
                kind: ErrorKind::BadRequest,
                message,
            },
            Ok(registration) => match may_register(node, &registration.name, uid)
                .and_then(|()| signing_identity(identities, &registration.name, uid))
            {
                Err(refusal) => refusal.into(),
                Ok(identity) => {
                    let mut saved = node.saved_registrations();
                    // Re-registering keeps the original owner (root may update anyone's name).
                    let owner = node.owner_of(&registration.name).unwrap_or(uid);
                    saved.retain(|existing| existing.registration.name != registration.name);
                    saved.push(OwnedRegistration {
                        owner,
                        registration: registration.clone(),
                    });
                    match store.save(&saved) {
                        Ok(()) => {
                            info!(name = %registration.name, owner, "registered");
                            Response::Registered(node.register(now, registration, owner, identity))
                        }
                        Err(error) => storage_error(error),
                    }
                }
            },
        },
        Request::Unregister { name } => {
            if !node.is_registered(&name) {
                Response::Error {
                    kind: ErrorKind::NotRegistered,
                    message: format!("{name} is not registered on this node"),
                }
            } else if let Err(refusal) = owns(node, &name, uid) {
                refusal.into()
            } else {
                let mut saved = node.saved_registrations();
                saved.retain(|existing| existing.registration.name != name);
                match store.save(&saved) {
                    Ok(()) => {
                        node.unregister(now, &name);
                        info!(%name, uid, "unregistered");
                        Response::Unregistered
                    }
                    Err(error) => storage_error(error),
                }
            }
        }
        Request::List => Response::Registrations(node.registrations()),
        Request::Clouds => Response::Clouds(node.cloud_info()),
        Request::Cache => Response::Cache(node.cache_info(now)),
        Request::Traceroute { .. } => Response::Error {
            kind: ErrorKind::Unavailable,
            message: "traceroute is handled by the driver loop".into(),
        },
        Request::IdentityCreate { secret } => create_identity(node, identities, uid, secret),
        Request::IdentityList => Response::Identities(
            identities
                .iter()
                .filter(|(_, identity)| uid == 0 || identity.owner == uid)
                .map(|(_, identity)| identity_info(node, identity))
                .collect(),
        ),
        Request::IdentityExport { authority, secret } => {
            match owned_identity(identities, &authority, uid) {
                Err(refusal) => refusal.into(),
                Ok(identity) if secret => Response::IdentitySecret {
                    identity: identity_info(node, identity),
                    secret: identity.key.to_bytes(),
                },
                Ok(identity) => Response::Identities(vec![identity_info(node, identity)]),
            }
        }
        Request::IdentityDelete { authority } => {
            match owned_identity(identities, &authority, uid) {
                Err(refusal) => refusal.into(),
                Ok(identity) => {
                    let info = identity_info(node, identity);
                    if !info.names.is_empty() {
                        Response::Error {
                            kind: ErrorKind::BadRequest,
                            message: format!(
                                "identity {authority} still publishes {}: unregister first",
                                names_list(&info.names)
                            ),
                        }
                    } else {
                        let authority = identity.authority();
                        match identities.remove(&authority) {
                            Ok(()) => {
                                info!(%authority, uid, "identity deleted");
                                Response::IdentityDeleted
                            }
                            Err(error) => identity_storage_error(error),
                        }
                    }
                }
            }
        }
        Request::Status => Response::Status(Status {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: now.duration_since(started).as_secs(),
            registrations: node.registrations().len() as u32,
            state_dir: store.dir().display().to_string(),
        }),
    };
    let _ = reply.send(response);
}

/// Whether `uid` may change `name`: its owner and root may.
fn owns(node: &Node, name: &pnrp_shared::PeerName, uid: u32) -> Result<(), Refusal> {
    match node.owner_of(name) {
        Some(owner) if owner != uid && uid != 0 => Err(Refusal(
            ErrorKind::NotOwner,
            format!(
                "{name} belongs to another user (uid {owner}); only they or root may change it"
            ),
        )),
        _ => Ok(()),
    }
}

/// Why a request is refused, before it becomes a [`Response::Error`].
#[derive(Debug)]
struct Refusal(ErrorKind, String);

impl From<Refusal> for Response {
    fn from(Refusal(kind, message): Refusal) -> Self {
        Response::Error { kind, message }
    }
}

/// Whether `uid` may (re-)register `name`: ownership, the user's quota, the node's limit.
fn may_register(node: &Node, name: &pnrp_shared::PeerName, uid: u32) -> Result<(), Refusal> {
    if node.is_registered(name) {
        return owns(node, name, uid);
    }
    if uid != 0 && node.registered_by(uid) >= MAX_REGISTRATIONS_PER_USER {
        return Err(Refusal(
            ErrorKind::Quota,
            format!(
                "you already publish {MAX_REGISTRATIONS_PER_USER} names, the most one user may; \
                 unregister one first"
            ),
        ));
    }
    if node.registrations().len() >= MAX_REGISTRATIONS {
        return Err(Refusal(
            ErrorKind::BadRequest,
            format!("this node already publishes {MAX_REGISTRATIONS} names, the most it may"),
        ));
    }
    Ok(())
}

/// A secured name's identity, when this node has it (`None` for an unsecured name).
fn identity_of<'a>(
    identities: &'a Identities,
    name: &pnrp_shared::PeerName,
) -> Option<&'a Identity> {
    name.is_secured()
        .then(|| identities.get(&name.authority()))
        .flatten()
}

/// The key that signs `name`'s CPAs: none for an unsecured name (the node's key serves); for a
/// secured name, the identity of its authority, which must be the caller's (or root's to use).
fn signing_identity(
    identities: &Identities,
    name: &pnrp_shared::PeerName,
    uid: u32,
) -> Result<Option<SigningKey>, Refusal> {
    if !name.is_secured() {
        return Ok(None);
    }
    match identity_of(identities, name) {
        Some(identity) if identity.owner == uid || uid == 0 => Ok(Some(identity.key.clone())),
        _ => Err(Refusal(
            ErrorKind::NoIdentity,
            format!(
                "{name} is a secured name: only the holder of identity {} may publish it, and \
                 you have no such identity on this node (see `pnrpctl identity list`)",
                name.authority()
            ),
        )),
    }
}

/// An identity the caller may export or delete: its owner's, or any for root. Another user's
/// identity is reported as missing, so that authorities cannot be probed.
fn owned_identity<'a>(
    identities: &'a Identities,
    authority: &str,
    uid: u32,
) -> Result<&'a Identity, Refusal> {
    let missing = || {
        Refusal(
            ErrorKind::NoIdentity,
            format!("no identity {authority} of yours on this node"),
        )
    };
    let parsed = match pnrp_shared::Authority::parse(authority) {
        Ok(parsed @ pnrp_shared::Authority::Secured(_)) => parsed,
        _ => {
            return Err(Refusal(
                ErrorKind::BadRequest,
                format!("{authority:?} is not an authority (40 hex digits)"),
            ))
        }
    };
    identities
        .get(&parsed)
        .filter(|identity| identity.owner == uid || uid == 0)
        .ok_or_else(missing)
}

fn create_identity(
    node: &Node,
    identities: &mut Identities,
    uid: u32,
    secret: Option<[u8; 32]>,
) -> Response {
    if uid != 0 && identities.owned_by(uid) >= MAX_IDENTITIES_PER_USER {
        return Refusal(
            ErrorKind::Quota,
            format!(
                "you already keep {MAX_IDENTITIES_PER_USER} identities, the most one user may; \
                 delete one first"
            ),
        )
        .into();
    }
    let secret = match secret.map_or_else(crate::store::random_bytes::<32>, Ok) {
        Ok(secret) => secret,
        Err(error) => {
            return Response::Error {
                kind: ErrorKind::Unavailable,
                message: format!("no random key: {error}"),
            }
        }
    };
    let key = SigningKey::from_bytes(&secret);
    if let Some(existing) = identities.get(&crate::identity::authority_of(&key)) {
        if existing.owner != uid {
            return Refusal(
                ErrorKind::NotOwner,
                "this key is already another user's identity on this node".into(),
            )
            .into();
        }
    }
    match identities.insert(key, uid) {
        Ok(identity) => {
            info!(authority = %identity.authority(), uid, "identity created");
            Response::Identities(vec![identity_info(node, &identity)])
        }
        Err(error) => identity_storage_error(error),
    }
}

fn identity_info(node: &Node, identity: &Identity) -> ipc::IdentityInfo {
    let authority = identity.authority();
    ipc::IdentityInfo {
        authority: authority.to_string(),
        public_key: identity.key.verifying_key().to_bytes(),
        owner: identity.owner,
        names: node
            .registrations()
            .into_iter()
            .map(|info| info.registration.name)
            .filter(|name| name.authority() == authority)
            .collect(),
    }
}

fn names_list(names: &[pnrp_shared::PeerName]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn identity_storage_error(error: IdentityError) -> Response {
    warn!(%error, "could not change an identity");
    Response::Error {
        kind: ErrorKind::Storage,
        message: format!("nothing changed: {error}"),
    }
}

fn storage_error(error: StoreError) -> Response {
    warn!(%error, "could not persist registrations");
    Response::Error {
        kind: ErrorKind::Storage,
        message: format!("not saved, nothing changed: {error}"),
    }
}

/// Binds the socket, replacing a stale file but never a live daemon's socket; any local user may
/// connect (resolving is open to all).
fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
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

async fn accept_loop(listener: UnixListener, commands: mpsc::Sender<Command>) {
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
        tokio::spawn(async move {
            serve(stream, commands, uid).await;
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
async fn serve(mut stream: UnixStream, commands: mpsc::Sender<Command>, uid: u32) {
    loop {
        let mut header = [0; HEADER_LEN];
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let request = match read_body(&mut stream, header).await {
            Ok(request) => request,
            Err(error) => {
                debug!(%error, "bad frame from a client");
                let kind = match error {
                    FrameError::UnsupportedVersion(_) => ErrorKind::UnsupportedVersion,
                    _ => ErrorKind::BadRequest,
                };
                let response = Response::Error {
                    kind,
                    message: error.to_string(),
                };
                let _ = write_response(&mut stream, &response).await;
                return;
            }
        };
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
        let response = response.unwrap_or(Response::Error {
            kind: ErrorKind::Unavailable,
            message: "pnrpd is shutting down".into(),
        });
        if write_response(&mut stream, &response).await.is_err() {
            return;
        }
    }
}

async fn read_body(
    stream: &mut UnixStream,
    header: [u8; HEADER_LEN],
) -> Result<Request, FrameError> {
    let length = ipc::frame_length(header)?;
    let mut body = vec![0; length];
    match tokio::time::timeout(FRAME_TIMEOUT, stream.read_exact(&mut body)).await {
        Ok(Ok(_)) => ipc::decode_body(&body),
        _ => Err(FrameError::Malformed("frame cut short".into())),
    }
}

async fn write_response(stream: &mut UnixStream, response: &Response) -> std::io::Result<()> {
    let frame = ipc::encode_frame(response).unwrap_or_else(|error| {
        ipc::encode_frame(&Response::Error {
            kind: ErrorKind::Unavailable,
            message: format!("answer too large: {error}"),
        })
        .unwrap_or_default()
    });
    tokio::time::timeout(FRAME_TIMEOUT, stream.write_all(&frame))
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
