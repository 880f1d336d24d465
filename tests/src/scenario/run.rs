//! Running a [`Scenario`]: the phases of `super`'s documentation, and the figures.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use pnrp_proto::cloud::{Cloud, CloudConfig, CloudEvent, Publication, WallClock};
use pnrp_proto::wire::AppEndpoint;

use super::report::{report, Answer, Figures, Lookup, Outcome};
use super::{census, side_of, Census, Rtt, Scenario, PARTITION_AFTER};
use crate::churn::{next_arrival, Sessions};
use crate::sim::{Conditions, Host, Latency, Network, Transmit};

/// A resolve counts as successful if its answer, with the publisher's address, comes within this.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(20);
/// In the steady phase, names are looked up only once registered this long, and only if their
/// publisher stays at least this long after the lookup starts.
pub const MIN_NAME_AGE: Duration = Duration::from_secs(10);
/// A graceful leaver goes down once its revokes are acknowledged, or after this.
const LEAVE_GRACE: Duration = Duration::from_secs(3);
const LEAVE_CHECK: Duration = Duration::from_millis(100);
/// Lookups per second of a partition scenario without `lookup_rate`, at least: about 100
/// cross-half lookups in each 10 s window.
pub const PARTITION_LOOKUP_RATE: f64 = 20.0;

/// A node of a scenario: a cloud, and the answers to its resolves with their time.
#[derive(Debug)]
pub(super) struct Peer {
    address: SocketAddrV6,
    pub(super) cloud: Cloud,
    answers: Vec<(Instant, CloudEvent)>,
}

impl Peer {
    fn drain(&mut self, now: Instant) {
        while let Some(event) = self.cloud.poll_event() {
            self.answers.push((now, event));
        }
    }
}

impl Host for Peer {
    fn address(&self) -> SocketAddrV6 {
        self.address
    }
    fn side_address(&self) -> Option<SocketAddrV6> {
        Some(side_of(self.address))
    }
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.cloud.handle_datagram(now, from, bytes);
        self.drain(now);
    }
    fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.cloud.handle_side_datagram(now, from, bytes);
        self.drain(now);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.cloud.handle_timeout(now);
        self.drain(now);
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.cloud.poll_transmit()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.cloud.poll_timeout()
    }
}

fn address(index: usize) -> SocketAddrV6 {
    let ip = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (index >> 16) as u16, index as u16);
    SocketAddrV6::new(ip, 3540, 0, 0)
}

/// What the driver knows of a node.
#[derive(Debug, Clone)]
pub(super) struct Member {
    registered: Instant,
    /// When its session ends (continuous churn).
    ends: Option<Instant>,
    pub(super) firewalled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Action {
    Lookup,
    Arrival,
    Departure(usize),
    LeaveCheck(usize, Instant),
    Cut,
    Heal,
}

pub(super) struct Driver<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) network: Network<Peer>,
    pub(super) start: Instant,
    pub(super) clock: WallClock,
    /// Keys, seeds, kills and lookups.
    pub(super) rng: SmallRng,
    /// Firewalls, sessions, arrivals, kinds of departure.
    pub(super) churn_rng: SmallRng,
    pub(super) members: Vec<Member>,
    /// Nodes up and not leaving, and where each is in `live` (`usize::MAX`: not there).
    pub(super) live: Vec<usize>,
    pub(super) position: Vec<usize>,
    pub(super) lookups: Vec<Lookup>,
    pub(super) actions: BinaryHeap<Reverse<(Instant, u64, Action)>>,
    pub(super) sequence: u64,
    pub(super) cut: bool,
    pub(super) arrivals: usize,
    pub(super) graceful: usize,
    pub(super) abrupt: usize,
    pub(super) population: (usize, usize),
}

