//! The DNS front end: `pnrp.net` over DNS (UDP and TCP), for the programs that never ask glibc
//! (Go without cgo, musl, containers, browsers' own resolvers, systemd-resolved).
//!
//! It answers from the same core as the Unix socket, with the same freshness: the view the
//! connection tasks answer from ([`crate::daemon::view`]) for local names and fresh answers, and
//! otherwise a [`Command`] with `Request::Resolve` through the run loop, exactly as the NSS
//! module's request would go (at most [`MAX_CLOUD_RESOLVES`] at once).
//!
//! Layout:
//! - this file — the settings, binding the listeners ([`bind`]) and starting them
//!   ([`Listeners::start`]), their status for `pnrpctl status`.
//! - [`answer`] — the answers as pure functions: query bytes → what to look up → answer bytes.
//! - [`listen`] — the UDP and TCP tasks, and the lookups through the view or the run loop.
//! - [`memo`] — the answers a UDP listener made from the current view, reused for the same
//!   query until the view changes.
//! - [`limits`] — `dns_allow`, the per-source rate limit, the counters.
//! - [`services`] — `/etc/services`, for SRV names.
//! - `fuzzing` (feature `fuzzing`) — the fuzz target's entry point.

pub mod answer;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod limits;
pub mod listen;
pub mod memo;
pub mod services;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use pnrp_shared::ipc::{DnsListener, DnsTransport};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};

use self::answer::Zone;
use self::limits::{Counters, Prefix};
use self::services::Services;
use crate::daemon::server::Command;
use crate::daemon::view::SharedView;

/// The port the shipped configuration listens on (127.0.0.1 and ::1): "35" for PNRP's 3540,
/// "53" for DNS; no well-known resolver (53, 5353, 5335, 8053, 8600…) uses it.
pub const DEFAULT_DNS_PORT: u16 = 3553;

/// Most resolves the front end has in the cloud at once; a query beyond them is answered
/// SERVFAIL at once rather than queued.
pub const MAX_CLOUD_RESOLVES: usize = 64;

/// What the front end needs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Where to listen, UDP and TCP each (empty: no front end).
    pub listen: Vec<SocketAddr>,
    /// Sources besides loopback that may ask.
    pub allow: Vec<Prefix>,
    /// The freshness window in seconds: no TTL exceeds it.
    pub freshness_secs: u32,
    /// Where service names come from.
    pub services: PathBuf,
}

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("DNS {transport} {address}: {source}")]
pub struct BindError {
    /// UDP or TCP.
    pub transport: &'static str,
    /// Where.
    pub address: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// The listeners, bound and not yet serving.
#[derive(Debug, Default)]
pub struct Bound {
    udp: Vec<UdpSocket>,
    tcp: Vec<TcpListener>,
    settings: Settings,
}

/// Binds UDP and TCP on every address of `settings` (port 0 picks one, the same for both where
/// it can). Must run inside the runtime.
pub fn bind(settings: &Settings) -> Result<Bound, BindError> {
    let mut bound = Bound {
        settings: settings.clone(),
        ..Bound::default()
    };
    for &address in &settings.listen {
        let udp = listen::bind_udp(address).map_err(|source| BindError {
            transport: "UDP",
            address,
            source,
        })?;
        // TCP on the port UDP got, so that a truncated answer's retry reaches the same place.
        let port = udp
            .local_addr()
            .map_or(address.port(), |local| local.port());
        let tcp_address = SocketAddr::new(address.ip(), port);
        let tcp = listen::bind_tcp(tcp_address).map_err(|source| BindError {
            transport: "TCP",
            address: tcp_address,
            source,
        })?;
        bound.udp.push(udp);
        bound.tcp.push(tcp);
    }
    Ok(bound)
}

/// The running listeners: their addresses and counters, for `pnrpctl status`.
#[derive(Debug, Default)]
pub struct Listeners {
    listeners: Vec<(SocketAddr, DnsTransport, Arc<Counters>)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Listeners {
    /// Counters for a new listener, listed (with its address, when it has one) for status.
    fn counted(
        &mut self,
        address: std::io::Result<SocketAddr>,
        transport: DnsTransport,
    ) -> Arc<Counters> {
        let counters = Arc::new(Counters::default());
        if let Ok(address) = address {
            self.listeners.push((address, transport, counters.clone()));
        }
        counters
    }

    /// Starts serving: answers from `view`, resolves the rest through `commands`.
    pub fn start(bound: Bound, view: SharedView, commands: mpsc::Sender<Command>) -> Listeners {
        let settings = bound.settings;
        let context = Arc::new(listen::Context {
            view,
            commands,
            cloud_resolves: Arc::new(Semaphore::new(MAX_CLOUD_RESOLVES)),
            services: Services::load(&settings.services),
            zone: Zone {
                freshness_secs: settings.freshness_secs,
            },
            allow: settings.allow,
        });
        let mut listeners = Listeners::default();
        for socket in bound.udp {
            let counters = listeners.counted(socket.local_addr(), DnsTransport::Udp);
            listeners.tasks.push(tokio::spawn(listen::serve_udp(
                Arc::new(socket),
                context.clone(),
                counters,
            )));
        }
        for listener in bound.tcp {
            let counters = listeners.counted(listener.local_addr(), DnsTransport::Tcp);
            listeners.tasks.push(tokio::spawn(listen::serve_tcp(
                listener,
                context.clone(),
                counters,
            )));
        }
        listeners
    }

    /// The listeners and their counters now.
    pub fn status(&self) -> Vec<DnsListener> {
        self.listeners
            .iter()
            .map(|(address, transport, counters)| DnsListener {
                address: address.to_string(),
                transport: *transport,
                counters: counters.snapshot(),
            })
            .collect()
    }

    /// Stops answering and waits until every listener's socket is closed (a reload may bind
    /// the same addresses again).
    pub async fn close(&mut self) {
        self.listeners.clear();
        for task in self.tasks.drain(..) {
            task.abort();
            // Cancelled: the task's socket is dropped before this returns.
            let _ = task.await;
        }
    }

    /// Stops answering (the daemon is stopping).
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}
