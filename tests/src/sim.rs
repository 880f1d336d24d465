//! A deterministic in-process network for sans-IO hosts: virtual time, latency, loss, partitions,
//! stateful firewalls and churn. One process runs a hundred thousand hosts; the same seed gives
//! the same run, whatever the number of threads.
//!
//! The network owns the hosts. Each host listens at its main address and, if it has one, at a
//! side address (a second port: [`Transmit::side`] datagrams leave from it, and what arrives there
//! goes to [`Host::handle_side_datagram`]). The network delivers each datagram after its latency
//! ([`Latency`]) unless it is lost, the two ends are in different partitions, the receiver is down,
//! or the receiver sits behind a stateful firewall that has no pinhole for it; and it fires each
//! host's timer when virtual time reaches it. Nothing here knows PNRP: any [`Host`] will do. On
//! request ([`Network::record`], [`Network::tap`]) it shows every datagram it delivers, e.g. to
//! write a capture.
//!
//! **Time windows.** Events (deliveries and timers) wait in one queue, by time, each with a
//! sequence number. The network takes them a window at a time: every event earlier than the
//! window's start (the earliest event) plus the smallest one-way latency, handled in (time,
//! sequence) order. Nothing sent inside a window can arrive inside it, so each host's events of
//! the window are independent of the other hosts': each host handles its own in order (and fires
//! the timers that fall due among them), on as many threads as [`Network::set_threads`] allows
//! (helpers started once, a rayon pool); what they send is then filed in the order of the hosts'
//! indices. Each host draws its losses and jitter from a generator of its own. So the run is the
//! same on one thread or many.
//!
//! **Firewalls** ([`Network::set_firewalled`]): a firewalled host drops every datagram that
//! arrives at one of its ports unless it sent a datagram from that port to the datagram's source
//! address and port within the last [`PINHOLE`] (a pinhole per 5-tuple, opened by sending and
//! kept open by sending again). So it hears answers to what it asked, and nothing unsolicited:
//! not a peer it never wrote to, and not, at its main port, a peer it wrote to only from its side
//! port.
//!
//! Files: `sim/latency.rs` the latency models, `sim/queue.rs` the pending events (by time, in
//! buckets one window wide), `sim/window.rs` one host's events of a window.

mod latency;
mod queue;
mod window;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddrV6;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

pub use self::latency::{internet_one_way, Latency, Place, MIN_ONE_WAY};
use self::queue::Queue;
use self::window::{
    nanos, pick_mut, Delivery, Event, Filing, Info, Node, Output, Shared, Work, PARALLEL_MIN_HOSTS,
};
pub use pnrp_proto::cloud::Transmit;

/// A sans-IO participant.
pub trait Host {
    /// Where it receives datagrams (its main port).
    fn address(&self) -> SocketAddrV6;
    /// Its side port, if it has one: [`Transmit::side`] datagrams leave from it. Without one,
    /// they leave from [`Host::address`].
    fn side_address(&self) -> Option<SocketAddrV6> {
        None
    }
    /// A datagram arrived at its main port.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]);
    /// A datagram arrived at its side port.
    fn handle_side_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]) {
        self.handle_datagram(now, from, bytes);
    }
    /// Its timer fired.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram it wants sent.
    fn poll_transmit(&mut self) -> Option<Transmit>;
    /// When it next needs [`Host::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Conditions of the simulated network.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// How long datagrams take.
    pub latency: Latency,
    /// Probability in 0..=1 that a datagram is lost.
    pub loss: f64,
}

/// How long a firewall's pinhole stays open after the last datagram sent through it.
pub const PINHOLE: Duration = Duration::from_secs(30);

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams dropped (loss, partition, host down, unknown address, firewall).
    pub dropped: u64,
    /// Of those, datagrams a receiver's firewall dropped.
    pub blocked: u64,
    /// Bytes sent.
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, other: Traffic) {
        self.sent += other.sent;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.blocked += other.blocked;
        self.bytes += other.bytes;
    }
}

/// A fast hasher for the network's tables (addresses are not attacker-chosen here).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u8(&mut self, value: u8) {
        self.write_u64(value.into());
    }
    fn write_u16(&mut self, value: u16) {
        self.write_u64(value.into());
    }
    fn write_u32(&mut self, value: u32) {
        self.write_u64(value.into());
    }
    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
    fn finish(&self) -> u64 {
        latency::mix(self.0)
    }
}

/// A hash map with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// What a tap sees of each delivered datagram: (from, to, bytes).
pub type Tap = Box<dyn FnMut(SocketAddrV6, SocketAddrV6, &[u8])>;

/// Queue keys with this bit set are timers (the rest is the host index); others index the slab.
const TIMER: u32 = 1 << 31;