impl Driver<'_> {
    pub(super) fn now(&self) -> Instant {
        self.network.now()
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        self.sequence += 1;
        self.actions.push(Reverse((at, self.sequence, action)));
    }

    /// Which half of a partition scenario a node is in.
    pub(super) fn half(&self, index: usize) -> u32 {
        (mix(self.scenario.seed ^ 0x6861_6c66 ^ mix(index as u64)) & 1) as u32
    }

    fn random_live(&mut self, accept: impl Fn(&Self, usize) -> bool) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        for _ in 0..100 {
            let candidate = self.live[self.rng.gen_range(0..self.live.len())];
            if accept(self, candidate) {
                return Some(candidate);
            }
        }
        None
    }

    fn leave_live(&mut self, index: usize) -> bool {
        let at = self.position[index];
        if at == usize::MAX {
            return false;
        }
        self.live.swap_remove(at);
        if let Some(&moved) = self.live.get(at) {
            self.position[moved] = at;
        }
        self.position[index] = usize::MAX;
        true
    }

    /// A new node joins through three reachable live nodes and publishes `0.node-<i>`.
    fn spawn(&mut self, ends: Option<Instant>) -> usize {
        let index = self.network.len();
        let firewalled = index > 0
            && self.scenario.unreachable > 0.0
            && self
                .churn_rng
                .gen_bool(self.scenario.unreachable.clamp(0.0, 1.0));
        let seeds: Vec<SocketAddrV6> = (0..3)
            .filter_map(|_| {
                self.random_live(|driver, node| !driver.members[node].firewalled)
                    .map(address)
            })
            .collect();
        let mut secret = [0; 32];
        self.rng.fill(&mut secret);
        let config = CloudConfig {
            seed: self.scenario.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            seeds,
            key: SigningKey::from_bytes(&secret),
            clock: self.clock,
            scope_id: 0,
            discovery: None,
        };
        let now = self.now();
        let host = self.network.add(Peer {
            address: address(index),
            cloud: Cloud::new(config, now),
            answers: Vec::new(),
        });
        debug_assert_eq!(host, index);
        // Firewall and partition before it sends anything.
        self.network.set_firewalled(index, firewalled);
        if self.cut {
            let half = self.half(index);
            self.network.set_partition(index, half);
        }
        self.network.with_host(index, |peer, now| {
            peer.cloud.set_local_endpoints(now, vec![address(index)]);
            peer.cloud.register(
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
            );
            peer.drain(now);
        });
        self.members.push(Member {
            registered: now,
            ends,
            firewalled,
        });
        self.position.push(self.live.len());
        self.live.push(index);
        index
    }

    /// Collects the answers a node got.
    fn harvest(&mut self, index: usize) {
        let Some(peer) = self.network.get(index) else {
            return;
        };
        if peer.answers.is_empty() {
            return;
        }
        let answers = std::mem::take(&mut self.network.host_mut(index).answers);
        for (at, event) in answers {
            let CloudEvent::Resolved { query, found, hops } = event;
            let Some(lookup) = self.lookups.get_mut(query as usize) else {
                continue;
            };
            if lookup.answer.is_some() {
                continue;
            }
            let wanted = *address(lookup.target).ip();
            let right = found.iter().any(|found| {
                found
                    .app_endpoints
                    .iter()
                    .any(|endpoint| endpoint.address == wanted)
            });
            // The path lists every node asked: the LOOKUPs, then the INQUIRE to the publisher.
            let started = self.start + lookup.started;
            lookup.answer = Some(Answer {
                latency: at - started,
                found: found.len(),
                right,
                hops: hops.len().saturating_sub(1),
            });
        }
    }

    fn retire(&mut self, index: usize) {
        self.harvest(index);
        self.network.retire(index);
    }

    fn start_lookup(&mut self, asker: usize, target: usize) {
        let query = self.lookups.len() as u64;
        let lookup = Lookup {
            started: self.now() - self.start,
            asker,
            target,
            asker_firewalled: self.members[asker].firewalled,
            target_firewalled: self.members[target].firewalled,
            cross: self.scenario.partition.is_some() && self.half(asker) != self.half(target),
            answer: None,
        };
        self.lookups.push(lookup);
        let name = format!("0.node-{target}").parse().expect("valid name");
        self.network.with_host(asker, |peer, now| {
            peer.cloud.resolve(now, &name, query);
            peer.drain(now);
        });
    }

    /// A lookup of the steady phase: a live name from a live node (see [`MIN_NAME_AGE`]).
    fn steady_lookup(&mut self) {
        let now = self.now();
        let Some(asker) = self.random_live(|driver, node| {
            driver.members[node]
                .ends
                .is_none_or(|ends| ends >= now + LOOKUP_TIMEOUT)
        }) else {
            return;
        };
        let Some(target) = self.random_live(|driver, node| {
            let member = &driver.members[node];
            node != asker
                && member.registered + MIN_NAME_AGE <= now
                && member.ends.is_none_or(|ends| ends >= now + MIN_NAME_AGE)
        }) else {
            return;
        };
        self.start_lookup(asker, target);
    }

    fn note_population(&mut self) {
        let count = self.live.len();
        self.population = (self.population.0.min(count), self.population.1.max(count));
    }

    fn act(&mut self, action: Action, end: Instant, sessions: Option<Sessions>) {
        let now = self.now();
        match action {
            Action::Lookup => {
                self.steady_lookup();
                let rate = self.lookup_rate();
                let next = now + Duration::from_secs_f64(1.0 / rate);
                if next < end {
                    self.schedule(next, Action::Lookup);
                }
            }
            Action::Arrival => {
                let Some(sessions) = sessions else { return };
                let ends = now + sessions.sample(&mut self.churn_rng);
                let index = self.spawn(Some(ends));
                self.arrivals += 1;
                if ends < end {
                    self.schedule(ends, Action::Departure(index));
                }
                let rate = sessions.arrival_rate(self.scenario.nodes);
                let next = now + next_arrival(rate, &mut self.churn_rng);
                if next < end {
                    self.schedule(next, Action::Arrival);
                }
                self.note_population();
            }
            Action::Departure(index) => {
                if !self.leave_live(index) {
                    return;
                }
                if self
                    .churn_rng
                    .gen_bool(self.scenario.graceful.clamp(0.0, 1.0))
                {
                    self.graceful += 1;
                    self.network
                        .with_host(index, |peer, now| peer.cloud.leave(now));
                    self.schedule(
                        now + LEAVE_CHECK,
                        Action::LeaveCheck(index, now + LEAVE_GRACE),
                    );
                } else {
                    self.abrupt += 1;
                    self.retire(index);
                }
                self.note_population();
            }
            Action::LeaveCheck(index, deadline) => {
                if now >= deadline || self.network.host(index).cloud.is_settled() {
                    self.retire(index);
                } else {
                    self.schedule(now + LEAVE_CHECK, Action::LeaveCheck(index, deadline));
                }
            }
            Action::Cut => {
                self.cut = true;
                for index in 0..self.network.len() {
                    let half = self.half(index);
                    self.network.set_partition(index, half);
                }
            }
            Action::Heal => {
                self.cut = false;
                for index in 0..self.network.len() {
                    self.network.set_partition(index, 0);
                }
            }
        }
    }

    pub(super) fn lookup_rate(&self) -> f64 {
        let steady = self.scenario.steady().unwrap_or(Duration::from_secs(1));
        // A partition's windows need enough cross-half lookups to tell 99 % from less.
        let least = if self.scenario.partition.is_some() {
            PARTITION_LOOKUP_RATE
        } else {
            0.0
        };
        self.scenario
            .lookup_rate
            .unwrap_or((self.scenario.lookups as f64 / steady.as_secs_f64()).max(least))
            .max(1e-6)
    }

    fn progress(&self, phase: &str, wall: Instant) {
        if self.scenario.verbose {
            eprintln!(
                "simulate: {phase} done at {:.0} s simulated, {:.1} s wall, {} nodes live, \
                 {} events, {} pending, {:?} KiB peak RSS",
                (self.now() - self.start).as_secs_f64(),
                wall.elapsed().as_secs_f64(),
                self.live.len(),
                self.network.events(),
                self.network.pending(),
                super::peak_rss_kib(),
            );
        }
    }
}

