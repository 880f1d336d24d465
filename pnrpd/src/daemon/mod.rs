//! The daemon: a tokio driver around the synchronous [`Service`], in the manner of mini-redis.
//!
//! Layout:
//! - this file — [`run`]: the run loop, the one task that owns the service. It waits on
//!   shutdown, client commands, the engine's timer, the address refresh and the cloud's
//!   sockets, and moves each to where it belongs. No protocol logic or policy of its own.
//! - [`service`] — every request's handling: ownership, quotas, identities, persistence before
//!   acknowledgement, the mapping between the engine's results and socket-protocol answers.
//! - [`server`] — the Unix socket: accepting clients within limits, one task per connection,
//!   which answers from the [`view::View`] what needs no cloud work and sends the rest here.
//! - [`view`] — that view, and the snapshot of local names beside the socket for the NSS module,
//!   both republished by the service at every change.
//! - [`network`] — the UDP (cloud and side ports) and SSDP sockets, opening clouds, seeds,
//!   moving datagrams.
//! - [`seeds`] — seeds given as host names, resolved off the run loop.
//! - [`reload`] — a reloaded configuration applied to the running daemon (SIGHUP).
//!
//! Connection tasks send [`server::Command`]s over a channel; the run loop answers each at once
//! or, for a resolve, when the engine reports it. Under systemd's watchdog (`WATCHDOG_USEC`) the
//! run loop itself sends `WATCHDOG=1`, so a loop that stops turning gets the daemon restarted.
//! A [`Control::Reload`] (SIGHUP) applies a new configuration ([`reload::apply`]) between two
//! turns. A [`Control::Stop`] (the first on the channel passed to [`run`], e.g. on SIGTERM)
//! stops accepting, answers what is in flight with an error (the dropped reply) and leaves every
//! cloud: the registrations are revoked at their neighbours, and the loop goes on moving
//! datagrams until they acknowledge or [`LEAVE_TIMEOUT`] passes (a second request stops at
//! once). Then the daemon remembers the cloud's nodes and removes the socket file.

pub mod network;
pub mod reload;
pub mod seeds;
pub mod server;
pub mod service;
pub mod view;

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pnrp_proto::cloud::requests::{RETRANSMIT, RETRIES};
use pnrp_proto::engine::QueryId;
use pnrp_shared::ipc::Response;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use self::network::Network;
use self::seeds::{Lookup, SeedNames};
use self::server::Command;
use self::service::{Handled, Service};
use self::view::SharedView;
use crate::config::{Config, Seed};
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
/// How long a stopping daemon waits for its neighbours to acknowledge its revokes.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long after its first send the protocol gives up a request no one answers.
const FLOOD_GIVES_UP: Duration = RETRANSMIT.saturating_mul(RETRIES as u32 + 1);

/// What the daemon needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The Unix socket to serve.
    pub socket: PathBuf,
    /// The state directory.
    pub state_dir: PathBuf,
    /// The cloud, unless the daemon keeps to this machine.
    pub cloud: Option<CloudSettings>,
    /// The DNS front end (no listener: none).
    pub dns: crate::dns::Settings,
    /// The log filter in effect (the logger itself belongs to the command line).
    pub log_level: String,
    /// The seeds as configured, for `pnrpctl status`.
    pub configured_seeds: Vec<String>,
}

