//! Unit tests of the cloud that drive whole nodes: each module's behaviour through the messages
//! it exchanges. [`Lan`] delivers every datagram at once, in order, and keeps what went where;
//! the simulator with latency, loss and thousands of nodes is the tests crate's.

mod admission;
mod answer;
mod departures;
mod hostile;
mod join;
mod maintenance;
mod publish;
mod reachability;
mod split;

use std::collections::{HashMap, HashSet};
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::PnrpId;

use super::{Cloud, CloudConfig, CloudEvent, Found, Publication, Transmit, WallClock};
use crate::wire::{AppEndpoint, Message, Packet};

/// Unix time of the tests' clocks.
const UNIX: u64 = 1_800_000_000;

/// `[fd00::<index + 1>]:3540`.
fn at(index: usize) -> SocketAddrV6 {
    SocketAddrV6::new(
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, index as u16 + 1),
        3540,
        0,
        0,
    )
}

/// The side port of node `index` (see `Transmit::side`).
fn side(index: usize) -> SocketAddrV6 {
    side_of(at(index))
}

/// The side port of a node whose first address is `address`.
fn side_of(address: SocketAddrV6) -> SocketAddrV6 {
    SocketAddrV6::new(*address.ip(), 3541, 0, 0)
}

/// The configuration of node `index`: its own key and seed, joining through `seeds`.
fn config(index: usize, seeds: Vec<SocketAddrV6>, now: Instant) -> CloudConfig {
    CloudConfig {
        seed: index as u64 + 1,
        seeds,
        key: SigningKey::from_bytes(&[index as u8 + 1; 32]),
        clock: WallClock {
            at: now,
            unix_secs: UNIX,
        },
        scope_id: 0,
        discovery: None,
    }
}

/// Node `index` alone: at `at(index)`, no seed.
fn lone(index: usize, now: Instant) -> Cloud {
    let mut cloud = Cloud::new(config(index, Vec::new(), now), now);
    cloud.set_local_endpoints(now, vec![at(index)]);
    cloud
}

/// `0.<name>` published at the node's address.
fn publication(name: &str, index: usize) -> Publication {
    Publication {
        name: format!("0.{name}").parse().unwrap(),
        app_endpoints: vec![AppEndpoint {
            address: *at(index).ip(),
            port: 80,
            protocol: 6,
        }],
        comment: None,
        payload: None,
        identity: None,
    }
}

/// A datagram delivered, decoded.
#[derive(Debug, Clone)]
struct Sent {
    from: SocketAddrV6,
    to: SocketAddrV6,
    packet: Packet,
}

/// A few nodes on one instant link.
struct Lan {
    nodes: Vec<Cloud>,
    now: Instant,
    sent: Vec<Sent>,
    down: HashSet<usize>,
    /// Nodes behind a stateful firewall: they receive only through a pinhole.
    firewalled: HashSet<usize>,
    /// (node, its side port?, remote) → when the node last sent there.
    pinholes: HashMap<(usize, bool, SocketAddrV6), Instant>,
    /// Each node's addresses (`at(index)` unless moved); it sends from the first.
    addresses: Vec<Vec<SocketAddrV6>>,
    /// Addresses nothing reaches (a dead path to a multi-homed node).
    blocked: HashSet<SocketAddrV6>,
    /// While the link is cut: the nodes on one side; nothing crosses between the two sides.
    cut: Option<HashSet<usize>>,
    /// (node, remote) → the node's address the remote last reached: its answers leave from
    /// there (as the daemon's do, through IPV6_PKTINFO).
    reached: HashMap<(usize, SocketAddrV6), SocketAddrV6>,
}

impl Lan {
    /// `count` nodes at `at(0)`, `at(1)`…, each joining through node 0, one after another.
    fn new(count: usize) -> Lan {
        let now = Instant::now();
        let mut lan = Lan {
            nodes: Vec::new(),
            now,
            sent: Vec::new(),
            down: HashSet::new(),
            firewalled: HashSet::new(),
            pinholes: HashMap::new(),
            addresses: Vec::new(),
            blocked: HashSet::new(),
            cut: None,
            reached: HashMap::new(),
        };
        for index in 0..count {
            lan.add(index, if index == 0 { vec![] } else { vec![at(0)] });
        }
        lan
    }

    fn add(&mut self, index: usize, seeds: Vec<SocketAddrV6>) {
        let mut cloud = Cloud::new(config(index, seeds, self.now), self.now);
        cloud.set_local_endpoints(self.now, vec![at(index)]);
        self.nodes.push(cloud);
        self.addresses.push(vec![at(index)]);
        self.deliver();
    }

    /// Node `index` now listens at `addresses` (it moved, or gained an address).
    fn move_to(&mut self, index: usize, addresses: Vec<SocketAddrV6>) {
        self.nodes[index].set_local_endpoints(self.now, addresses.clone());
        // The node sorts its endpoints; it sends from the first of them.
        self.addresses[index] = self.nodes[index].local_endpoints().to_vec();
        self.deliver();
    }

