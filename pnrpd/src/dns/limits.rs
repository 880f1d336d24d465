//! Who may ask and how much: the sources allowed besides loopback (`dns_allow`), the per-source
//! rate limit, and the listeners' counters.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use pnrp_shared::ipc::DnsCounters;

use super::answer::{Outcome, Reply};

/// Queries per second a source other than loopback may send, sustained.
pub const RATE_PER_SOURCE: f64 = 100.0;
/// Queries such a source may send at once.
pub const BURST_PER_SOURCE: f64 = 200.0;
/// Most sources tracked at once; a new source beyond them is limited until some go quiet.
pub const MAX_SOURCES: usize = 4096;

/// An address prefix, `192.0.2.0/24` or `fd00::/64` (an address alone is a whole address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    address: IpAddr,
    length: u8,
}

impl Prefix {
    /// Parses `ADDRESS[/LENGTH]`.
    pub fn parse(text: &str) -> Result<Prefix, String> {
        let (address, length) = match text.split_once('/') {
            Some((address, length)) => (address, Some(length)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or a prefix (ADDRESS/LENGTH)"))?;
        let address = address.to_canonical();
        let most = if address.is_ipv4() { 32 } else { 128 };
        let length = match length {
            None => most,
            Some(length) => length
                .parse::<u8>()
                .ok()
                .filter(|length| *length <= most)
                .ok_or_else(|| format!("{text:?}: the prefix length is 0 to {most}"))?,
        };
        Ok(Prefix { address, length })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        // The leading `length` bits of each, compared (a shift by 128 for /0 leaves nothing).
        let leading = |value: u128, bits: u32| value.checked_shr(bits - u32::from(self.length));
        match (self.address, ip.to_canonical()) {
            (IpAddr::V4(prefix), IpAddr::V4(ip)) => {
                leading(u32::from(prefix).into(), 32).unwrap_or(0)
                    == leading(u32::from(ip).into(), 32).unwrap_or(0)
            }
            (IpAddr::V6(prefix), IpAddr::V6(ip)) => {
                leading(prefix.into(), 128).unwrap_or(0) == leading(ip.into(), 128).unwrap_or(0)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.length)
    }
}

/// Whether a source may ask at all: loopback always, others only inside a `dns_allow` prefix.
pub fn allowed(allow: &[Prefix], source: IpAddr) -> bool {
    let source = source.to_canonical();
    source.is_loopback() || allow.iter().any(|prefix| prefix.contains(source))
}

/// A token bucket per source (loopback is not limited: it is this machine, which the Unix socket
/// serves without limit too, and usually a resolver forwarding everyone's queries).
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

impl RateLimiter {
    /// Whether `source` may have one more query answered at `now`.
    pub fn admit(&mut self, source: IpAddr, now: Instant) -> bool {
        let source = source.to_canonical();
        if source.is_loopback() {
            return true;
        }
        if !self.buckets.contains_key(&source) && self.buckets.len() >= MAX_SOURCES {
            // Forget the sources whose buckets have filled up again: they lose nothing.
            let full_after = BURST_PER_SOURCE / RATE_PER_SOURCE;
            self.buckets.retain(|_, (_, last)| {
                now.saturating_duration_since(*last).as_secs_f64() < full_after
            });
            if self.buckets.len() >= MAX_SOURCES {
                return false;
            }
        }
        let (tokens, last) = self
            .buckets
            .entry(source)
            .or_insert((BURST_PER_SOURCE, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * RATE_PER_SOURCE).min(BURST_PER_SOURCE);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A listener's counters, shared by its tasks.
#[derive(Debug, Default)]
pub struct Counters {
    queries: AtomicU64,
    answered: AtomicU64,
    nxdomain: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    malformed: AtomicU64,
    rate_limited: AtomicU64,
    denied: AtomicU64,
    truncated: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// A query arrived.
    pub fn query(&self) {
        bump(&self.queries);
    }

    /// A query was dropped undecoded.
    pub fn dropped(&self) {
        bump(&self.malformed);
    }

    /// A source over its rate was not answered.
    pub fn rate_limited(&self) {
        bump(&self.rate_limited);
    }

    /// A source outside `dns_allow` was not answered.
    pub fn denied(&self) {
        bump(&self.denied);
    }

    /// `reply` is being sent.
    pub fn replied(&self, reply: &Reply) {
        bump(match reply.outcome {
            Outcome::Answered => &self.answered,
            Outcome::NxDomain => &self.nxdomain,
            Outcome::Refused => &self.refused,
            Outcome::Failed => &self.failed,
            Outcome::Malformed => &self.malformed,
        });
        if reply.truncated {
            bump(&self.truncated);
        }
    }

    /// The counts now.
    pub fn snapshot(&self) -> DnsCounters {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        DnsCounters {
            queries: read(&self.queries),
            answered: read(&self.answered),
            nxdomain: read(&self.nxdomain),
            refused: read(&self.refused),
            failed: read(&self.failed),
            malformed: read(&self.malformed),
            rate_limited: read(&self.rate_limited),
            denied: read(&self.denied),
            truncated: read(&self.truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn prefixes() {
        let bridge = Prefix::parse("172.17.0.0/16").unwrap();
        assert!(bridge.contains(ip("172.17.3.4")));
        assert!(bridge.contains(ip("::ffff:172.17.3.4")));
        assert!(!bridge.contains(ip("172.18.0.1")));
        assert!(!bridge.contains(ip("fd00::1")));
        let lan = Prefix::parse("fd00:1::/64").unwrap();
        assert!(lan.contains(ip("fd00:1::9")));
        assert!(!lan.contains(ip("fd00:2::9")));
        assert!(Prefix::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Prefix::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        let one = Prefix::parse("fd00::7").unwrap();
        assert!(one.contains(ip("fd00::7")) && !one.contains(ip("fd00::8")));
        assert_eq!(one.to_string(), "fd00::7/128");
        for bad in ["fd00::/129", "10.0.0.0/33", "nope", "10.0.0.0/x", ""] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_always_others_only_when_allowed() {
        let allow = [Prefix::parse("172.17.0.0/16").unwrap()];
        assert!(allowed(&[], ip("127.0.0.1")));
        assert!(allowed(&[], ip("::1")));
        assert!(allowed(&[], ip("::ffff:127.0.0.1")));
        assert!(!allowed(&[], ip("172.17.0.2")));
        assert!(allowed(&allow, ip("172.17.0.2")));
        assert!(!allowed(&allow, ip("fd00::2")));
    }

    #[test]
    fn each_source_has_its_rate_and_loopback_none() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        let burst = BURST_PER_SOURCE as usize;
        let admitted = (0..burst * 2)
            .filter(|_| limiter.admit(ip("fd00::9"), now))
            .count();
        assert_eq!(admitted, burst);
        // Another source is not held back by the first.
        assert!(limiter.admit(ip("fd00::10"), now));
        assert!((0..10_000).all(|_| limiter.admit(ip("::1"), now)));
        // A tenth of a second later, about a tenth of the rate again.
        let later = now + Duration::from_millis(100);
        let admitted = (0..burst)
            .filter(|_| limiter.admit(ip("fd00::9"), later))
            .count();
        assert_eq!(admitted, (RATE_PER_SOURCE / 10.0) as usize);
    }

    #[test]
    fn the_table_of_sources_is_bounded() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        for index in 0..MAX_SOURCES as u128 {
            assert!(limiter.admit(IpAddr::V6((0xfd00_u128 << 112 | index).into()), now));
        }
        assert!(
            !limiter.admit(ip("fd01::1"), now),
            "a new source beyond the table"
        );
        assert!(limiter.buckets.len() <= MAX_SOURCES);
        // Once the others have gone quiet long enough, room is made.
        assert!(limiter.admit(ip("fd01::1"), now + Duration::from_secs(3)));
        assert!(limiter.buckets.len() <= MAX_SOURCES);
    }
}
