//! A deterministic in-process network for sans-IO nodes: virtual time, latency, loss,
//! partitions and churn. One process can run thousands of nodes; the same seed gives the same run.
//!
//! The network owns the hosts. It delivers each datagram after a random latency (unless lost, or
//! the two ends are in different partitions, or the receiver is down) and fires each host's timer
//! when virtual time reaches it. Nothing here knows PNRP: any [`Host`] will do. On request
//! ([`Network::record`]) it keeps a copy of every datagram it delivers, e.g. to write a capture.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddrV6;
use std::ops::Range;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A sans-IO participant.
pub trait Host {
    /// Where it receives datagrams.
    fn address(&self) -> SocketAddrV6;
    /// A datagram arrived.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddrV6, bytes: &[u8]);
    /// Its timer fired.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram it wants sent.
    fn poll_transmit(&mut self) -> Option<(SocketAddrV6, Vec<u8>)>;
    /// When it next needs [`Host::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Conditions of the simulated network.
#[derive(Debug, Clone)]
pub struct Conditions {
    /// One-way delay range.
    pub latency: Range<Duration>,
    /// Probability in 0..=1 that a datagram is lost.
    pub loss: f64,
}

impl Default for Conditions {
    fn default() -> Self {
        Conditions {
            latency: Duration::from_millis(5)..Duration::from_millis(40),
            loss: 0.0,
        }
    }
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams dropped (loss, partition, host down, unknown address).
    pub dropped: u64,
    /// Bytes sent.
    pub bytes: u64,
}

#[derive(Debug)]
struct Delivery {
    to: usize,
    from: SocketAddrV6,
    bytes: Vec<u8>,
}

/// The simulated network and its hosts.
#[derive(Debug)]
pub struct Network<H> {
    hosts: Vec<H>,
    by_address: HashMap<SocketAddrV6, usize>,
    in_flight: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    deliveries: HashMap<u64, Delivery>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    down: HashSet<usize>,
    partition: HashMap<usize, u32>,
    now: Instant,
    sequence: u64,
    rng: SmallRng,
    conditions: Conditions,
    traffic: Traffic,
    recording: bool,
    recorded: Vec<(SocketAddrV6, SocketAddrV6, Vec<u8>)>,
}

impl<H: Host> Network<H> {
    /// An empty network starting at `start`.
    pub fn new(seed: u64, start: Instant, conditions: Conditions) -> Self {
        Network {
            hosts: Vec::new(),
            by_address: HashMap::new(),
            in_flight: BinaryHeap::new(),
            deliveries: HashMap::new(),
            timers: BinaryHeap::new(),
            down: HashSet::new(),
            partition: HashMap::new(),
            now: start,
            sequence: 0,
            rng: SmallRng::seed_from_u64(seed),
            conditions,
            traffic: Traffic::default(),
            recording: false,
            recorded: Vec::new(),
        }
    }