    /// Whether the cut (if any) keeps `a` and `b` apart.
    fn apart(&self, a: usize, b: usize) -> bool {
        self.cut
            .as_ref()
            .is_some_and(|side| side.contains(&a) != side.contains(&b))
    }

    /// Delivers every queued datagram, and what it causes, until the link is quiet. Each node
    /// listens at `at(index)` and at its side port `side(index)`.
    fn deliver(&mut self) {
        for _ in 0..10_000 {
            let mut quiet = true;
            for index in 0..self.nodes.len() {
                while let Some(transmit) = self.nodes[index].poll_transmit() {
                    quiet = false;
                    let Transmit { to, bytes, .. } = &transmit;
                    let own = self
                        .reached
                        .get(&(index, transmit.to))
                        .copied()
                        .unwrap_or(self.addresses[index][0]);
                    let from = if transmit.side { side_of(own) } else { own };
                    self.pinholes
                        .insert((index, transmit.side, transmit.to), self.now);
                    if let Ok(packet) = Packet::decode(bytes) {
                        self.sent.push(Sent {
                            from,
                            to: *to,
                            packet,
                        });
                    }
                    let target = (0..self.nodes.len()).find_map(|other| {
                        (self.addresses[other].contains(to))
                            .then_some((other, false))
                            .or((side_of(self.addresses[other][0]) == *to).then_some((other, true)))
                    });
                    let Some((target, to_side)) = target else {
                        continue;
                    };
                    if self.down.contains(&target)
                        || self.blocked.contains(to)
                        || self.apart(index, target)
                    {
                        continue;
                    }
                    let pinhole = self
                        .pinholes
                        .get(&(target, to_side, from))
                        .is_some_and(|at| {
                            self.now.saturating_duration_since(*at) < super::reachability::PINHOLE
                        });
                    if self.firewalled.contains(&target) && !pinhole {
                        continue;
                    }
                    if !to_side {
                        self.reached.insert((target, from), *to);
                    }
                    if to_side {
                        self.nodes[target].handle_side_datagram(self.now, from, bytes);
                    } else {
                        self.nodes[target].handle_datagram(self.now, from, bytes);
                    }
                }
            }
            if quiet {
                return;
            }
        }
        panic!("the link never went quiet");
    }

    /// Lets `duration` pass in steps of 100 ms, firing timers and delivering.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += Duration::from_millis(100);
            for index in 0..self.nodes.len() {
                if self.down.contains(&index) {
                    continue;
                }
                if self.nodes[index]
                    .poll_timeout()
                    .is_some_and(|due| due <= self.now)
                {
                    self.nodes[index].handle_timeout(self.now);
                }
            }
            self.deliver();
        }
    }

    /// Node `index` publishes `0.<name>`; returns its ID.
    fn register(&mut self, index: usize, name: &str) -> PnrpId {
        let id = self.nodes[index]
            .register(self.now, publication(name, index))
            .expect("the node has an address");
        self.deliver();
        id
    }

    /// Node `index` resolves `0.<name>` to completion.
    fn resolve(&mut self, index: usize, name: &str) -> Vec<Found> {
        let name = format!("0.{name}").parse().unwrap();
        self.nodes[index].resolve(self.now, &name, 7);
        self.deliver();
        self.run_for(Duration::from_secs(10));
        match self.nodes[index].poll_event() {
            Some(CloudEvent::Resolved {
                query: 7, found, ..
            }) => found,
            other => panic!("{other:?}"),
        }
    }

    /// The messages sent since `mark` (an index into the log) that `pick` selects.
    fn sent_since<T>(&self, mark: usize, pick: impl Fn(&Sent) -> Option<T>) -> Vec<T> {
        self.sent[mark..].iter().filter_map(pick).collect()
    }

    /// Whether node `index` caches `id`.
    fn caches(&self, index: usize, id: &PnrpId) -> bool {
        self.nodes[index].cache().get(id).is_some()
    }
}

/// Every datagram a node queued, decoded, with where it goes.
fn drain(cloud: &mut Cloud) -> Vec<(SocketAddrV6, Message)> {
    std::iter::from_fn(|| cloud.poll_transmit())
        .map(|transmit| {
            let packet = Packet::decode(&transmit.bytes).expect("we send what we decode");
            (transmit.to, packet.message)
        })
        .collect()
}

/// The datagram of a message.
fn encode(message_id: u32, message: Message) -> Vec<u8> {
    Packet {
        message_id,
        message,
    }
    .encode()
}

/// The AUTHORITY buffer a single-fragment AUTHORITY carries, and the message ID it acks.
fn single_buffer(message: &Message) -> Option<(u32, crate::wire::AuthorityBuffer)> {
    let Message::Authority(fragment) = message else {
        return None;
    };
    assert!(fragment.is_whole(), "a fragmented answer");
    let buffer = crate::wire::AuthorityBuffer::decode(fragment.fragment()).expect("decodes");
    Some((fragment.acked_message_id(), buffer))
}
