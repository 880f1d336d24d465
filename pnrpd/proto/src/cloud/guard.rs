//! Defences against hostile senders, per source address (docs/PROTOCOL.md, "Hostile input"):
//!
//! - a token bucket per source: datagrams beyond it are dropped before they are decoded;
//! - an anti-amplification budget: to a source that has not proven it receives at its address,
//!   answers total at most [`AMPLIFICATION`] times the bytes it sent us;
//! - the proofs of return routability themselves (a source that echoed a message ID we sent to
//!   that address), remembered for [`PROOF_LIFETIME`].
//!
//! Every table is bounded: two generations of at most half the limit each, the older dropped
//! whole when the newer fills (an approximate LRU in O(1) per datagram, so a flood of spoofed
//! sources costs no scan). Sans-IO like the rest of the cloud: time comes in as `now`. Entries
//! are compact (times as offsets from the guard's first use, counters as `u32`): a simulator
//! holds the tables of 10^5 nodes.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// Sources whose rate and budget are tracked at once.
pub const MAX_SOURCES: usize = 4096;
/// Sources whose proof of return routability is remembered at once.
pub const MAX_PROVEN: usize = 4096;
/// Datagrams per second a source may send us, sustained…
pub const RATE_PER_SEC: u32 = 100;
/// …and in one burst.
pub const BURST: u32 = 200;
/// Answers to an unproven source total at most this many times the bytes it sent.
pub const AMPLIFICATION: u64 = 3;
/// How long a proof of return routability holds.
pub const PROOF_LIFETIME: Duration = Duration::from_secs(600);
/// A source silent this long is forgotten: its bucket is full again, and its budget starts over
/// from nothing (three times what it sends next), which gives it nothing it could not earn anew.
pub const IDLE: Duration = Duration::from_secs(60);

/// A map of at most `limit` entries: two generations, the older dropped whole when the newer is
/// full. An approximate LRU in O(1) per operation, so that a flood of forged keys costs bounded
/// memory and no scan.
#[derive(Debug)]
pub struct Generations<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    half: usize,
}

