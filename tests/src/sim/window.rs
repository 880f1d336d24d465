//! Handling one host's events of a time window (see the `sim` module's documentation): what
//! every thread reads, what each host's state is, what a window produces, and the firewalls.

use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::Rng;

use super::{
    internet_one_way, Conditions, FastMap, Host, Latency, Place, Traffic, Transmit, PINHOLE,
};

/// The pinholes of a firewalled host: (from its side port?, remote) → last send, in
/// nanoseconds of virtual time.
#[derive(Debug, Default)]
pub(super) struct Pinholes {
    pub(super) open: FastMap<(bool, SocketAddrV6), u64>,
    pub(super) prune_at: usize,
}

impl Pinholes {
    pub(super) fn opened(&mut self, side: bool, to: SocketAddrV6, now: u64) {
        self.open.insert((side, to), now);
        if self.open.len() > self.prune_at {
            let life = nanos(PINHOLE);
            self.open.retain(|_, last| now - *last <= life);
            self.prune_at = (2 * self.open.len()).max(64);
        }
    }

    pub(super) fn admits(&self, side: bool, from: SocketAddrV6, now: u64) -> bool {
        self.open
            .get(&(side, from))
            .is_some_and(|last| now - *last <= nanos(PINHOLE))
    }
}

/// What every thread may read of a host during a window (only changed between windows).
#[derive(Debug, Clone)]
pub(super) struct Info {
    pub(super) address: SocketAddrV6,
    pub(super) side: Option<SocketAddrV6>,
    pub(super) up: bool,
    pub(super) partition: u32,
    pub(super) place: Place,
}

/// What only the thread handling a host touches during a window.
#[derive(Debug)]
pub(super) struct Node<H> {
    /// `None` once retired.
    pub(super) host: Option<H>,
    pub(super) rng: SmallRng,
    pub(super) firewall: Option<Box<Pinholes>>,
    /// The timer event filed for it and not popped yet: (time, sequence number).
    pub(super) timer: Option<(u64, u64)>,
}

#[derive(Debug)]
pub(super) struct Delivery {
    pub(super) to: u32,
    pub(super) from_host: u32,
    /// To the receiver's side port.
    pub(super) side: bool,
    pub(super) from: SocketAddrV6,
    pub(super) bytes: Vec<u8>,
}

/// One event of a host in a window: a delivery (with its sequence number) or a wake-up.
#[derive(Debug)]
pub(super) enum Event {
    Deliver(u64, Delivery),
    Wake,
}

/// What handling hosts in a window produced, in the order of the hosts.
#[derive(Debug, Default)]
pub(super) struct Output {
    /// Datagrams to file (arrival time, delivery) and timers (host, time), in order.
    pub(super) filings: Vec<Filing>,
    /// Datagrams delivered, if watched: (time, sequence, from, to, bytes).
    pub(super) observed: Vec<(u64, u64, SocketAddrV6, SocketAddrV6, Vec<u8>)>,
    pub(super) traffic: Traffic,
    pub(super) events: u64,
}

#[derive(Debug)]
pub(super) enum Filing {
    Datagram(u64, Delivery),
    Timer(usize, u64),
}

/// What every thread reads during a window.
pub(super) struct Shared<'a> {
    pub(super) info: &'a [Info],
    pub(super) by_address: &'a FastMap<SocketAddrV6, u32>,
    pub(super) conditions: &'a Conditions,
    pub(super) seed: u64,
    pub(super) start: Instant,
    pub(super) observe: bool,
}

/// Hosts to handle in a window: index, state, events in order.
pub(super) type Work<'a, H> = Vec<(usize, &'a mut Node<H>, Vec<(u64, Event)>)>;

/// A host's timer may fire at most this often in one window (a host that keeps asking to be
/// woken at once is a bug in the host, not a reason to hang).
const MAX_FIRINGS: usize = 10_000;
/// Windows with fewer hosts than this run on one thread.
pub(super) const PARALLEL_MIN_HOSTS: usize = 4;

