//! The cloud's side of the daemon: the UDP socket of every cloud (`[::]:port`, IPv6 only;
//! datagrams are told apart by their source's scope), the SSDP socket, the clouds opened as
//! links appear, moving datagrams between them and the [`Engine`], and the one log line that
//! sums up what was dropped.

use std::collections::{BTreeSet, HashSet};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_proto::cloud::guard::Generations;
use pnrp_proto::cloud::ssdp;
use pnrp_proto::cloud::{Cloud, CloudConfig, Counters, WallClock};
use pnrp_proto::engine::{CloudScope, Engine};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{CloudSettings, DaemonError};
use crate::interfaces;
use crate::store::Store;

/// Most peers whose local address is remembered for replies.
const MAX_PEERS_TRACKED: usize = 4096;
/// Datagrams taken from the UDP socket in one round of the run loop, at most.
const RECEIVE_BATCH: usize = 64;
/// The UDP socket's receive buffer asked for: bursts wait there rather than being dropped (the
/// kernel may grant less: net.core.rmem_max).
const RECEIVE_BUFFER: usize = 1 << 20;

/// The cloud's sockets and what it takes to open one more cloud.
#[derive(Debug)]
pub struct Network {
    udp: UdpSocket,
    /// The local address each peer last reached us at: replies leave from it. Bounded, so a
    /// flood of forged sources costs bounded memory and honest peers' fresh entries survive.
    reached: Generations<SocketAddrV6, Ipv6Addr>,
    ssdp: Option<UdpSocket>,
    /// Links whose SSDP group we joined.
    joined: HashSet<u32>,
    key: [u8; 32],
    seeds: Vec<SocketAddrV6>,
    settings: CloudSettings,
    clock: WallClock,
    next_seed: u64,
    /// Datagrams that could not be sent.
    send_failed: u64,
    /// What the last drop summary counted.
    summarized: Drops,
}

/// Counts of dropped or failed datagrams, summed over the clouds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Drops {
    counters: Counters,
    send_failed: u64,
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
    let address = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0);
    socket.bind(&SocketAddr::V6(address).into())?;
    UdpSocket::from_std(socket.into())
}

impl Network {
    /// Binds the sockets and adds the `Global_` cloud (and a `LinkLocal_` cloud per link).
    pub fn open(
        engine: &mut Engine,
        store: &Store,
        settings: &CloudSettings,
        now: Instant,
    ) -> Result<Network, DaemonError> {
        let cloud_error = |message: String| DaemonError::Cloud {
            port: settings.port,
            message,
        };
        let udp =
            udp_socket(settings.port, false).map_err(|error| cloud_error(error.to_string()))?;
        crate::udp::enable_destination_info(&udp)
            .map_err(|error| cloud_error(error.to_string()))?;
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
        let seed =
            crate::store::random_bytes::<8>().map_err(|error| cloud_error(error.to_string()))?;
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
        let mut network = Network {
            udp,
            reached: Generations::new(MAX_PEERS_TRACKED),
            ssdp,
            joined: HashSet::new(),
            key: store.node_key()?,
            seeds,
            settings: settings.clone(),
            clock: WallClock { at: now, unix_secs },
            next_seed: u64::from_le_bytes(seed),
            send_failed: 0,
            summarized: Drops::default(),
        };
        engine.set_freshness(settings.freshness);
        let config = network.config(CloudScope::Global);
        engine.add_cloud(
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
        network.open_link_local_clouds(engine, now);
        Ok(network)
    }

    fn config(&mut self, scope: CloudScope) -> CloudConfig {
        self.next_seed = self.next_seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let scope_id = scope.interface();
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
            discovery: Some(scope.ssdp()).filter(|_| self.settings.discovery),
        }
    }

    /// One `LinkLocal_<interface>` cloud per interface with a link-local address; SSDP listens
    /// on each such link.
    pub fn open_link_local_clouds(&mut self, engine: &mut Engine, now: Instant) {
        let interfaces: BTreeSet<u32> = interfaces::local_addresses()
            .iter()
            .filter(|address| address.is_link_local())
            .map(|address| address.scope_id)
            .collect();
        for interface in interfaces {
            if let Some(ssdp) = &self.ssdp {
                if self.joined.insert(interface) {
                    if let Err(error) = ssdp.join_multicast_v6(&ssdp::GROUP, interface) {
                        debug!(%error, interface, "cannot join the SSDP group");
                    }
                }
            }
            if engine.has_link_local_cloud(interface) {
                continue;
            }
            let name = format!(
                "LinkLocal_{}",
                interfaces::interface_name(interface).unwrap_or_else(|| interface.to_string())
            );
            let scope = CloudScope::LinkLocal(interface);
            let config = self.config(scope);
            info!(cloud = %name, "joined");
            engine.add_cloud(
                now,
                name,
                scope,
                self.settings.port,
                Cloud::new(config, now),
            );
        }
    }

