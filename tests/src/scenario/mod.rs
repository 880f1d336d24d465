//! A whole cloud on the simulated network: N nodes join one after another, each publishing
//! `0.node-<i>`, optionally some die, then random nodes resolve random names. Used by the
//! simulation tests and by `cargo run --release -p pnrp-tests --example simulate`.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand::{Rng, SeedableRng};

use pnrp_proto::cloud::{Cloud, CloudConfig, CloudEvent, Publication, WallClock};
use pnrp_proto::wire::AppEndpoint;

use crate::sim::{Conditions, Host, Network};

/// A cloud node on the simulated network.
#[derive(Debug)]
pub struct SimNode {
    address: SocketAddrV6,
    /// The node.
    pub cloud: Cloud,
}

impl SimNode {
    /// A node listening at `address`.
    pub fn new(address: SocketAddrV6, cloud: Cloud) -> Self {
        SimNode { address, cloud }
    }
}

impl Host for SimNode {
    fn address(&self) -> SocketAddrV6 {
        self.address
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.cloud.handle_datagram(now, from, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.cloud.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<(SocketAddrV6, Vec<u8>)> {
        self.cloud
            .poll_transmit()
            .map(|transmit| (transmit.to, transmit.bytes))
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.cloud.poll_timeout()
    }
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Nodes in the cloud.
    pub nodes: usize,
    /// Resolves to run, all at once, from random live nodes for random live names.
    pub lookups: usize,
    /// Share of nodes (0..1) killed before the lookups, without unregistering.
    pub churn: f64,
    /// Datagram loss (0..1).
    pub loss: f64,
    /// Seeds every random choice.
    pub seed: u64,
}

/// What came out.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Resolves that found the right publisher.
    pub resolved: usize,
    /// Resolves run.
    pub asked: usize,
    /// LOOKUP hops of each successful resolve, sorted.
    pub hops: Vec<usize>,
    /// Datagrams per resolve, background maintenance subtracted.
    pub messages_per_lookup: f64,
}

impl Outcome {
    /// The hop count at quantile `q` (0..=1).
    pub fn hops_at(&self, q: f64) -> usize {
        let index = ((self.hops.len() as f64 - 1.0) * q).round() as usize;
        self.hops.get(index).copied().unwrap_or(usize::MAX)
    }
}

/// The configuration of node `index` of a small simulated cloud that joins through its first
/// node at `first`: its own key and random choices, a fixed clock.
pub fn small_cloud_config(index: usize, first: SocketAddrV6, start: Instant) -> CloudConfig {
    CloudConfig {
        seed: index as u64,
        seeds: if index == 0 { vec![] } else { vec![first] },
        key: SigningKey::from_bytes(&[index as u8 + 1; 32]),
        clock: WallClock {
            at: start,
            unix_secs: 1_800_000_000,
        },
        scope_id: 0,
        discovery: None,
    }
}

/// Node `index` of a small simulated cloud (see [`small_cloud_config`]), listening at `address`.
pub fn small_cloud_node(
    index: usize,
    address: SocketAddrV6,
    first: SocketAddrV6,
    start: Instant,
) -> SimNode {
    let mut cloud = Cloud::new(small_cloud_config(index, first, start), start);
    cloud.set_local_endpoints(start, vec![address]);
    SimNode::new(address, cloud)
}

fn address(index: usize) -> SocketAddrV6 {
    let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (index >> 16) as u16, index as u16);
    SocketAddrV6::new(ip, 3540, 0, 0)
}

/// Runs a scenario.
pub fn run(scenario: &Scenario) -> Outcome {
    let start = Instant::now();
    let clock = WallClock {
        at: start,
        unix_secs: 1_800_000_000,
    };
    let conditions = Conditions {
        loss: scenario.loss,
        ..Conditions::default()
    };
    let mut network = Network::new(scenario.seed, start, conditions);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(scenario.seed);
    let nodes = scenario.nodes.max(2);
    for index in 0..nodes {
        // Each newcomer knows a few nodes already there: its seeds.
        let seeds: Vec<SocketAddrV6> = if index == 0 {
            vec![]
        } else {
            (0..3).map(|_| address(rng.gen_range(0..index))).collect()
        };
        let mut secret = [0; 32];
        rng.fill(&mut secret);
        let config = CloudConfig {
            seed: scenario.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            seeds,
            key: SigningKey::from_bytes(&secret),
            clock,
            scope_id: 0,
            discovery: None,
        };
        let mut cloud = Cloud::new(config, network.now());
        cloud.set_local_endpoints(network.now(), vec![address(index)]);
        let host = network.add(SimNode {
            address: address(index),
            cloud,
        });
        network.with_host(host, |node, now| {
            node.cloud.register(
                now,
                Publication {
                    name: format!("0.node-{index}").parse().expect("valid name"),
                    app_endpoints: vec![AppEndpoint {
                        address: *address(index).ip(),
                        port: 80,
                        protocol: 6,
                    }],
                    comment: None,
                    payload: None,
                    identity: None,
                },
            )
        });
        network.run_for(Duration::from_millis(50));
    }
    // Let maintenance balance the caches.
    network.run_for(Duration::from_secs(60));
    let dead = (nodes as f64 * scenario.churn.clamp(0.0, 0.9)) as usize;
    let mut alive: Vec<usize> = (0..nodes).collect();
    for _ in 0..dead {
        let victim = alive.swap_remove(rng.gen_range(0..alive.len()));
        network.kill(victim);
    }
    if dead > 0 {
        // Two maintenance periods for the survivors to notice.
        network.run_for(Duration::from_secs(30));
    }

    let quiet = network.traffic().sent;
    network.run_for(Duration::from_secs(20));
    let background = network.traffic().sent - quiet;

    let before = network.traffic().sent;
    let mut asked = Vec::new();
    for query in 0..scenario.lookups {
        let from = alive[rng.gen_range(0..alive.len())];
        let mut wanted = alive[rng.gen_range(0..alive.len())];
        while wanted == from {
            wanted = alive[rng.gen_range(0..alive.len())];
        }
        let name = format!("0.node-{wanted}").parse().expect("valid name");
        network.with_host(from, |node, now| {
            node.cloud.resolve(now, &name, query as u64)
        });
        asked.push(wanted);
    }
    network.run_for(Duration::from_secs(20));
    let messages = (network.traffic().sent - before).saturating_sub(background);

    let mut answers = HashMap::new();
    for index in 0..nodes {
        while let Some(CloudEvent::Resolved { query, found, hops }) =
            network.host_mut(index).cloud.poll_event()
        {
            answers.insert(query, (found, hops));
        }
    }
    let mut hops = Vec::new();
    for (query, wanted) in asked.iter().enumerate() {
        let Some((found, path)) = answers.remove(&(query as u64)) else {
            if std::env::var_os("PNRP_SIM_DEBUG").is_some() {
                eprintln!("query {query}: no answer in time");
            }
            continue;
        };
        if found.is_empty() && std::env::var_os("PNRP_SIM_DEBUG").is_some() {
            eprintln!("query {query}: not found after {} messages", path.len());
        }
        let right = found.iter().any(|found| {
            found
                .app_endpoints
                .iter()
                .any(|endpoint| endpoint.address == *address(*wanted).ip())
        });
        if right {
            // The path lists every node asked: the LOOKUPs, then the INQUIRE to the publisher.
            hops.push(path.len().saturating_sub(1));
        }
    }
    hops.sort_unstable();
    Outcome {
        resolved: hops.len(),
        asked: asked.len(),
        hops,
        messages_per_lookup: messages as f64 / asked.len().max(1) as f64,
    }
}
