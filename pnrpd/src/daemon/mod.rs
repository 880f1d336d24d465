//! The daemon: a tokio driver around the synchronous [`Service`], in the manner of mini-redis.
//!
//! Layout:
//! - this file — [`run`]: the run loop, the one task that owns the service. It waits on
//!   shutdown, client commands, the engine's timer, the address refresh and the cloud's
//!   sockets, and moves each to where it belongs. No protocol logic or policy of its own.
//! - [`service`] — every request's handling: ownership, quotas, identities, persistence before
//!   acknowledgement, the mapping between the engine's results and socket-protocol answers.
//! - [`server`] — the Unix socket: accepting clients within limits, one task per connection.
//! - [`network`] — the UDP and SSDP sockets, opening clouds, moving datagrams.
//!
//! Connection tasks send [`server::Command`]s over a channel; the run loop answers each at once
//! or, for a resolve, when the engine reports it. Shutdown (the future passed to [`run`]
//! completing, e.g. on SIGTERM) stops accepting, answers what is in flight with an error (the
//! dropped reply), remembers the cloud's nodes and removes the socket file.

pub mod network;
pub mod server;
pub mod service;

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pnrp_proto::engine::QueryId;
use pnrp_shared::ipc::Response;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use self::network::Network;
use self::server::Command;
use self::service::{Handled, Service};
use crate::identity::IdentityError;
use crate::interfaces;
use crate::store::StoreError;

/// How often the machine's addresses are re-read for automatic registrations.
const ADDRESS_REFRESH: Duration = Duration::from_secs(2);
/// Every this many address refreshes (30 s), the cloud's nodes are remembered for the next
/// start, and one line sums up the datagrams dropped.
const HOUSEKEEPING_TICKS: u64 = 15;
/// Most remembered cloud nodes.
const MAX_SAVED_PEERS: usize = 64;

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

/// Runs the daemon until `shutdown` completes. `ready` is called once the socket accepts clients.
pub async fn run(
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    let started = Instant::now();
    let mut service = Service::open(&settings.state_dir, started, interfaces::local_addresses())?;
    let mut network = match &settings.cloud {
        Some(cloud) => {
            let (engine, store) = service.engine_and_store();
            Some(Network::open(engine, store, cloud, started)?)
        }
        None => None,
    };

    let listener = server::bind(&settings.socket)?;
    info!(socket = %settings.socket.display(), "listening");
    let (commands, mut incoming) = mpsc::channel::<Command>(256);
    let accept = tokio::spawn(server::accept(listener, commands));
    ready();

    let mut datagram = vec![0u8; 65536];
    let mut announcement = vec![0u8; 4096];
    let mut waiting: HashMap<QueryId, oneshot::Sender<Response>> = HashMap::new();
    let mut refresh = tokio::time::interval(ADDRESS_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refreshes: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let deadline = service.engine().poll_timeout();
        tokio::select! {
            () = &mut shutdown => break,
            Some(Command { request, reply, uid }) = incoming.recv() => {
                match service.handle(Instant::now(), uid, request) {
                    Handled::Done(response) => {
                        let _ = reply.send(response);
                    }
                    Handled::Pending(query) => {
                        waiting.insert(query, reply);
                    }
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                service.engine_mut().handle_timeout(Instant::now());
            }
            _ = refresh.tick() => {
                let now = Instant::now();
                service.engine_mut().handle_local_addresses(now, interfaces::local_addresses());
                refreshes += 1;
                if let Some(network) = &mut network {
                    network.open_link_local_clouds(service.engine_mut(), now);
                    if refreshes % HOUSEKEEPING_TICKS == 0 {
                        service.save_known_nodes(MAX_SAVED_PEERS);
                        network.summarize_drops(
                            service.engine(),
                            ADDRESS_REFRESH * HOUSEKEEPING_TICKS as u32,
                        );
                    }
                }
            }
            received = receive(network.as_ref(), &mut datagram) => {
                if let (Ok(first), Some(network)) = (received, &mut network) {
                    network.take(service.engine_mut(), first, &mut datagram);
                }
            }
            received = receive_ssdp(network.as_ref(), &mut announcement) => {
                if let (Ok((length, SocketAddr::V6(from))), Some(network)) = (received, &mut network) {
                    network.take_ssdp(service.engine_mut(), from, &announcement[..length]);
                }
            }
        }
        if let Some(network) = &mut network {
            network.flush(service.engine_mut());
        }
        while let Some((query, response)) = service.poll_answer() {
            if let Some(reply) = waiting.remove(&query) {
                let _ = reply.send(response);
            }
        }
    }

    info!("shutting down");
    if network.is_some() {
        service.save_known_nodes(MAX_SAVED_PEERS);
    }
    accept.abort();
    if let Err(error) = std::fs::remove_file(&settings.socket) {
        warn!(%error, "could not remove the socket file");
    }
    Ok(())
}

async fn receive(
    network: Option<&Network>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
    match network {
        Some(network) => network.receive(buffer).await,
        None => std::future::pending().await,
    }
}

async fn receive_ssdp(
    network: Option<&Network>,
    buffer: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match network {
        Some(network) => network.receive_ssdp(buffer).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}