    /// Waits for a PNRP datagram: its length, source and the local address it reached.
    pub async fn receive(
        &self,
        buffer: &mut [u8],
    ) -> std::io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
        crate::udp::receive(&self.udp, buffer).await
    }

    /// Hands a received datagram to the engine, then (under a flood) what else is queued,
    /// without a round of the run loop each.
    pub fn take(
        &mut self,
        engine: &mut Engine,
        first: (usize, SocketAddrV6, Option<Ipv6Addr>),
        buffer: &mut [u8],
    ) {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some((length, from, local)) = next.take() {
            if let Some(local) = local {
                *self.reached.entry(from, || local) = local;
            }
            if let Some(cloud) = engine.cloud_for(&from) {
                engine.handle_datagram(Instant::now(), cloud, from, &buffer[..length], false);
            }
            taken += 1;
            if taken <= RECEIVE_BATCH {
                next = crate::udp::try_receive(&self.udp, buffer).ok();
            }
        }
    }

    /// Waits for an SSDP datagram (for ever without discovery).
    pub async fn receive_ssdp(&self, buffer: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        match &self.ssdp {
            Some(ssdp) => ssdp.recv_from(buffer).await,
            None => std::future::pending().await,
        }
    }

    /// Hands an SSDP datagram to the engine and sends its answers back.
    pub fn take_ssdp(&mut self, engine: &mut Engine, from: SocketAddrV6, bytes: &[u8]) {
        let Some(ssdp) = &self.ssdp else { return };
        for answer in engine.handle_ssdp(Instant::now(), from, bytes) {
            let _ = ssdp.try_send_to(&answer, SocketAddr::V6(from));
        }
    }

    /// Sends what the engine queued: PNRP datagrams (each from the address its peer reached us
    /// at), SSDP searches. Failures are counted, not logged one by one.
    pub fn flush(&mut self, engine: &mut Engine) {
        while let Some((_, pnrp_proto::cloud::Transmit { to, bytes, .. })) = engine.poll_transmit()
        {
            // UDP may drop; PNRP retransmits what matters.
            if crate::udp::send_from(&self.udp, &bytes, to, self.reached.get(&to).copied()).is_err()
            {
                self.send_failed += 1;
            }
        }
        while let Some((interface, bytes)) = engine.poll_ssdp() {
            let Some(ssdp) = &self.ssdp else { continue };
            let links: Vec<u32> = match interface {
                Some(interface) => vec![interface],
                None => self.joined.iter().copied().collect(),
            };
            for link in links {
                let group = SocketAddrV6::new(ssdp::GROUP, ssdp::PORT, 0, link);
                if let Err(error) = ssdp.try_send_to(&bytes, SocketAddr::V6(group)) {
                    debug!(%error, link, "SSDP search not sent");
                }
            }
        }
    }

    /// Logs, in one line, what was dropped since the last summary (nothing when nothing was):
    /// hostile input never costs one log line per datagram.
    pub fn summarize_drops(&mut self, engine: &Engine, period: Duration) {
        let current = Drops {
            counters: engine.counters(),
            send_failed: self.send_failed,
        };
        let (now, last) = (current.counters, self.summarized.counters);
        let grew = (
            now.malformed - last.malformed,
            now.rate_limited - last.rate_limited,
            now.withheld - last.withheld,
            now.bad_cpas - last.bad_cpas,
            current.send_failed - self.summarized.send_failed,
        );
        if grew != (0, 0, 0, 0, 0) {
            warn!(
                malformed = grew.0,
                rate_limited = grew.1,
                withheld = grew.2,
                bad_cpas = grew.3,
                send_failed = grew.4,
                "datagrams dropped in the last {} s",
                period.as_secs()
            );
        }
        self.summarized = current;
    }
}
