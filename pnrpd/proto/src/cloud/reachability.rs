//! Whether other nodes can reach this one unsolicited (docs/PROTOCOL.md, "Firewalls").
//!
//! Behind a stateful firewall a node receives only what answers its own traffic: a datagram from
//! a peer it sent to in the last seconds (a pinhole). Such a node can resolve, but a route entry
//! for it would lead others to a dead end. Two mechanisms keep that from happening:
//! - every check that a route entry can be reached before it is cached (admission, liveness)
//!   leaves from the side port (`Transmit::side`), a source the checked node never sent to, so
//!   only a node reachable unsolicited answers it: a firewalled node is never cached by others;
//! - a node tells itself: a request that reaches our port from a peer we had not sent to in the
//!   last [`PINHOLE`] proves we can be reached ([`Reachability::Reachable`], kept until our
//!   addresses change). A node whose registrations were announced and who sees no such request
//!   within [`VERDICT_AFTER`] concludes it is firewalled: it keeps resolving, and stops offering
//!   its own route entry (in LOOKUP answers, SOLICITs, FLOODs to newcomers).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use super::Reachability;

/// How long a stateful firewall keeps a pinhole open after the last datagram out (Linux's
/// conntrack keeps an unanswered UDP flow 30 s).
pub const PINHOLE: Duration = Duration::from_secs(30);
/// How long after its first announcement a node waits for an unsolicited request before it
/// concludes that it is firewalled.
pub const VERDICT_AFTER: Duration = Duration::from_secs(90);
/// Destinations remembered: enough for the busiest 30 s of a node (each resolve asks a handful
/// of nodes), small enough for a hundred thousand simulated nodes.
const REMEMBERED: usize = 256;

/// Where this node sent datagrams from its port lately, newest last.
#[derive(Debug, Default)]
pub(super) struct Contacts {
    sent: VecDeque<(u64, Instant)>,
}

fn key(peer: &SocketAddrV6) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (peer.ip(), peer.port()).hash(&mut hasher);
    hasher.finish()
}

impl Contacts {
    /// We sent to `peer` at `now`.
    pub fn record(&mut self, peer: &SocketAddrV6, now: Instant) {
        if self.sent.len() == REMEMBERED {
            self.sent.pop_front();
        }
        self.sent.push_back((key(peer), now));
    }

    /// Forgets sends older than a pinhole's lifetime (they no longer count).
    pub fn prune(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= PINHOLE)
        {
            self.sent.pop_front();
        }
        self.sent.shrink_to_fit();
    }

    /// Whether we sent to `peer` within a pinhole's lifetime before `now`.
    pub fn recent(&self, peer: &SocketAddrV6, now: Instant) -> bool {
        let key = key(peer);
        self.sent
            .iter()
            .rev()
            .take_while(|(_, at)| now.saturating_duration_since(*at) < PINHOLE)
            .any(|(sent, _)| *sent == key)
    }
}

/// What this node knows of its own reachability.
#[derive(Debug, Default)]
pub(super) struct SelfCheck {
    state: Reachability,
    /// When the first of our registrations was announced (reached a node).
    announced_at: Option<Instant>,
}

impl SelfCheck {
    /// The verdict so far.
    pub fn state(&self) -> Reachability {
        self.state
    }

    /// Our addresses changed: what we knew no longer holds.
    pub fn reset(&mut self) {
        *self = SelfCheck::default();
    }

    /// A request reached our port from a peer we had not sent to lately.
    pub fn unsolicited(&mut self) {
        self.state = Reachability::Reachable;
    }

    /// One of our registrations was announced at `now`.
    pub fn announced(&mut self, now: Instant) {
        self.announced_at.get_or_insert(now);
    }

    /// The maintenance round: a node announced long enough without an unsolicited request is
    /// firewalled. Returns whether the verdict changed.
    pub fn review(&mut self, now: Instant) -> bool {
        let overdue = self
            .announced_at
            .is_some_and(|at| now.saturating_duration_since(at) >= VERDICT_AFTER);
        if self.state == Reachability::Unknown && overdue {
            self.state = Reachability::Firewalled;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(last: u16, port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(
            std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last),
            port,
            0,
            0,
        )
    }

    #[test]
    fn a_contact_lasts_a_pinhole_and_is_per_port() {
        let now = Instant::now();
        let mut contacts = Contacts::default();
        contacts.record(&peer(1, 3540), now);
        assert!(contacts.recent(&peer(1, 3540), now + PINHOLE / 2));
        assert!(
            !contacts.recent(&peer(1, 3541), now),
            "another port is another flow"
        );
        assert!(!contacts.recent(&peer(2, 3540), now));
        assert!(!contacts.recent(&peer(1, 3540), now + PINHOLE));
        for index in 0..REMEMBERED as u16 {
            contacts.record(&peer(100 + index, 3540), now);
        }
        assert!(
            !contacts.recent(&peer(1, 3540), now),
            "bounded: the oldest goes"
        );
    }

    #[test]
    fn the_verdict_waits_for_an_announcement_and_reachable_sticks() {
        let now = Instant::now();
        let mut check = SelfCheck::default();
        assert!(
            !check.review(now + VERDICT_AFTER * 10),
            "nothing announced, no verdict"
        );
        check.announced(now);
        assert!(!check.review(now + VERDICT_AFTER / 2));
        assert!(check.review(now + VERDICT_AFTER));
        assert_eq!(check.state(), Reachability::Firewalled);
        check.unsolicited();
        assert_eq!(check.state(), Reachability::Reachable);
        assert!(!check.review(now + VERDICT_AFTER * 3));
        assert_eq!(check.state(), Reachability::Reachable);
        check.reset();
        assert_eq!(check.state(), Reachability::Unknown);
    }
}