    /// Adds a host; returns its index.
    pub fn add(&mut self, host: H) -> usize {
        let index = self.hosts.len();
        self.by_address.insert(host.address(), index);
        self.hosts.push(host);
        self.flush(index);
        index
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A host.
    pub fn host(&self, index: usize) -> &H {
        &self.hosts[index]
    }

    /// A host, to act on it (call [`Network::flush`] after).
    pub fn host_mut(&mut self, index: usize) -> &mut H {
        &mut self.hosts[index]
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether there are no hosts.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// Traffic so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
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

    /// Stops a host: it neither receives nor fires timers until [`Network::revive`].
    pub fn kill(&mut self, index: usize) {
        self.down.insert(index);
    }

    /// Starts a stopped host again.
    pub fn revive(&mut self, index: usize) {
        self.down.remove(&index);
        self.flush(index);
    }

    /// Whether a host is up.
    pub fn is_up(&self, index: usize) -> bool {
        !self.down.contains(&index)
    }

    /// Puts a host in a partition; hosts talk only within the same partition (default 0).
    pub fn set_partition(&mut self, index: usize, partition: u32) {
        self.partition.insert(index, partition);
    }

    /// Runs `action` on a host at the current time, then sends what it queued.
    pub fn with_host<T>(&mut self, index: usize, action: impl FnOnce(&mut H, Instant) -> T) -> T {
        let now = self.now;
        let result = action(&mut self.hosts[index], now);
        self.flush(index);
        result
    }

    /// Sends what a host queued and files its next timer.
    pub fn flush(&mut self, index: usize) {
        while let Some((to, bytes)) = self.hosts[index].poll_transmit() {
            self.traffic.sent += 1;
            self.traffic.bytes += bytes.len() as u64;
            let from = self.hosts[index].address();
            let Some(&target) = self.by_address.get(&to) else {
                self.traffic.dropped += 1;
                continue;
            };
            if self.conditions.loss > 0.0 && self.rng.gen_bool(self.conditions.loss) {
                self.traffic.dropped += 1;
                continue;
            }
            let latency = self.rng.gen_range(self.conditions.latency.clone());
            self.sequence += 1;
            self.deliveries.insert(
                self.sequence,
                Delivery {
                    to: target,
                    from,
                    bytes,
                },
            );
            self.in_flight
                .push(Reverse((self.now + latency, self.sequence, target)));
        }
        if let Some(at) = self.hosts[index].poll_timeout() {
            self.timers.push(Reverse((at.max(self.now), index)));
        }
    }

    /// Advances virtual time to `until`, delivering datagrams and firing timers in order.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_delivery = self.in_flight.peek().map(|Reverse((at, _, _))| *at);
            let next_timer = self.timers.peek().map(|Reverse((at, _))| *at);
            let next = match (next_delivery, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            if next > until {
                break;
            }
            self.now = next;
            if next_delivery == Some(next) {
                let Some(Reverse((_, sequence, _))) = self.in_flight.pop() else {
                    break;
                };
                let Some(delivery) = self.deliveries.remove(&sequence) else {
                    continue;
                };
                let from_index = self.by_address.get(&delivery.from).copied();
                let same_partition = from_index.is_none_or(|from| {
                    self.partition.get(&from).copied().unwrap_or(0)
                        == self.partition.get(&delivery.to).copied().unwrap_or(0)
                });
                if self.down.contains(&delivery.to) || !same_partition {
                    self.traffic.dropped += 1;
                    continue;
                }
                self.traffic.delivered += 1;
                if self.recording {
                    let to = self.hosts[delivery.to].address();
                    self.recorded
                        .push((delivery.from, to, delivery.bytes.clone()));
                }
                let now = self.now;
                self.hosts[delivery.to].handle_datagram(now, delivery.from, &delivery.bytes);
                self.flush(delivery.to);
            } else {
                let Some(Reverse((at, index))) = self.timers.pop() else {
                    break;
                };
                if self.down.contains(&index) {
                    continue;
                }
                // Timers are filed lazily: act only if the host still wants this one.
                if self.hosts[index]
                    .poll_timeout()
                    .is_some_and(|due| due <= at)
                {
                    let now = self.now;
                    self.hosts[index].handle_timeout(now);
                    self.flush(index);
                }
            }
        }
        self.now = self.now.max(until);
    }

    /// Advances virtual time by `duration`.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now + duration;
        self.run_until(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echoes every datagram back once and counts what it got.
    struct Echo {
        address: SocketAddrV6,
        outbox: Vec<(SocketAddrV6, Vec<u8>)>,
        received: usize,
        wake: Option<Instant>,
        woke: usize,
    }

    impl Host for Echo {
        fn address(&self) -> SocketAddrV6 {
            self.address
        }
        fn handle_datagram(&mut self, _now: Instant, from: SocketAddrV6, bytes: &[u8]) {
            self.received += 1;
            if bytes == b"ping" {
                self.outbox.push((from, b"pong".to_vec()));
            }
        }
        fn handle_timeout(&mut self, _now: Instant) {
            self.woke += 1;
            self.wake = None;
        }
        fn poll_transmit(&mut self) -> Option<(SocketAddrV6, Vec<u8>)> {
            self.outbox.pop()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            self.wake
        }
    }

    fn echo(index: u16, wake: Option<Instant>) -> Echo {
        Echo {
            address: format!("[fd00::{index}]:3540").parse().unwrap(),
            outbox: Vec::new(),
            received: 0,
            wake,
            woke: 0,
        }
    }

    #[test]
    fn delivers_fires_timers_and_partitions() {
        let start = Instant::now();
        let mut network = Network::new(1, start, Conditions::default());
        let a = network.add(echo(1, Some(start + Duration::from_secs(1))));
        let b = network.add(echo(2, None));
        let to_b = network.host(b).address();
        network.with_host(a, |host, _| host.outbox.push((to_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(2));
        assert_eq!(network.host(b).received, 1);
        assert_eq!(network.host(a).received, 1, "pong came back");
        assert_eq!(network.host(a).woke, 1);

        network.set_partition(b, 1);
        network.with_host(a, |host, _| host.outbox.push((to_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(1));
        assert_eq!(network.host(b).received, 1, "partitioned");
        network.set_partition(b, 0);
        network.kill(b);
        network.with_host(a, |host, _| host.outbox.push((to_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(1));
        assert_eq!(network.host(b).received, 1, "down");
        assert_eq!(network.traffic().dropped, 2);
    }

    #[test]
    fn records_what_it_delivers_only_while_asked() {
        let start = Instant::now();
        let mut network = Network::new(1, start, Conditions::default());
        let a = network.add(echo(1, None));
        let b = network.add(echo(2, None));
        let (at_a, at_b) = (network.host(a).address(), network.host(b).address());
        network.with_host(a, |host, _| host.outbox.push((at_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(1));
        assert!(network.recorded().is_empty(), "off by default");

        network.record(true);
        network.with_host(a, |host, _| host.outbox.push((at_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(1));
        network.kill(b);
        network.with_host(a, |host, _| host.outbox.push((at_b, b"lost".to_vec())));
        network.run_for(Duration::from_secs(1));
        network.record(false);
        network.revive(b);
        network.with_host(a, |host, _| host.outbox.push((at_b, b"ping".to_vec())));
        network.run_for(Duration::from_secs(1));
        assert_eq!(
            network.recorded(),
            [
                (at_a, at_b, b"ping".to_vec()),
                (at_b, at_a, b"pong".to_vec())
            ],
            "delivered datagrams while recording, in order; not the dropped one"
        );
    }
}
