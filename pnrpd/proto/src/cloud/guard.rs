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
//! sources costs no scan). Sans-IO like the rest of the cloud: time comes in as `now`.

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
    /// Tokens in thousandths of a datagram.
    tokens: u64,
    refilled: Instant,
    received: u64,
    answered: u64,
}

/// The per-source tables of one cloud.
#[derive(Debug)]
pub struct Guard {
    sources: Generations<Ipv6Addr, Source>,
    proven: Generations<Ipv6Addr, Instant>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            sources: Generations::new(MAX_SOURCES),
            proven: Generations::new(MAX_PROVEN),
        }
    }
}

impl Guard {
    /// A datagram of `len` bytes arrived from `from`: whether to process it (the source's bucket
    /// had a token). Admitted bytes earn the source answer budget.
    pub fn admit(&mut self, now: Instant, from: &Ipv6Addr, len: usize) -> bool {
        let full = u64::from(BURST) * 1000;
        let source = self.sources.entry(*from, || Source {
            tokens: full,
            refilled: now,
            received: 0,
            answered: 0,
        });
        let elapsed = now.saturating_duration_since(source.refilled);
        let earned = elapsed.as_millis().saturating_mul(u128::from(RATE_PER_SEC));
        source.tokens = (u128::from(source.tokens) + earned).min(u128::from(full)) as u64;
        source.refilled = now;
        if source.tokens < 1000 {
            return false;
        }
        source.tokens -= 1000;
        source.received = source.received.saturating_add(len as u64);
        true
    }

    /// Whether `to` has proven, within [`PROOF_LIFETIME`], that it receives at its address.
    pub fn is_proven(&self, now: Instant, to: &Ipv6Addr) -> bool {
        self.proven.get(to).is_some_and(|until| *until > now)
    }

    /// `to` echoed something only a receiver at its address could know.
    pub fn prove(&mut self, now: Instant, to: &Ipv6Addr) {
        *self.proven.entry(*to, || now) = now + PROOF_LIFETIME;
    }

    /// Bytes we may still answer `to` with: `None` when unlimited (a proven source).
    pub fn budget(&self, now: Instant, to: &Ipv6Addr) -> Option<u64> {
        if self.is_proven(now, to) {
            return None;
        }
        Some(self.sources.get(to).map_or(0, |source| {
            (source.received.saturating_mul(AMPLIFICATION)).saturating_sub(source.answered)
        }))
    }

    /// Whether an answer of `len` bytes to `to` fits its budget; if so it is charged.
    pub fn charge(&mut self, now: Instant, to: &Ipv6Addr, len: usize) -> bool {
        match self.budget(now, to) {
            None => true,
            Some(left) if left >= len as u64 => {
                if let Some(source) = self.sources.current.get_mut(to) {
                    source.answered = source.answered.saturating_add(len as u64);
                } else if let Some(source) = self.sources.previous.get_mut(to) {
                    source.answered = source.answered.saturating_add(len as u64);
                }
                true
            }
            Some(_) => false,
        }
    }

    /// Forgets sources idle for [`IDLE`] and expired proofs (the maintenance round calls it):
    /// the tables hold the peers of the last minute, not every peer ever heard.
    pub fn prune(&mut self, now: Instant) {
        self.sources
            .retain(|source| now.saturating_duration_since(source.refilled) < IDLE);
        self.proven.retain(|until| *until > now);
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