/// The simulated network and its hosts.
pub struct Network<H> {
    info: Vec<Info>,
    nodes: Vec<Node<H>>,
    /// Address → host index × 2 + (1 for its side port).
    by_address: FastMap<SocketAddrV6, u32>,
    /// (time in ns since `start`, sequence, what): deliveries (slab index) and timers.
    queue: Queue,
    slab: Vec<Option<Delivery>>,
    free: Vec<u32>,
    start: Instant,
    /// Nanoseconds since `start`.
    now: u64,
    sequence: u64,
    seed: u64,
    conditions: Conditions,
    /// The smallest one-way latency, in ns: the length of a window.
    window: u64,
    threads: usize,
    /// The `threads - 1` helpers, started once: a small window is tens of microseconds of work,
    /// less than starting a thread for it cost.
    pool: Option<rayon::ThreadPool>,
    traffic: Traffic,
    events: u64,
    recording: bool,
    recorded: Vec<(SocketAddrV6, SocketAddrV6, Vec<u8>)>,
    tap: Option<Tap>,
}

impl<H> fmt::Debug for Network<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("hosts", &self.nodes.len())
            .field("now", &self.now)
            .field("pending", &self.queue.len())
            .field("traffic", &self.traffic)
            .finish_non_exhaustive()
    }
}

impl<H: Host + Send> Network<H> {
    /// An empty network starting at `start`, on one thread.
    pub fn new(seed: u64, start: Instant, conditions: Conditions) -> Self {
        let window = match &conditions.latency {
            Latency::Uniform(range) => nanos(range.start),
            Latency::Internet => nanos(MIN_ONE_WAY),
        };
        Network {
            info: Vec::new(),
            nodes: Vec::new(),
            by_address: FastMap::default(),
            queue: Queue::new(window),
            slab: Vec::new(),
            free: Vec::new(),
            start,
            now: 0,
            sequence: 0,
            seed,
            conditions,
            window,
            threads: 1,
            pool: None,
            traffic: Traffic::default(),
            events: 0,
            recording: false,
            recorded: Vec::new(),
            tap: None,
        }
    }