/// How the daemon takes part in the PNRP cloud.
#[derive(Debug, Clone)]
pub struct CloudSettings {
    /// UDP port.
    pub port: u16,
    /// Nodes to join through: addresses, and host names resolved while the daemon runs.
    pub seeds: Vec<Seed>,
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
    /// A DNS listener could not be opened.
    #[error(transparent)]
    Dns(#[from] crate::dns::BindError),
    /// The socket could not be set up.
    #[error("socket {path}: {message}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// What the daemon is asked from outside (by signals).
#[derive(Debug)]
pub enum Control {
    /// The first makes the daemon leave its clouds and stop, a second one stops it at once.
    Stop,
    /// Apply this configuration, read again (`systemctl reload`, SIGHUP).
    Reload(Box<Config>),
}

/// The channel of [`Control`]s. A closed channel asks for nothing.
pub type Controls = mpsc::Receiver<Control>;

/// A stop under way: the clouds are being left.
#[derive(Debug)]
struct Leaving {
    since: Instant,
    /// Names revoked.
    registrations: usize,
    /// Clouds they were revoked in.
    clouds: usize,
    /// Whether a revoke went out (none does without neighbours).
    told: bool,
}

/// How the leaving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// Every revoke was acknowledged.
    Settled,
    /// [`LEAVE_TIMEOUT`] passed first.
    TimedOut,
    /// A second stop request came first.
    Interrupted,
}

/// Runs the daemon until it is asked to stop (see [`Control`]). `ready` is called once the
/// socket accepts clients; `set_log_level` changes the log filter when a reload asks.
pub async fn run(
    mut settings: Settings,
    mut controls: Controls,
    set_log_level: reload::SetLogLevel,
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
    let mut seed_names = settings
        .cloud
        .as_ref()
        .and_then(|cloud| SeedNames::start(seed_names(&cloud.seeds)));
    service.set_configured(
        settings.configured_seeds.clone(),
        settings.log_level.clone(),
    );

    // Before the socket: a daemon that cannot have its DNS ports must not take the socket.
    let dns_bound = crate::dns::bind(&settings.dns)?;
    let listener = server::bind(&settings.socket)?;
    info!(socket = %settings.socket.display(), "listening");
    // Only once the socket is ours: a second daemon refused at bind must not touch the first
    // one's snapshot.
    let view = SharedView::default();
    service.start_publishing(
        Instant::now(),
        view.clone(),
        Some(pnrp_shared::snapshot::path_for(&settings.socket)),
        settings
            .cloud
            .as_ref()
            .map_or(Duration::ZERO, |cloud| cloud.freshness),
    );
    let (commands, mut incoming) = mpsc::channel::<Command>(256);
    let mut dns = crate::dns::Listeners::start(dns_bound, view.clone(), commands.clone());
    // A reload may open the DNS listeners again.
    let dns_commands = commands.clone();
    for listener in dns.status() {
        info!(address = %listener.address, transport = ?listener.transport, "serving DNS for pnrp.net");
    }
    let accept = tokio::spawn(server::accept(listener, commands, view.clone()));
    ready();

    let mut datagram = vec![0u8; 65536];
    let mut side_datagram = vec![0u8; 65536];
    let mut announcement = vec![0u8; 4096];
    let mut waiting: HashMap<QueryId, oneshot::Sender<Response>> = HashMap::new();
    let mut refresh = tokio::time::interval(ADDRESS_REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refreshes: u64 = 0;
    let mut leaving: Option<Leaving> = None;
    let mut watchdog = crate::notify::watchdog_interval().map(|period| {
        let mut pings = tokio::time::interval(period);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pings
    });
    let left = loop {
        if leaving.is_some() && service.engine().is_settled() {
            break Left::Settled;
        }
        let deadline = service.engine().poll_timeout();
        let give_up = leaving
            .as_ref()
            .map(|leaving| leaving.since + LEAVE_TIMEOUT);
        tokio::select! {
            control = next_control(&mut controls) => match control {
                Control::Reload(config) => {
                    let _ = crate::notify::notify("RELOADING=1");
                    let running = reload::Running {
                        settings: &mut settings,
                        engine: service.engine_mut(),
                        network: network.as_mut(),
                        seed_names: &mut seed_names,
                    };
                    match reload::apply(&config, running, &set_log_level, Instant::now()) {
                        Ok(line) => {
                            info!("{line}");
                            let front = reload::DnsFront {
                                settings: &mut settings.dns,
                                listeners: &mut dns,
                                view: &view,
                                commands: &dns_commands,
                            };
                            match reload::apply_dns(&config, front).await {
                                Ok(Some(line)) => info!("{line}"),
                                Ok(None) => {}
                                Err(why) => warn!("{why}"),
                            }
                        }
                        Err(why) => warn!("reload refused, the running configuration stays: {why}"),
                    }
                    service.set_configured(
                        settings.configured_seeds.clone(),
                        settings.log_level.clone(),
                    );
                    let _ = crate::notify::notify("READY=1");
                }
                Control::Stop => {
                    if leaving.is_some() {
                        break Left::Interrupted;
                    }
                    accept.abort();
                    dns.stop();
                    incoming.close();
                    service.stop_publishing();
                    // Their clients hear that pnrpd is shutting down.
                    waiting.clear();
                    if network.is_none() {
                        break Left::Settled;
                    }
                    leaving = Some(leave(service.engine_mut()));
                }
            },
            Some(Command { request, reply, uid }) = incoming.recv() => {
                // Once stopping, what was queued before is dropped: its client hears that
                // pnrpd is shutting down.
                if leaving.is_none() {
                    match service.handle(Instant::now(), uid, request) {
                        Handled::Done(mut response) => {
                            if let Response::Status(status) = &mut response {
                                status.dns = dns.status();
                            }
                            let _ = reply.send(response);
                        }
                        Handled::Pending(query) => {
                            waiting.insert(query, reply);
                        }
                    }
                }
            }
            () = sleep_until(deadline), if deadline.is_some() => {
                service.engine_mut().handle_timeout(Instant::now());
            }
            () = sleep_until(give_up), if give_up.is_some() => break Left::TimedOut,
            _ = tick(watchdog.as_mut()) => {
                if let Err(error) = crate::notify::notify("WATCHDOG=1") {
                    warn!(%error, "sd_notify WATCHDOG failed");
                }
            }
            _ = refresh.tick(), if leaving.is_none() => {
                let now = Instant::now();
                service.engine_mut().handle_local_addresses(now, interfaces::local_addresses());
                refreshes += 1;
                if let Some(network) = &mut network {
                    network.open_link_local_clouds(service.engine_mut(), now);
                    let clouds = service.engine().clouds();
                    network.watch_reachability(&clouds);
                    if let Some(seed_names) = &mut seed_names {
                        seed_names.check_alone(now, &clouds);
                    }
                    if refreshes.is_multiple_of(HOUSEKEEPING_TICKS) {
                        service.save_known_nodes(MAX_SAVED_PEERS);
                        network.summarize_drops(
                            service.engine(),
                            ADDRESS_REFRESH * HOUSEKEEPING_TICKS as u32,
                        );
                    }
                }
                // Addresses and clouds may have changed: the snapshot is rewritten only if so.
                service.publish(now);
            }
            received = receive(network.as_ref(), false, &mut datagram) => {
                if let (Ok(first), Some(network)) = (received, &mut network) {
                    network.take(service.engine_mut(), false, first, &mut datagram);
                }
            }
            received = receive(network.as_ref(), true, &mut side_datagram) => {
                if let (Ok(first), Some(network)) = (received, &mut network) {
                    network.take(service.engine_mut(), true, first, &mut side_datagram);
                }
            }
            received = receive_ssdp(network.as_ref(), &mut announcement) => {
                if let (Ok((length, SocketAddr::V6(from))), Some(network)) = (received, &mut network) {
                    network.take_ssdp(service.engine_mut(), from, &announcement[..length]);
                }
            }
            round = next_seed_round(seed_names.as_mut()), if leaving.is_none() => {
                if let (Some(seed_names), Some(network)) = (&mut seed_names, &mut network) {
                    let now = Instant::now();
                    let resolved = seed_names.take(now, round);
                    network.set_resolved_seeds(now, service.engine_mut(), &resolved);
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
        service.publish_if_outdated(Instant::now());
    };

    if let Some(leaving) = leaving {
        let (acknowledged, line) = left_summary(&leaving, left, leaving.since.elapsed());
        if acknowledged {
            info!("{line}");
        } else {
            warn!("{line}");
        }
    }
    info!("shutting down");
    service.stop_publishing();
    if network.is_some() {
        service.save_known_nodes(MAX_SAVED_PEERS);
    }
    accept.abort();
    dns.stop();
    if let Err(error) = std::fs::remove_file(&settings.socket) {
        warn!(%error, "could not remove the socket file");
    }
    Ok(())
}

/// Leaves every cloud: each registration is revoked at its neighbours there.
fn leave(engine: &mut pnrp_proto::engine::Engine) -> Leaving {
    let clouds = engine.clouds();
    let leaving = Leaving {
        since: Instant::now(),
        registrations: engine.registered(),
        told: false,
        clouds: clouds
            .iter()
            .filter(|cloud| !cloud.published.is_empty())
            .count(),
    };
    debug!(
        registrations = leaving.registrations,
        clouds = leaving.clouds,
        "leaving the clouds: revoking this machine's registrations (a second signal stops at once)"
    );
    engine.leave(leaving.since);
    Leaving {
        told: !engine.is_settled(),
        ..leaving
    }
}

/// The log line that ends a stop, and whether every neighbour acknowledged. A revoke no
/// neighbour answers is given up [`FLOOD_GIVES_UP`] after it was sent, so the clouds settling
/// sooner means every revoke was acknowledged; settling later, that one was given up.
fn left_summary(leaving: &Leaving, left: Left, waited: Duration) -> (bool, String) {
    let plural = |count: usize, what: &str| match count {
        1 => format!("1 {what}"),
        _ => format!("{count} {what}s"),
    };
    let summary = format!(
        "left the clouds: {} revoked in {}",
        plural(leaving.registrations, "registration"),
        plural(leaving.clouds, "cloud")
    );
    match left {
        Left::Settled if !leaving.told => (true, format!("{summary}; no neighbour to tell")),
        Left::Settled if waited < FLOOD_GIVES_UP => (
            true,
            format!(
                "{summary}; every neighbour acknowledged, in {:.1} ms",
                waited.as_secs_f64() * 1000.0
            ),
        ),
        Left::Settled => (
            false,
            format!(
                "{summary}; not every neighbour acknowledged (a revoke went unanswered after \
                 its retries; that neighbour forgets the names when their records expire)"
            ),
        ),
        Left::TimedOut => (
            false,
            format!(
                "{summary}; not every neighbour acknowledged within {} s (those forget the \
                 names when their records expire)",
                LEAVE_TIMEOUT.as_secs()
            ),
        ),
        Left::Interrupted => (
            false,
            format!(
                "{summary}; stopped at once by a second signal after {} ms, before every \
                 neighbour acknowledged",
                waited.as_millis()
            ),
        ),
    }
}

/// The next control; never, once the channel is closed.
async fn next_control(controls: &mut Controls) -> Control {
    match controls.recv().await {
        Some(control) => control,
        None => std::future::pending().await,
    }
}

/// The next tick of an interval; never without one.
async fn tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The seeds given as host names, with their ports.
fn seed_names(seeds: &[Seed]) -> Vec<(String, u16)> {
    seeds
        .iter()
        .filter_map(|seed| match seed {
            Seed::Name { host, port } => Some((host.clone(), *port)),
            Seed::Address(_) => None,
        })
        .collect()
}

/// The next round of the seeds' host names; never without names.
async fn next_seed_round(seed_names: Option<&mut SeedNames>) -> Vec<Lookup> {
    match seed_names {
        Some(seed_names) => seed_names.next_round().await,
        None => std::future::pending().await,
    }
}

async fn receive(
    network: Option<&Network>,
    side: bool,
    buffer: &mut [u8],
) -> std::io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
    match network {
        Some(network) => network.receive(side, buffer).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stop_says_whether_every_neighbour_acknowledged() {
        let leaving = Leaving {
            since: Instant::now(),
            registrations: 3,
            clouds: 2,
            told: true,
        };
        let quick = Duration::from_millis(40);
        let (acknowledged, line) = left_summary(&leaving, Left::Settled, quick);
        assert!(acknowledged, "{line}");
        assert_eq!(
            line,
            "left the clouds: 3 registrations revoked in 2 clouds; every neighbour \
             acknowledged, in 40.0 ms"
        );
        let (acknowledged, line) = left_summary(&leaving, Left::Settled, FLOOD_GIVES_UP);
        assert!(
            !acknowledged && line.contains("not every neighbour"),
            "{line}"
        );
        let (acknowledged, line) = left_summary(&leaving, Left::TimedOut, LEAVE_TIMEOUT);
        assert!(!acknowledged && line.contains("within 3 s"), "{line}");
        let (acknowledged, line) = left_summary(&leaving, Left::Interrupted, quick);
        assert!(!acknowledged && line.contains("second signal"), "{line}");
        let alone = Leaving {
            told: false,
            ..leaving
        };
        let (acknowledged, line) = left_summary(&alone, Left::Settled, Duration::ZERO);
        assert!(
            acknowledged && line.ends_with("no neighbour to tell"),
            "{line}"
        );
        let one = Leaving {
            registrations: 1,
            clouds: 1,
            ..leaving
        };
        let (_, line) = left_summary(&one, Left::Settled, quick);
        assert!(
            line.starts_with("left the clouds: 1 registration revoked in 1 cloud;"),
            "{line}"
        );
        assert!(
            FLOOD_GIVES_UP < LEAVE_TIMEOUT,
            "a silent neighbour is given up in time"
        );
    }
}
