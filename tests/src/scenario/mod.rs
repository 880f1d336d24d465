//! Whole clouds on the simulated network, for the simulation tests and for
//! `cargo run --release -p pnrp-tests --example simulate` (its `//!` documents every option and
//! figure).
//!
//! A [`Scenario`] runs in phases:
//! 1. **Formation**: N nodes join at [`Scenario::join_rate`] per simulated second, each through
//!    three live reachable nodes (its seeds), each publishing `0.node-<i>`;
//!    [`Scenario::unreachable`] of them sit behind stateful firewalls.
//! 2. **Warm-up** ([`Scenario::warmup`]): maintenance balances the caches. Then
//!    [`Scenario::churn`] of the nodes are killed without unregistering (30 s pass).
//! 3. **Quiet window** ([`Scenario::quiet`], a minute): nothing but maintenance; its traffic is
//!    the background (maintenance bytes per node and second; its first 20 s, one maintenance
//!    period before the lookups' 20 s, is what messages per lookup subtract).
//! 4. **Lookups**, either all at once (the default: L resolves of random live names from random
//!    live nodes, then 20 s), or, with a steady phase ([`Scenario::steady`]: a
//!    [`Scenario::duration`], implied by [`Scenario::session_median`] and
//!    [`Scenario::partition`]), lookups at a steady rate while nodes arrive ([`crate::churn`])
//!    and leave (cleanly or not) and the cloud is cut in two halves and healed, then 20 s for the
//!    last answers.
//!
//! Every host listens at `[fd00::…]:3540` and at its side port 3541 ([`SIDE_PORT`]). The figures
//! are [`Outcome::report`], the JSON that `simulate --json` prints; `--census` adds the
//! datagrams by kind of message ([`census`]).

pub mod census;
mod json;
mod report;
mod run;

use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use pnrp_proto::cloud::{Cloud, CloudConfig, WallClock};

use crate::sim::{Host, Transmit};

pub use self::census::{Census, KINDS};
pub use self::json::Json;
pub use self::report::{Answer, Lookup, Outcome};
pub use self::run::{run, LOOKUP_TIMEOUT, MIN_NAME_AGE};

/// The side port of every simulated node (its main port is the PNRP port, 3540).
pub const SIDE_PORT: u16 = 3541;

/// A cloud node on the simulated network, listening at its address and at [`SIDE_PORT`] on the
/// same IP. Its events stay in [`SimNode::cloud`] for the caller to poll.
#[derive(Debug)]
pub struct SimNode {
    address: SocketAddrV6,
    /// The node.
    pub cloud: Cloud,
}

impl SimNode {
    /// A node listening at `address` (and at its side port).
    pub fn new(address: SocketAddrV6, cloud: Cloud) -> Self {
        SimNode { address, cloud }
    }
}

/// The side address of a node listening at `address`.
pub fn side_of(address: SocketAddrV6) -> SocketAddrV6 {
    SocketAddrV6::new(*address.ip(), SIDE_PORT, 0, address.scope_id())
}

impl Host for SimNode {
    fn address(&self) -> SocketAddrV6 {
        self.address
    }
    fn side_address(&self) -> Option<SocketAddrV6> {
        Some(side_of(self.address))
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.cloud.handle_datagram(now, from, bytes);
    }
    fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.cloud.handle_side_datagram(now, from, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.cloud.handle_timeout(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.cloud.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.cloud.poll_timeout()
    }
}

/// The network's latency model, as the command line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rtt {
    /// 5–40 ms one way, uniform, drawn for each datagram.
    #[default]
    Lan,
    /// Median RTT about 100 ms with a heavy tail, stable per pair ([`crate::sim::Latency`]).
    Internet,
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Nodes in the cloud (the population kept under continuous churn).
    pub nodes: usize,
    /// Resolves to run (over the steady phase, unless [`Scenario::lookup_rate`] says otherwise).
    pub lookups: usize,
    /// Share of nodes (0..1) killed after the warm-up, without unregistering.
    pub churn: f64,
    /// Datagram loss (0..1).
    pub loss: f64,
    /// Seeds every random choice.
    pub seed: u64,
    /// Latency model.
    pub rtt: Rtt,
    /// Nodes joining per simulated second while the cloud forms.
    pub join_rate: f64,
    /// Maintenance after the last join, before anything is measured.
    pub warmup: Duration,
    /// Length of the quiet window that measures the background traffic: a whole number of
    /// minutes, the period of maintenance.
    pub quiet: Duration,
    /// Continuous churn: median session (Weibull, shape 0.5); arrivals keep the population.
    pub session_median: Option<Duration>,
    /// Share of departures that leave cleanly (revoke, then go down once settled or after 3 s).
    pub graceful: f64,
    /// Length of the steady phase (lookups at a steady rate, churn, partition).
    pub duration: Option<Duration>,
    /// Lookups per second in the steady phase (default: `lookups` over the duration).
    pub lookup_rate: Option<f64>,
    /// Share of nodes behind stateful firewalls.
    pub unreachable: f64,
    /// Cut the cloud in two halves for this long, then heal it.
    pub partition: Option<Duration>,
    /// Print the progress of each phase on standard error.
    pub verbose: bool,
    /// Threads that handle hosts (the figures do not depend on it).
    pub threads: usize,
    /// Count the datagrams delivered by kind of message, per phase ([`census`]).
    pub census: bool,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            nodes: 1000,
            lookups: 300,
            churn: 0.0,
            loss: 0.0,
            seed: 1,
            rtt: Rtt::Lan,
            join_rate: 200.0,
            warmup: Duration::from_secs(60),
            quiet: Duration::from_secs(60),
            session_median: None,
            graceful: 0.5,
            duration: None,
            lookup_rate: None,
            unreachable: 0.0,
            partition: None,
            verbose: false,
            threads: 1,
            census: false,
        }
    }
}

/// How long into the steady phase a partition starts.
pub const PARTITION_AFTER: Duration = Duration::from_secs(60);

impl Scenario {
    /// The steady phase's length, if there is one: [`Scenario::duration`], or 10 min under
    /// churn, or 60 s + the partition + 10 min with a partition.
    pub fn steady(&self) -> Option<Duration> {
        self.duration.or_else(|| {
            self.partition
                .map(|cut| PARTITION_AFTER + cut + Duration::from_secs(600))
                .or(self.session_median.map(|_| Duration::from_secs(600)))
        })
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

/// The process's peak resident set size (`VmHWM`), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