pub(super) fn nanos(duration: Duration) -> u64 {
    duration.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl Shared<'_> {
    fn instant(&self, at: u64) -> Instant {
        self.start + Duration::from_nanos(at)
    }

    /// Routes a datagram host `index` sends at `now`: where and when it arrives, if it does.
    pub(super) fn route<H>(
        &self,
        index: usize,
        node: &mut Node<H>,
        transmit: Transmit,
        now: u64,
        traffic: &mut Traffic,
    ) -> Option<(u64, Delivery)> {
        traffic.sent += 1;
        traffic.bytes += transmit.bytes.len() as u64;
        let info = &self.info[index];
        let from_side = transmit.side && info.side.is_some();
        let from = match info.side {
            Some(side) if from_side => side,
            _ => info.address,
        };
        if let Some(firewall) = node.firewall.as_mut() {
            firewall.opened(from_side, transmit.to, now);
        }
        let Some(&target) = self.by_address.get(&transmit.to) else {
            traffic.dropped += 1;
            return None;
        };
        if self.conditions.loss > 0.0 && node.rng.gen_bool(self.conditions.loss) {
            traffic.dropped += 1;
            return None;
        }
        let to = (target / 2) as usize;
        let latency = match &self.conditions.latency {
            Latency::Uniform(range) if range.is_empty() => range.start,
            Latency::Uniform(range) => node.rng.gen_range(range.clone()),
            Latency::Internet => {
                internet_one_way(self.seed, index, info.place, to, self.info[to].place)
            }
        };
        let delivery = Delivery {
            to: to as u32,
            from_host: index as u32,
            side: target % 2 == 1,
            from,
            bytes: transmit.bytes,
        };
        Some((now + nanos(latency), delivery))
    }

    /// Handles host `index`'s events of a window that ends at `end` (exclusive), in order.
    pub(super) fn handle<H: Host>(
        &self,
        index: usize,
        node: &mut Node<H>,
        events: Vec<(u64, Event)>,
        end: u64,
        out: &mut Output,
    ) {
        let info = &self.info[index];
        let mut clock = 0;
        for (at, event) in events {
            out.events += 1;
            if !info.up {
                if let Event::Deliver(..) = event {
                    out.traffic.dropped += 1;
                }
                continue;
            }
            self.fire_due(index, node, at, &mut clock, out);
            clock = clock.max(at);
            if let Event::Deliver(sequence, delivery) = event {
                self.deliver(index, node, sequence, at, delivery, out);
            }
        }
        if info.up {
            self.fire_due(index, node, end.saturating_sub(1), &mut clock, out);
            let due = node.host.as_ref().and_then(|host| host.poll_timeout());
            if let Some(due) = due {
                let at = nanos(due.saturating_duration_since(self.start)).max(end);
                if node.timer.is_none_or(|(filed, _)| filed > at) {
                    out.filings.push(Filing::Timer(index, at));
                }
            }
        }
    }

    /// Fires the host's timer as long as it falls due at or before `limit`.
    fn fire_due<H: Host>(
        &self,
        index: usize,
        node: &mut Node<H>,
        limit: u64,
        clock: &mut u64,
        out: &mut Output,
    ) {
        for _ in 0..MAX_FIRINGS {
            let Some(host) = node.host.as_mut() else {
                return;
            };
            let Some(due) = host.poll_timeout() else {
                return;
            };
            let due = nanos(due.saturating_duration_since(self.start));
            if due > limit {
                return;
            }
            *clock = (*clock).max(due);
            host.handle_timeout(self.instant(*clock));
            self.drain(index, node, *clock, out);
        }
    }

    fn deliver<H: Host>(
        &self,
        index: usize,
        node: &mut Node<H>,
        sequence: u64,
        now: u64,
        delivery: Delivery,
        out: &mut Output,
    ) {
        let receiver = &self.info[index];
        if node.host.is_none()
            || self.info[delivery.from_host as usize].partition != receiver.partition
        {
            out.traffic.dropped += 1;
            return;
        }
        if node
            .firewall
            .as_ref()
            .is_some_and(|firewall| !firewall.admits(delivery.side, delivery.from, now))
        {
            out.traffic.dropped += 1;
            out.traffic.blocked += 1;
            return;
        }
        out.traffic.delivered += 1;
        if self.observe {
            let address = match receiver.side {
                Some(side) if delivery.side => side,
                _ => receiver.address,
            };
            out.observed.push((
                now,
                sequence,
                delivery.from,
                address,
                delivery.bytes.clone(),
            ));
        }
        let instant = self.instant(now);
        if let Some(host) = node.host.as_mut() {
            if delivery.side {
                host.handle_side_datagram(instant, delivery.from, &delivery.bytes);
            } else {
                host.handle_datagram(instant, delivery.from, &delivery.bytes);
            }
        }
        self.drain(index, node, now, out);
    }

    /// Routes what the host queued.
    pub(super) fn drain<H: Host>(
        &self,
        index: usize,
        node: &mut Node<H>,
        now: u64,
        out: &mut Output,
    ) {
        while let Some(transmit) = node.host.as_mut().and_then(|host| host.poll_transmit()) {
            if let Some((at, delivery)) = self.route(index, node, transmit, now, &mut out.traffic) {
                out.filings.push(Filing::Datagram(at, delivery));
            }
        }
    }
}

/// Mutable references to the elements of `slice` at `indices` (increasing).
pub(super) fn pick_mut<'a, T>(mut slice: &'a mut [T], indices: &[usize]) -> Vec<&'a mut T> {
    let mut picked = Vec::with_capacity(indices.len());
    let mut offset = 0;
    for &index in indices {
        let tail = std::mem::take(&mut slice).split_at_mut(index - offset).1;
        let (element, rest) = tail.split_first_mut().expect("index in range");
        picked.push(element);
        slice = rest;
        offset = index + 1;
    }
    picked
}
