//! The maintenance round (§3.1.2: every 15 seconds): rejoin when alone, re-publish before our
//! CPAs expire, check that the nearest neighbours of our registrations still answer, and once a
//! minute re-announce every registration and look up the middle of the widest gap of the cache
//! to balance it (§3.2.6.2).

use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;

use super::cache::{CacheEntry, LEAF_HALF};
use super::requests::{Admission, Purpose};
use super::resolve::Goal;
use super::Cloud;
use crate::wire::{AuthorityBuffer, Inquire, Message, ResolveCriteria, RouteEntry};

/// Maintenance period (§3.1.2).
pub const MAINTENANCE: Duration = Duration::from_secs(15);
/// Re-publish when this little of a CPA's life is left.
const REPUBLISH_BEFORE_SECS: u64 = 3600;
/// Balancing and re-announcing run every this many rounds (once a minute).
const ROUNDS_PER_BALANCE: u32 = 4;
/// Entries not proven alive for a while checked each round, the stalest first.
const STALE_CHECKS: usize = 2;

impl Cloud {
    pub(super) fn maintain(&mut self, now: Instant) {
        self.tidy(now);
        if self.local_endpoints.is_empty() {
            return;
        }
        self.self_check.review(now);
        // Alone, this joins again (see `announce`).
        self.announce(now);
        self.republish_expiring(now, REPUBLISH_BEFORE_SECS);
        self.check_neighbours(now);
        // §3.2.6.2: every maintenance round may test for a split.
        self.maybe_test_for_split(now);
        self.maintenance_round = self.maintenance_round.wrapping_add(1);
        if self.maintenance_round % ROUNDS_PER_BALANCE != 1 {
            return;
        }
        // Re-announce every registration once a minute: the lookup towards our own IDs finds
        // neighbours that joined since, and carries our entry to them. A node whose first
        // announcement met a poor leaf set is otherwise known to few, for good.
        self.reannounce_all();
        self.announce(now);
        if let Some(target) = self.widest_gap_middle() {
            self.start_resolve(now, target, ResolveCriteria::None, Goal::Balance, None);
        }
    }

    /// Drops what no longer matters (idle sources, old sends, expired conversations and held
    /// INQUIREs) and gives back the memory bursts left behind: a simulator holds 10^5 nodes.
    fn tidy(&mut self, now: Instant) {
        self.guard.prune(now);
        self.contacts.prune(now);
        self.conversations
            .retain(|_, conversation| conversation.expires > now);
        self.conversations.shrink_to_fit();
        self.deferred.retain(|deferred| deferred.expires > now);
        self.deferred.shrink_to_fit();
        self.resolves.shrink_to_fit();
        self.transmits.shrink_to_fit();
        self.events.shrink_to_fit();
    }

    /// Asks cached nodes whether they are alive (an INQUIRE for their own ID, from the side
    /// port); silence removes them. Each round: the nearest neighbour on each side of each
    /// registration, one more of its leaf set in turn (so the whole leaf set is checked every
    /// few rounds), and the stalest entries of the cache.
    fn check_neighbours(&mut self, now: Instant) {
        let anchors: Vec<PnrpId> = self.locals.keys().copied().collect();
        let turn = 1 + self.maintenance_round as usize % (LEAF_HALF - 1);
        let mut neighbours: Vec<CacheEntry> = Vec::new();
        for anchor in anchors {
            let (below, above) = self.cache.leaf_set(&anchor);
            for side in [below, above] {
                for index in [0, turn] {
                    if let Some(entry) = side.get(index) {
                        if !neighbours.iter().any(|known| known.id == entry.id) {
                            neighbours.push((*entry).clone());
                        }
                    }
                }
            }
        }
        for entry in self.cache.stalest(now, STALE_CHECKS) {
            if !neighbours.iter().any(|known| known.id == entry.id) {
                neighbours.push(entry.clone());
            }
        }
        for neighbour in neighbours {
            let (Some(&to), Some(entry)) = (
                neighbour.endpoints.first(),
                Self::cache_route_entry(&neighbour),
            ) else {
                continue;
            };
            self.ask_liveness(now, to, entry);
        }
    }

    /// Sends a liveness check of `entry` to `to`, one of its addresses.
    fn ask_liveness(&mut self, now: Instant, to: SocketAddrV6, entry: RouteEntry) {
        let inquire = Inquire {
            want_cpa: false,
            want_extended_payload: false,
            want_cert_chain: false,
            validate_id: entry.pnrp_id,
            nonce: None,
        };
        self.send_request(
            now,
            to,
            Message::Inquire(inquire),
            Purpose::Liveness { entry },
        );
    }

    /// A liveness check went unanswered at `to`: the entry's next address is asked, or the
    /// entry is lost.
    pub(super) fn liveness_silent(&mut self, now: Instant, entry: RouteEntry, to: SocketAddrV6) {
        match self.next_endpoint(&entry, to) {
            Some(next) => self.ask_liveness(now, next, entry),
            None => self.liveness_lost(now, &entry, to),
        }
    }

    /// A neighbour answered its liveness check from `from`: still there, unless NOT_FOUND.
    pub(super) fn liveness_answered(
        &mut self,
        now: Instant,
        entry: RouteEntry,
        from: SocketAddrV6,
        buffer: AuthorityBuffer,
    ) {
        if buffer.not_found {
            return;
        }
        self.admit(
            now,
            &Admission {
                entry,
                from,
                nonce: [0; 16],
                already_flooded: Vec::new(),
            },
        );
    }

    /// A cached node stopped answering (last at `to`): it leaves the cache, if still cached at
    /// those addresses, and joins the nodes a split test may try later.
    pub(super) fn liveness_lost(&mut self, now: Instant, entry: &RouteEntry, to: SocketAddrV6) {
        let endpoints = self.entry_endpoints(entry);
        if self
            .cache
            .get(&entry.pnrp_id)
            .is_some_and(|known| known.endpoints == endpoints)
        {
            self.forget(&entry.pnrp_id);
            self.rendezvous.lost(now, to);
        }
    }

    /// The middle of the widest gap between cached IDs, going round the ring.
    fn widest_gap_middle(&self) -> Option<PnrpId> {
        let ids: Vec<PnrpId> = self.cache.entries().map(|entry| entry.id).collect();
        if ids.len() < 2 {
            return None;
        }
        let mut widest = (PnrpId([0; 32]), ids[0]);
        for pair in ids.windows(2) {
            let gap = pair[1].wrapping_sub(&pair[0]);
            if gap > widest.0 {
                widest = (gap, pair[0]);
            }
        }
        let wrap = ids[0].wrapping_sub(&ids[ids.len() - 1]);
        if wrap > widest.0 {
            widest = (wrap, ids[ids.len() - 1]);
        }
        let mut half = [0u8; 32];
        let mut carry = 0u8;
        for (index, byte) in widest.0 .0.iter().enumerate() {
            half[index] = (byte >> 1) | (carry << 7);
            carry = byte & 1;
        }
        Some(widest.1.wrapping_add(&PnrpId(half)))
    }
}