/// SplitMix64.
fn mix(word: u64) -> u64 {
    let mut z = word.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs a scenario.
pub fn run(scenario: &Scenario) -> Outcome {
    let wall = Instant::now();
    let start = Instant::now();
    let conditions = Conditions {
        loss: scenario.loss,
        latency: match scenario.rtt {
            Rtt::Lan => Latency::default(),
            Rtt::Internet => Latency::Internet,
        },
    };
    let mut driver = Driver {
        scenario,
        network: {
            let mut network = Network::new(scenario.seed, start, conditions);
            network.set_threads(scenario.threads);
            network.reserve(scenario.nodes);
            network
        },
        start,
        clock: WallClock {
            at: start,
            unix_secs: 1_800_000_000,
        },
        rng: SmallRng::seed_from_u64(scenario.seed),
        churn_rng: SmallRng::seed_from_u64(mix(scenario.seed ^ 0x0063_6875_726e)),
        members: Vec::new(),
        live: Vec::new(),
        position: Vec::new(),
        lookups: Vec::new(),
        actions: BinaryHeap::new(),
        sequence: 0,
        cut: false,
        arrivals: 0,
        graceful: 0,
        abrupt: 0,
        population: (usize::MAX, 0),
    };

    let census = scenario.census.then(|| {
        let (census, tap) = census::tap();
        driver.network.tap(Some(tap));
        census
    });
    let snapshot = |census: &Option<Rc<RefCell<Census>>>| census.as_ref().map(|c| *c.borrow());
    let mut snapshots = vec![snapshot(&census)];

    // 1. Formation.
    let nodes = scenario.nodes.max(2);
    let join_every = Duration::from_secs_f64(1.0 / scenario.join_rate.max(1e-3));
    for index in 0..nodes {
        driver.network.run_until(start + join_every * index as u32);
        driver.spawn(None);
    }
    driver.progress("formation", wall);
    snapshots.push(snapshot(&census));
    // 2. Warm-up, then the static churn.
    driver.network.run_for(scenario.warmup);
    let dead = (nodes as f64 * scenario.churn.clamp(0.0, 0.9)) as usize;
    for _ in 0..dead {
        let victim = driver.live[driver.rng.gen_range(0..driver.live.len())];
        driver.leave_live(victim);
        driver.network.kill(victim);
    }
    if dead > 0 {
        // Two maintenance periods for the survivors to notice.
        driver.network.run_for(Duration::from_secs(30));
    }
    driver.progress("warm-up", wall);
    snapshots.push(snapshot(&census));

    // 3. The quiet window.
    // Maintenance repeats every minute (a round each 15 s, balancing every fourth): the first
    // 20 s of a quiet window a whole number of minutes long send what the 20 s of lookups would
    // send without lookups, whatever the phases of the nodes' rounds.
    let (quiet_sent, quiet_bytes) = (
        driver.network.traffic().sent,
        driver.network.traffic().bytes,
    );
    let snapshot_quiet = snapshot(&census).unwrap_or_default();
    let quiet_lookup_window = LOOKUP_TIMEOUT.min(scenario.quiet);
    driver.network.run_for(quiet_lookup_window);
    let background = driver.network.traffic().sent - quiet_sent;
    let background_census = snapshot(&census);
    driver.network.run_for(scenario.quiet - quiet_lookup_window);
    let quiet_messages = driver.network.traffic().sent - quiet_sent;
    let quiet_node_secs = driver.live.len() as f64 * scenario.quiet.as_secs_f64();
    let maintenance_bytes =
        (driver.network.traffic().bytes - quiet_bytes) as f64 / quiet_node_secs.max(1e-9);
    let maintenance_messages = quiet_messages as f64 / quiet_node_secs.max(1e-9);
    driver.progress("quiet window", wall);
    snapshots.push(snapshot(&census));

    // 4. The lookups.
    let steady_start = driver.now();
    let mut messages_per_lookup = None;
    let mut steady_bytes = None;
    let mut heal_at = None;
    match scenario.steady() {
        None => {
            let before = driver.network.traffic().sent;
            for _ in 0..scenario.lookups {
                let live = driver.live.clone();
                let asker = live[driver.rng.gen_range(0..live.len())];
                let mut target = live[driver.rng.gen_range(0..live.len())];
                while target == asker {
                    target = live[driver.rng.gen_range(0..live.len())];
                }
                driver.start_lookup(asker, target);
            }
            driver.network.run_for(LOOKUP_TIMEOUT);
            let sent = driver.network.traffic().sent - before;
            let background = background as f64 * LOOKUP_TIMEOUT.as_secs_f64()
                / quiet_lookup_window.as_secs_f64().max(1e-9);
            // Below the background's noise (10^5 nodes) the estimate is no figure at all.
            messages_per_lookup = (quiet_lookup_window == LOOKUP_TIMEOUT
                && sent as f64 > background)
                .then(|| (sent as f64 - background) / scenario.lookups.max(1) as f64);
        }
        Some(steady) => {
            let end = steady_start + steady;
            let sessions = scenario.session_median.map(Sessions::with_median);
            if let Some(sessions) = sessions {
                for index in driver.live.clone() {
                    let ends = steady_start + sessions.sample_residual(&mut driver.churn_rng);
                    driver.members[index].ends = Some(ends);
                    if ends < end {
                        driver.schedule(ends, Action::Departure(index));
                    }
                }
                let rate = sessions.arrival_rate(scenario.nodes);
                let first = steady_start + next_arrival(rate, &mut driver.churn_rng);
                driver.schedule(first, Action::Arrival);
            }
            if let Some(cut) = scenario.partition {
                driver.schedule(steady_start + PARTITION_AFTER, Action::Cut);
                heal_at = Some(steady_start + PARTITION_AFTER + cut);
                driver.schedule(steady_start + PARTITION_AFTER + cut, Action::Heal);
            }
            let first = Duration::from_secs_f64(0.5 / driver.lookup_rate());
            driver.schedule(steady_start + first, Action::Lookup);
            driver.population = (driver.live.len(), driver.live.len());
            let bytes_before = driver.network.traffic().bytes;
            let mut live_node_secs = 0.0;
            let mut last = steady_start;
            let drained = end + LOOKUP_TIMEOUT;
            while let Some(&Reverse((at, _, action))) = driver.actions.peek() {
                if at > drained {
                    break;
                }
                driver.actions.pop();
                driver.network.run_until(at);
                live_node_secs += driver.live.len() as f64 * (at - last).as_secs_f64();
                last = at;
                driver.act(action, end, sessions);
            }
            driver.network.run_until(drained);
            live_node_secs += driver.live.len() as f64 * (drained - last).as_secs_f64();
            steady_bytes = Some(
                (driver.network.traffic().bytes - bytes_before) as f64 / live_node_secs.max(1e-9),
            );
        }
    }
    driver.progress("lookups", wall);
    snapshots.push(snapshot(&census));
    driver.network.tap(None);
    for index in 0..driver.network.len() {
        driver.harvest(index);
    }
    report(
        &driver,
        Figures {
            messages_per_lookup,
            maintenance_bytes,
            maintenance_messages,
            steady_bytes,
            steady_start,
            heal_at,
            census: census.map(|_| {
                let phases: Vec<Census> = snapshots.into_iter().flatten().collect();
                let mut phases: Vec<Census> = phases
                    .windows(2)
                    .map(|pair| pair[1].since(&pair[0]))
                    .collect();
                // The lookups at once less the first 20 s of the quiet window, as messages per
                // lookup.
                if let (Some(lookups), Some(background), true) = (
                    phases.get_mut(3),
                    background_census.map(|c| c.since(&snapshot_quiet)),
                    messages_per_lookup.is_some(),
                ) {
                    *lookups = lookups.less(&background);
                }
                phases
            }),
        },
    )
}
