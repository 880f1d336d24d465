//! The cloud's side of the daemon: the UDP socket of every cloud (`[::]:port`, IPv6 only;
//! datagrams are told apart by their source's scope), the side socket (`[::]:0`, an unrelated
//! ephemeral port: the protocol sends from it what only a node reachable unsolicited may
//! receive, and learns from what arrives there that we are reachable), the SSDP socket, the
//! clouds opened as links appear, their seeds, moving datagrams between them and the
//! [`Engine`], and the log lines that sum up what was dropped and say when a cloud's
//! reachability changes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::{Duration, Instant};

use pnrp_proto::cloud::guard::Generations;
use pnrp_proto::cloud::ssdp;
use pnrp_proto::cloud::{Cloud, CloudConfig, Counters, Reachability, Transmit, WallClock};
use pnrp_proto::engine::{CloudScope, CloudStatus, Engine};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::{CloudSettings, DaemonError};
use crate::config::Seed;
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
    /// The side socket (see the module's documentation).
    side: UdpSocket,
    /// The local address each peer last reached us at (on either socket): what we send it
    /// leaves from it. Bounded, so a flood of forged sources costs bounded memory and honest
    /// peers' fresh entries survive.
    reached: Generations<SocketAddrV6, Ipv6Addr>,
    ssdp: Option<UdpSocket>,
    /// Links whose SSDP group we joined.
    joined: HashSet<u32>,
    key: [u8; 32],
    /// The seeds given as addresses.
    literal_seeds: Vec<SocketAddrV6>,
    /// The addresses the seeds given as host names last resolved to.
    resolved: Vec<SocketAddrV6>,
    /// The nodes remembered from the last run.
    remembered: Vec<SocketAddrV6>,
    /// What the clouds join through: the addresses given, the host names' addresses, the nodes
    /// remembered; each once.
    seeds: Vec<SocketAddrV6>,
    settings: CloudSettings,
    clock: WallClock,
    next_seed: u64,
    /// Datagrams that could not be sent.
    send_failed: u64,
    /// What the last drop summary counted.
    summarized: Drops,
    /// Each cloud's reachability when last looked at.
    reachability: HashMap<String, Reachability>,
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
        let side = udp_socket(0, false)
            .and_then(|side| crate::udp::enable_destination_info(&side).map(|()| side))
            .map_err(|error| cloud_error(format!("the side socket: {error}")))?;
        let side_port = side
            .local_addr()
            .map_err(|error| cloud_error(format!("the side socket: {error}")))?
            .port();
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
        // Host names join when they resolve (`set_resolved_seeds`).
        let literal_seeds = literal_seeds(&settings.seeds);
        let remembered = store.load_peers();
        let seeds = combine_seeds(&literal_seeds, &[], &remembered);
        let mut network = Network {
            udp,
            side,
            reached: Generations::new(MAX_PEERS_TRACKED),
            ssdp,
            joined: HashSet::new(),
            key: store.node_key()?,
            literal_seeds,
            resolved: Vec::new(),
            remembered,
            seeds,
            settings: settings.clone(),
            clock: WallClock { at: now, unix_secs },
            next_seed: u64::from_le_bytes(seed),
            send_failed: 0,
            summarized: Drops::default(),
            reachability: HashMap::new(),
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
            side_port,
            seeds = settings.seeds.len(),
            remembered = network.remembered.len(),
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

    /// Replaces the addresses the seeds' host names resolve to: the clouds join through the
    /// seeds given as addresses, these, and the nodes remembered from the last run.
    pub fn set_resolved_seeds(
        &mut self,
        now: Instant,
        engine: &mut Engine,
        resolved: &[SocketAddrV6],
    ) {
        self.resolved = resolved.to_vec();
        self.combine(now, engine);
    }

    /// Replaces the configured seeds (a reload): the addresses take effect at once; when the
    /// host names changed, their old addresses are forgotten until the new names resolve.
    pub fn set_given_seeds(&mut self, now: Instant, engine: &mut Engine, seeds: &[Seed]) {
        let names = |seeds: &[Seed]| -> Vec<Seed> {
            seeds
                .iter()
                .filter(|seed| matches!(seed, Seed::Name { .. }))
                .cloned()
                .collect()
        };
        if names(seeds) != names(&self.settings.seeds) {
            self.resolved.clear();
        }
        self.literal_seeds = literal_seeds(seeds);
        self.settings.seeds = seeds.to_vec();
        self.combine(now, engine);
    }

    /// The clouds join through the seeds given as addresses, the host names' addresses and the
    /// nodes remembered from the last run.
    fn combine(&mut self, now: Instant, engine: &mut Engine) {
        let seeds = combine_seeds(&self.literal_seeds, &self.resolved, &self.remembered);
        if seeds != self.seeds {
            debug!(count = seeds.len(), "seeds changed");
            engine.set_seeds(now, &seeds);
            self.seeds = seeds;
        }
    }

    /// The socket datagrams arrive on, or leave from: the cloud's port or the side port.
    fn socket(&self, side: bool) -> &UdpSocket {
        if side {
            &self.side
        } else {
            &self.udp
        }
    }

    /// Waits for a PNRP datagram at the cloud's port, or (`side`) at the side port: its length,
    /// source and the local address it reached.
    pub async fn receive(
        &self,
        side: bool,
        buffer: &mut [u8],
    ) -> std::io::Result<(usize, SocketAddrV6, Option<Ipv6Addr>)> {
        crate::udp::receive(self.socket(side), buffer).await
    }

    /// Hands a datagram received at the cloud's port (or `side` port) to the engine, then
    /// (under a flood) what else is queued there, without a round of the run loop each.
    pub fn take(
        &mut self,
        engine: &mut Engine,
        side: bool,
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
                engine.handle_datagram(Instant::now(), cloud, from, &buffer[..length], side);
            }
            taken += 1;
            if taken <= RECEIVE_BATCH {
                next = crate::udp::try_receive(self.socket(side), buffer).ok();
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

    /// Sends what the engine queued: PNRP datagrams (each from the port the protocol says, and
    /// from the address its peer reached us at), SSDP searches. Failures are counted, not
    /// logged one by one.
    pub fn flush(&mut self, engine: &mut Engine) {
        while let Some((_, Transmit { to, bytes, side })) = engine.poll_transmit() {
            let source = self.reached.get(&to).copied();
            let socket = self.socket(side);
            // UDP may drop; PNRP retransmits what matters. A source address the machine lost
            // (its prefix changed) makes the send fail: the kernel chooses one instead.
            let sent = crate::udp::send_from(socket, &bytes, to, source).is_ok()
                || (source.is_some() && crate::udp::send_from(socket, &bytes, to, None).is_ok());
            if !sent {
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

    /// Logs each cloud whose reachability changed since the last look: a warning when it
    /// becomes firewalled, a line when it becomes reachable.
    pub fn watch_reachability(&mut self, clouds: &[CloudStatus]) {
        for cloud in clouds {
            let before = self
                .reachability
                .insert(cloud.name.clone(), cloud.reachability)
                .unwrap_or_default();
            if before == cloud.reachability {
                continue;
            }
            match cloud.reachability {
                Reachability::Firewalled => warn!(
                    cloud = %cloud.name,
                    "behind a firewall: no node reached this machine unsolicited, so it only \
                     resolves there and its names are published on its links only; let UDP \
                     from any port in to port {}",
                    self.settings.port
                ),
                Reachability::Reachable => {
                    info!(cloud = %cloud.name, "reachable from outside")
                }
                Reachability::Unknown => {
                    debug!(cloud = %cloud.name, "reachability not known any more")
                }
            }
        }
    }
}

/// The seeds given as addresses (host names join when they resolve).
fn literal_seeds(seeds: &[Seed]) -> Vec<SocketAddrV6> {
    seeds
        .iter()
        .filter_map(|seed| match seed {
            Seed::Address(address) => Some(*address),
            Seed::Name { .. } => None,
        })
        .collect()
}

/// The seeds the clouds join through: the addresses given, then the host names' addresses, then
/// the nodes remembered from the last run; each once.
fn combine_seeds(
    literal: &[SocketAddrV6],
    resolved: &[SocketAddrV6],
    remembered: &[SocketAddrV6],
) -> Vec<SocketAddrV6> {
    let mut seeds: Vec<SocketAddrV6> = Vec::new();
    for seed in literal.iter().chain(resolved).chain(remembered) {
        if !seeds.contains(seed) {
            seeds.push(*seed);
        }
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_given_then_resolved_then_remembered_each_once() {
        let v6 = |text: &str| -> SocketAddrV6 { text.parse().unwrap() };
        assert_eq!(
            combine_seeds(
                &[v6("[fd00::1]:3540"), v6("[fd00::2]:3540")],
                &[v6("[fd00::3]:3540"), v6("[fd00::1]:3540")],
                &[
                    v6("[fd00::4]:3540"),
                    v6("[fd00::3]:3540"),
                    v6("[fd00::3]:4000")
                ],
            ),
            [
                v6("[fd00::1]:3540"),
                v6("[fd00::2]:3540"),
                v6("[fd00::3]:3540"),
                v6("[fd00::4]:3540"),
                v6("[fd00::3]:4000"),
            ]
        );
        assert!(combine_seeds(&[], &[], &[]).is_empty());
    }
}