impl<K: Eq + Hash + Copy, V> Generations<K, V> {
    /// An empty map holding at most `limit` entries.
    pub fn new(limit: usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            half: (limit / 2).max(1),
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`, if still held.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.current.get(key).or_else(|| self.previous.get(key))
    }

    /// Keeps only the entries `keep` accepts, and gives back memory the maps no longer need.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        for map in [&mut self.current, &mut self.previous] {
            map.retain(|_, value| keep(value));
            map.shrink_to_fit();
        }
    }

    /// The entry for `key`, moved to the newer generation, created by `make` if absent.
    pub fn entry(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        if !self.current.contains_key(&key) {
            let value = self.previous.remove(&key).unwrap_or_else(make);
            if self.current.len() >= self.half {
                // The older generation goes; its allocation serves the newer one.
                std::mem::swap(&mut self.current, &mut self.previous);
                self.current.clear();
            }
            self.current.insert(key, value);
        }
        self.current.get_mut(&key).expect("just inserted")
    }
}

#[derive(Debug)]
struct Source {
    /// When the bucket was last refilled, in milliseconds after the guard's origin, modulo 2^32
    /// (49 days): differences are taken wrapping, and a source idle for [`IDLE`] is pruned long
    /// before one could wrap. Half the size of a u64 and its padding, in a table of thousands.
    refilled: u32,
    /// Tokens in thousandths of a datagram.
    tokens: u32,
    /// Bytes received (saturating: a budget of 12 GiB is as good as unlimited).
    received: u32,
    /// Bytes answered.
    answered: u32,
}

/// The per-source tables of one cloud.
#[derive(Debug)]
pub struct Guard {
    /// The first `now` the guard saw: the times it keeps are offsets from it.
    origin: Option<Instant>,
    sources: Generations<Ipv6Addr, Source>,
    /// When each proof expires, in whole seconds after the origin (rounded up).
    proven: Generations<Ipv6Addr, u32>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            origin: None,
            sources: Generations::new(MAX_SOURCES),
            proven: Generations::new(MAX_PROVEN),
        }
    }
}

impl Guard {
    /// A datagram of `len` bytes arrived from `from`: whether to process it (the source's bucket
    /// had a token). Admitted bytes earn the source answer budget.
    pub fn admit(&mut self, now: Instant, from: &Ipv6Addr, len: usize) -> bool {
        let full = BURST * 1000;
        let at = self.millis(now);
        let source = self.sources.entry(*from, || Source {
            refilled: at as u32,
            tokens: full,
            received: 0,
            answered: 0,
        });
        let earned = u64::from((at as u32).wrapping_sub(source.refilled))
            .saturating_mul(u64::from(RATE_PER_SEC));
        source.tokens = (u64::from(source.tokens) + earned).min(u64::from(full)) as u32;
        source.refilled = at as u32;
        if source.tokens < 1000 {
            return false;
        }
        source.tokens -= 1000;
        source.received = source.received.saturating_add(clamp(len as u64));
        true
    }

    /// Whether `to` has proven, within [`PROOF_LIFETIME`] (to the second), that it receives at
    /// its address.
    pub fn is_proven(&self, now: Instant, to: &Ipv6Addr) -> bool {
        let Some(origin) = self.origin else {
            return false;
        };
        let elapsed = now.saturating_duration_since(origin).as_secs();
        self.proven
            .get(to)
            .is_some_and(|until| u64::from(*until) > elapsed)
    }

    /// `to` echoed something only a receiver at its address could know.
    pub fn prove(&mut self, now: Instant, to: &Ipv6Addr) {
        let until = clamp((self.millis(now) + PROOF_LIFETIME.as_millis() as u64).div_ceil(1000));
        *self.proven.entry(*to, || until) = until;
    }

    /// `now` in milliseconds after the origin (which the first call sets).
    fn millis(&mut self, now: Instant) -> u64 {
        let origin = *self.origin.get_or_insert(now);
        now.saturating_duration_since(origin).as_millis() as u64
    }

    /// Bytes we may still answer `to` with: `None` when unlimited (a proven source).
    pub fn budget(&self, now: Instant, to: &Ipv6Addr) -> Option<u64> {
        if self.is_proven(now, to) {
            return None;
        }
        Some(self.sources.get(to).map_or(0, |source| {
            (u64::from(source.received) * AMPLIFICATION).saturating_sub(u64::from(source.answered))
        }))
    }

    /// Whether an answer of `len` bytes to `to` fits its budget; if so it is charged.
    pub fn charge(&mut self, now: Instant, to: &Ipv6Addr, len: usize) -> bool {
        match self.budget(now, to) {
            None => true,
            Some(left) if left >= len as u64 => {
                let len = clamp(len as u64);
                if let Some(source) = self.sources.current.get_mut(to) {
                    source.answered = source.answered.saturating_add(len);
                } else if let Some(source) = self.sources.previous.get_mut(to) {
                    source.answered = source.answered.saturating_add(len);
                }
                true
            }
            Some(_) => false,
        }
    }

    /// Forgets sources idle for [`IDLE`] and expired proofs (the maintenance round calls it):
    /// the tables hold the peers of the last minute, not every peer ever heard.
    pub fn prune(&mut self, now: Instant) {
        let at = self.millis(now);
        let idle = IDLE.as_millis() as u64;
        self.sources
            .retain(|source| u64::from((at as u32).wrapping_sub(source.refilled)) < idle);
        let elapsed = at / 1000;
        self.proven.retain(|until| u64::from(*until) > elapsed);
    }

    /// Sources tracked (rate and budget), for tests.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Proofs remembered, for tests.
    pub fn proven_count(&self) -> usize {
        self.proven.len()
    }
}

/// A count or a time kept as `u32`, saturating.
fn clamp(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(index: u32) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (index >> 16) as u16, index as u16)
    }

    #[test]
    fn idle_sources_and_expired_proofs_are_forgotten() {
        let mut guard = Guard::default();
        let now = Instant::now();
        guard.admit(now, &address(1), 100);
        guard.admit(now + IDLE / 2, &address(2), 100);
        guard.prove(now, &address(3));
        guard.prune(now + IDLE);
        assert_eq!(
            guard.tracked(),
            1,
            "the source heard within the minute stays"
        );
        assert_eq!(guard.proven_count(), 1, "the proof still holds");
        guard.prune(now + PROOF_LIFETIME);
        assert_eq!((guard.tracked(), guard.proven_count()), (0, 0));
    }

    #[test]
    fn the_bucket_holds_a_burst_then_refills_at_the_rate() {
        let mut guard = Guard::default();
        let now = Instant::now();
        let from = address(1);
        let admitted = (0..1000).filter(|_| guard.admit(now, &from, 100)).count();
        assert_eq!(admitted, BURST as usize);
        let later = now + Duration::from_millis(500);
        let admitted = (0..1000).filter(|_| guard.admit(later, &from, 100)).count();
        assert_eq!(admitted, (RATE_PER_SEC / 2) as usize);
        // Another source has its own bucket.
        assert!(guard.admit(later, &address(2), 100));
    }

    #[test]
    fn the_bucket_keeps_its_rate_past_49_days() {
        // Refill times are kept modulo 2^32 ms: a source heard every 30 s for 50 days, then in a
        // burst, gets the same burst and rate as on the first day.
        let mut guard = Guard::default();
        let start = Instant::now();
        let from = address(1);
        let mut now = start;
        while now.duration_since(start) < Duration::from_millis(1 << 32) + IDLE {
            assert!(guard.admit(now, &from, 100));
            guard.prune(now);
            now += Duration::from_secs(30);
        }
        let admitted = (0..1000).filter(|_| guard.admit(now, &from, 100)).count();
        assert_eq!(admitted, BURST as usize);
        let later = now + Duration::from_millis(500);
        let admitted = (0..1000).filter(|_| guard.admit(later, &from, 100)).count();
        assert_eq!(admitted, (RATE_PER_SEC / 2) as usize);
    }

    #[test]
    fn answers_to_unproven_sources_stay_within_three_times_what_they_sent() {
        let mut guard = Guard::default();
        let now = Instant::now();
        let from = address(1);
        assert!(
            !guard.charge(now, &from, 1),
            "nothing sent, nothing answered"
        );
        assert!(guard.admit(now, &from, 100));
        assert_eq!(guard.budget(now, &from), Some(300));
        assert!(guard.charge(now, &from, 250));
        assert!(!guard.charge(now, &from, 51));
        assert!(guard.charge(now, &from, 50));
        guard.prove(now, &from);
        assert_eq!(guard.budget(now, &from), None);
        assert!(guard.charge(now, &from, 100_000));
        assert!(
            !guard.is_proven(now + PROOF_LIFETIME, &from),
            "proofs expire"
        );
    }

    #[test]
    fn tables_stay_bounded_under_a_flood_of_sources() {
        let mut guard = Guard::default();
        let now = Instant::now();
        for index in 0..100_000 {
            guard.admit(now, &address(index), 40);
            guard.prove(now, &address(index));
        }
        assert!(guard.tracked() <= MAX_SOURCES, "{}", guard.tracked());
        assert!(
            guard.proven_count() <= MAX_PROVEN,
            "{}",
            guard.proven_count()
        );
        // The newest are still known.
        assert!(guard.is_proven(now, &address(99_999)));
    }
}