    /// Handles hosts on up to `threads` threads (1, the default: on the caller's). The run is
    /// the same whatever the number.
    ///
    /// # Panics
    /// If the helper threads cannot be started.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
        self.pool = (self.threads > 1).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads - 1)
                .thread_name(|index| format!("sim-{index}"))
                .build()
                .expect("helper threads start")
        });
    }

    /// Makes room for `additional` more hosts at once: grown by doubling, the tables of 10^5
    /// hosts would hold a third more than they need, and both copies for a moment.
    pub fn reserve(&mut self, additional: usize) {
        self.info.reserve_exact(additional);
        self.nodes.reserve_exact(additional);
        self.by_address.reserve(2 * additional);
    }

    /// Adds a host (up, in partition 0, not firewalled); returns its index.
    pub fn add(&mut self, host: H) -> usize {
        let index = self.nodes.len();
        assert!(index < TIMER as usize, "too many hosts");
        let (address, side) = (host.address(), host.side_address());
        self.by_address.insert(address, 2 * index as u32);
        if let Some(side) = side {
            self.by_address.insert(side, 2 * index as u32 + 1);
        }
        let place = match self.conditions.latency {
            Latency::Internet => Place::of(self.seed, index),
            Latency::Uniform(_) => Place::default(),
        };
        self.info.push(Info {
            address,
            side,
            up: true,
            partition: 0,
            place,
        });
        self.nodes.push(Node {
            host: Some(host),
            rng: SmallRng::seed_from_u64(latency::mix(self.seed ^ latency::mix(index as u64))),
            firewall: None,
            timer: None,
        });
        self.flush(index);
        index
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.start + Duration::from_nanos(self.now)
    }

    /// A host.
    ///
    /// # Panics
    /// If it was retired.
    pub fn host(&self, index: usize) -> &H {
        self.nodes[index]
            .host
            .as_ref()
            .unwrap_or_else(|| panic!("host {index} was retired"))
    }

    /// A host, to act on it (call [`Network::flush`] after).
    ///
    /// # Panics
    /// If it was retired.
    pub fn host_mut(&mut self, index: usize) -> &mut H {
        self.nodes[index]
            .host
            .as_mut()
            .unwrap_or_else(|| panic!("host {index} was retired"))
    }

    /// A host, unless it was retired.
    pub fn get(&self, index: usize) -> Option<&H> {
        self.nodes.get(index).and_then(|node| node.host.as_ref())
    }

    /// Number of hosts ever added (retired ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no host was ever added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Traffic so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Events (deliveries and timers) handled so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events waiting in the queue (datagrams in flight, timers).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Starts (`true`) or stops (`false`) keeping a copy of every datagram delivered from then on.
    /// Off by default; stopping keeps what was recorded.
    pub fn record(&mut self, on: bool) {
        self.recording = on;
    }

    /// The datagrams delivered while recording, in delivery order: `(from, to, bytes)`. Lost,
    /// partitioned and dropped datagrams are not in it.
    pub fn recorded(&self) -> &[(SocketAddrV6, SocketAddrV6, Vec<u8>)] {
        &self.recorded
    }

    /// Shows every datagram delivered from then on to `tap`, in delivery order (`None`: stop).
    pub fn tap(&mut self, tap: Option<Tap>) {
        self.tap = tap;
    }

    /// Stops a host: it neither receives nor fires timers until [`Network::revive`].
    pub fn kill(&mut self, index: usize) {
        self.info[index].up = false;
    }

    /// Starts a stopped host again.
    pub fn revive(&mut self, index: usize) {
        if self.nodes[index].host.is_some() {
            self.info[index].up = true;
            self.flush(index);
        }
    }

    /// Stops a host for good and frees it: its addresses are unknown from then on.
    pub fn retire(&mut self, index: usize) {
        let info = &mut self.info[index];
        info.up = false;
        self.by_address.remove(&info.address);
        if let Some(side) = info.side {
            self.by_address.remove(&side);
        }
        let node = &mut self.nodes[index];
        node.host = None;
        node.firewall = None;
    }

    /// Whether a host is up.
    pub fn is_up(&self, index: usize) -> bool {
        self.info[index].up
    }

    /// Puts a host in a partition; hosts talk only within the same partition (default 0).
    pub fn set_partition(&mut self, index: usize, partition: u32) {
        self.info[index].partition = partition;
    }

    /// A host's partition.
    pub fn partition(&self, index: usize) -> u32 {
        self.info[index].partition
    }

    /// Puts a host behind a stateful firewall (`true`) or in the open (`false`, the default).
    pub fn set_firewalled(&mut self, index: usize, firewalled: bool) {
        let node = &mut self.nodes[index];
        match (firewalled, node.firewall.is_some()) {
            (true, false) => node.firewall = Some(Box::default()),
            (false, true) => node.firewall = None,
            _ => {}
        }
    }

    /// Whether a host is behind a stateful firewall.
    pub fn is_firewalled(&self, index: usize) -> bool {
        self.nodes[index].firewall.is_some()
    }

    /// The one-way delay from host `a` to host `b` under the network's latency model (for
    /// [`Latency::Uniform`], the middle of the range).
    pub fn one_way(&self, a: usize, b: usize) -> Duration {
        match &self.conditions.latency {
            Latency::Uniform(range) => (range.start + range.end) / 2,
            Latency::Internet => {
                internet_one_way(self.seed, a, self.info[a].place, b, self.info[b].place)
            }
        }
    }

    /// Runs `action` on a host at the current time, then sends what it queued.
    pub fn with_host<T>(&mut self, index: usize, action: impl FnOnce(&mut H, Instant) -> T) -> T {
        let now = self.now();
        let result = action(self.host_mut(index), now);
        self.flush(index);
        result
    }

    /// Sends what a host queued and files its next timer.
    pub fn flush(&mut self, index: usize) {
        let mut out = Output::default();
        let shared = Shared {
            info: &self.info,
            by_address: &self.by_address,
            conditions: &self.conditions,
            seed: self.seed,
            start: self.start,
            observe: false,
        };
        let node = &mut self.nodes[index];
        shared.drain(index, node, self.now, &mut out);
        if self.info[index].up {
            if let Some(due) = node.host.as_ref().and_then(|host| host.poll_timeout()) {
                let at = nanos(due.saturating_duration_since(self.start)).max(self.now);
                if node.timer.is_none_or(|(filed, _)| filed > at) {
                    out.filings.push(Filing::Timer(index, at));
                }
            }
        }
        self.file(out);
    }

    /// Files what a window (or a flush) produced, in order.
    fn file(&mut self, out: Output) {
        self.traffic.add(out.traffic);
        self.events += out.events;
        for filing in out.filings {
            self.sequence += 1;
            match filing {
                Filing::Datagram(at, delivery) => {
                    let key = match self.free.pop() {
                        Some(key) => {
                            self.slab[key as usize] = Some(delivery);
                            key
                        }
                        None => {
                            self.slab.push(Some(delivery));
                            (self.slab.len() - 1) as u32
                        }
                    };
                    self.queue.push((at, self.sequence, key));
                }
                Filing::Timer(index, at) => {
                    self.nodes[index].timer = Some((at, self.sequence));
                    self.queue.push((at, self.sequence, TIMER | index as u32));
                }
            }
        }
    }

    /// Advances virtual time to `until`, delivering datagrams and firing timers in order.
    pub fn run_until(&mut self, until: Instant) {
        let until = nanos(until.saturating_duration_since(self.start));
        let mut batch: Vec<(usize, u64, u64, Event)> = Vec::new();
        let mut due = Vec::new();
        while let Some(first) = self.queue.first() {
            if first > until {
                break;
            }
            // Events before `end` cannot cause one another on different hosts.
            let end = first.saturating_add(self.window.max(1)).min(until + 1);
            batch.clear();
            due.clear();
            self.queue.take_before(end, &mut due);
            for &(at, sequence, what) in &due {
                if what & TIMER != 0 {
                    let index = (what & !TIMER) as usize;
                    let node = &mut self.nodes[index];
                    if node.timer.is_some_and(|(_, filed)| filed == sequence) {
                        node.timer = None;
                        batch.push((index, at, sequence, Event::Wake));
                    }
                } else if let Some(delivery) = self.slab[what as usize].take() {
                    self.free.push(what);
                    batch.push((
                        delivery.to as usize,
                        at,
                        sequence,
                        Event::Deliver(sequence, delivery),
                    ));
                }
            }
            self.now = first;
            self.window_of(std::mem::take(&mut batch), end);
            self.now = end - 1;
        }
        self.now = self.now.max(until);
    }

    /// Handles one window's events (sorted by time and sequence), host by host.
    fn window_of(&mut self, mut batch: Vec<(usize, u64, u64, Event)>, end: u64) {
        // By host, and in (time, sequence) order within each host.
        batch.sort_by_key(|(index, at, sequence, _)| (*index, *at, *sequence));
        let mut hosts: Vec<usize> = Vec::new();
        let mut lists: Vec<Vec<(u64, Event)>> = Vec::new();
        for (index, at, _, event) in batch {
            if hosts.last() != Some(&index) {
                hosts.push(index);
                lists.push(Vec::new());
            }
            lists.last_mut().expect("pushed").push((at, event));
        }
        let threads = self.threads.min(hosts.len() / PARALLEL_MIN_HOSTS).max(1);
        let pool = self.pool.as_ref();
        let outputs: Vec<Output> = {
            let shared = Shared {
                info: &self.info,
                by_address: &self.by_address,
                conditions: &self.conditions,
                seed: self.seed,
                start: self.start,
                observe: self.recording || self.tap.is_some(),
            };
            let mut work: Work<'_, H> = hosts
                .iter()
                .copied()
                .zip(pick_mut(&mut self.nodes, &hosts))
                .zip(lists)
                .map(|((index, node), list)| (index, node, list))
                .collect();
            let run = |chunk: Work<'_, H>| {
                let mut out = Output::default();
                for (index, node, list) in chunk {
                    shared.handle(index, node, list, end, &mut out);
                }
                out
            };
            match pool.filter(|_| threads > 1) {
                None => vec![run(work)],
                Some(pool) => {
                    // Small groups of hosts in their order, taken by whichever thread is free (the
                    // hosts' costs differ a hundredfold: a signature, or a counter); each group's
                    // output goes back to its place, so the filing order is the hosts' order.
                    let size = (work.len() / (threads * 16)).max(1);
                    let mut groups: Vec<Mutex<Option<Work<'_, H>>>> = Vec::new();
                    while !work.is_empty() {
                        let rest = work.split_off(size.min(work.len()));
                        groups.push(Mutex::new(Some(std::mem::replace(&mut work, rest))));
                    }
                    let outputs: Vec<Mutex<Option<Output>>> =
                        groups.iter().map(|_| Mutex::new(None)).collect();
                    let next = AtomicUsize::new(0);
                    let worker = || loop {
                        let taken = next.fetch_add(1, Ordering::Relaxed);
                        let Some(group) = groups.get(taken) else {
                            break;
                        };
                        let group = group.lock().expect("not poisoned").take();
                        let out = run(group.unwrap_or_default());
                        *outputs[taken].lock().expect("not poisoned") = Some(out);
                    };
                    pool.in_place_scope(|scope| {
                        for _ in 1..threads {
                            scope.spawn(|_| worker());
                        }
                        worker();
                    });
                    outputs
                        .into_iter()
                        .map(|out| {
                            out.into_inner()
                                .expect("not poisoned")
                                .expect("every group ran")
                        })
                        .collect()
                }
            }
        };
        let mut observed = Vec::new();
        for mut out in outputs {
            observed.append(&mut out.observed);
            self.file(out);
        }
        if !observed.is_empty() {
            observed.sort_by_key(|(at, sequence, ..)| (*at, *sequence));
            for (_, _, from, to, bytes) in observed {
                if let Some(tap) = self.tap.as_mut() {
                    tap(from, to, &bytes);
                }
                if self.recording {
                    self.recorded.push((from, to, bytes));
                }
            }
        }
    }

    /// Advances virtual time by `duration`.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now() + duration;
        self.run_until(until);
    }
}

#[cfg(test)]
mod tests;
