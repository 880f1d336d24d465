//! The maintenance round (§3.1.2: every 15 seconds): rejoin when alone, re-publish before our
//! CPAs expire, check that the neighbours of our registrations still answer, fill an empty slot
//! of the cache where the cloud is dense enough to have a node (§3.2.6.2), and once a minute
//! re-announce every registration.

use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;
use rand::Rng;

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
        self.fill(now);
        if self.maintenance_round % ROUNDS_PER_BALANCE != 1 {
            return;
        }
        // Re-announce every registration once a minute: the lookup towards our own IDs finds
        // neighbours that joined since, and carries our entry to them. A node whose first
        // announcement met a poor leaf set is otherwise known to few, for good.
        self.reannounce_all();
        self.announce(now);
    }

    /// Looks up the middle of one empty slot of the cache (§3.2.6.2: resolving the IDs the cache
    /// needs), at a level where the estimated size says a node should be (a slot of level `L`
    /// spans `2^256 / (2·10^(L+1))` IDs); the lookup's hops and its best match fill it. Without
    /// such a slot, once a minute, the middle of the widest gap between cached IDs instead.
    /// Caches otherwise fill only with what passes by, and a sparse cache costs every lookup
    /// through it a hop.
    fn fill(&mut self, now: Instant) {
        let size = self.estimated_size().unwrap_or(0) as f64;
        let vacancies = if size >= 20.0 {
            // Deepest level whose slots hold at least one node on average.
            let deepest = ((size / 2.0).log10() - 1.0).floor().max(0.0) as u8;
            self.cache.vacancies(deepest)
        } else {
            Vec::new()
        };
        let target = if vacancies.is_empty() {
            if self.maintenance_round % ROUNDS_PER_BALANCE != 1 {
                return;
            }
            self.widest_gap_middle()
        } else {
            Some(vacancies[self.rng.gen_range(0..vacancies.len())])
        };
        if let Some(target) = target {
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
        self.cache.shrink_to_fit();
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
        // One check per entry at a time (a check of a multi-homed entry may still be running).
        let checking: Vec<PnrpId> = self
            .requests
            .purposes()
            .filter_map(|(_, _, purpose)| match purpose {
                Purpose::Liveness { entry } => Some(entry.pnrp_id),
                _ => None,
            })
            .collect();
        neighbours.retain(|neighbour| !checking.contains(&neighbour.id));
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
            .is_some_and(|known| known.endpoints[..] == endpoints[..])
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
