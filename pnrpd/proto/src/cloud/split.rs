//! Finding the cloud again: the addresses a node joins through (seeds in rotation, and the nodes
//! it lost touch with), and split detection with merging (§3.2.6.2.1).
//!
//! A cloud splits when a link breaks (a LAN cut off, a router down) or when islands bootstrap
//! from different seeds. Each half then drops the other from its cache, and nothing in the rest of
//! the protocol brings them back. A split test is a lookup of one of our IDs + 1 that starts at a
//! seed rather than in our cache: if it ends at a node closer to that ID than any we cached, the
//! seed's part of the cloud is one we do not see. We then announce our registrations from that
//! node, so that both parts learn the neighbours they miss, and test our other registrations the
//! same way. Tests are rare in a large cloud (each node tests with a probability inversely
//! proportional to the estimated size, so the cloud as a whole runs about
//! [`SPLIT_TESTS_PER_ROUND`] per round) and every round in a small one.
//!
//! Besides the configured seeds, a node tries the addresses of nodes it dropped for silence in the
//! last hour: after a partition heals, they are the nodes of the other half (a deviation from the
//! spec, which names seed servers only: docs/PROTOCOL.md, "Splits").

use std::collections::VecDeque;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;
use rand::Rng;

use super::resolve::Goal;
use super::{one, route_entry, Cloud};
use crate::wire::{ResolveCriteria, RouteEntry};

/// Split tests the whole cloud runs per maintenance round, about (§3.2.6.2.1: roughly constant
/// over the cloud).
pub const SPLIT_TESTS_PER_ROUND: f64 = 16.0;
/// Addresses of nodes lost to silence, remembered at most…
const MAX_LOST: usize = 32;
/// …and for this long.
const LOST_FOR: Duration = Duration::from_secs(3600);
/// Seeds a join asks at once; the next in rotation when one stays silent.
pub(super) const SEEDS_PER_JOIN: usize = 3;

/// A node we dropped because it stopped answering.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lost {
    address: SocketAddrV6,
    since: Instant,
}

/// The addresses to join through and to test for splits against, in rotation.
#[derive(Debug, Default)]
pub(super) struct Rendezvous {
    /// Most recent first.
    lost: VecDeque<Lost>,
    /// Where the rotation stands.
    turn: usize,
}

impl Rendezvous {
    /// `address` stopped answering.
    pub fn lost(&mut self, now: Instant, address: SocketAddrV6) {
        self.lost.retain(|lost| lost.address != address);
        self.lost.push_front(Lost {
            address,
            since: now,
        });
        self.lost.truncate(MAX_LOST);
    }

    /// `address` answers again.
    pub fn found(&mut self, address: &SocketAddrV6) {
        self.lost.retain(|lost| lost.address != *address);
    }

    /// The next address in rotation over `seeds` and the nodes lost lately, not one of `own`.
    pub fn next(
        &mut self,
        now: Instant,
        seeds: &[SocketAddrV6],
        own: &[SocketAddrV6],
    ) -> Option<SocketAddrV6> {
        self.lost
            .retain(|lost| now.saturating_duration_since(lost.since) < LOST_FOR);
        let mut candidates: Vec<SocketAddrV6> = seeds
            .iter()
            .copied()
            .filter(|address| !own.contains(address))
            .collect();
        for lost in &self.lost {
            if !candidates.contains(&lost.address) && !own.contains(&lost.address) {
                candidates.push(lost.address);
            }
        }
        if candidates.is_empty() {
            return None;
        }
        let next = candidates[self.turn % candidates.len()];
        self.turn = self.turn.wrapping_add(1);
        Some(next)
    }

    /// How many addresses the rotation holds.
    pub fn len(&self, seeds: &[SocketAddrV6]) -> usize {
        seeds.len() + self.lost.len()
    }
}

impl Cloud {
    /// Once per maintenance round: perhaps test for a split, around one of our registrations
    /// chosen at random (around the cache's anchor while we publish nothing).
    pub(super) fn maybe_test_for_split(&mut self, now: Instant) {
        if self.cache.is_empty() {
            return;
        }
        let size = self.estimated_size().unwrap_or(1).max(1) as f64;
        if !self.rng.gen_bool((SPLIT_TESTS_PER_ROUND / size).min(1.0)) {
            return;
        }
        let ids: Vec<PnrpId> = self.locals.keys().copied().collect();
        let around = if ids.is_empty() {
            self.anchor
        } else {
            ids[self.rng.gen_range(0..ids.len())]
        };
        let Some(seed) = self
            .rendezvous
            .next(now, &self.config.seeds, &self.local_endpoints)
        else {
            return;
        };
        self.test_for_split(now, around, seed, false);
    }

    /// A split test of `around` through `seed`: a lookup of `around` + 1 whose first hop is the
    /// seed, known by address only (§3.2.6.2.1).
    fn test_for_split(
        &mut self,
        now: Instant,
        around: PnrpId,
        seed: SocketAddrV6,
        follow_up: bool,
    ) {
        let target = around.wrapping_add(&one());
        let nearest = self.cache.closest(&target, |_| true).map(|entry| entry.id);
        let Some(first) = route_entry(PnrpId([0; 32]), &[seed]) else {
            return;
        };
        let carried = self
            .locals
            .contains_key(&around)
            .then(|| self.own_route_entry(around))
            .flatten()
            .filter(|_| !self.firewalled());
        self.start_resolve_from(
            now,
            target,
            ResolveCriteria::None,
            Goal::SplitDetection {
                around,
                nearest,
                follow_up,
            },
            carried,
            Some(first),
        );
    }

    /// A split test ended at `best` (§3.2.5.11.1). A best match closer to the target than any
    /// entry we had is a part of the cloud we do not see (we are in the smaller piece): we
    /// announce from it, and test our other registrations through the same seed. A best match
    /// farther than our nearest entry means the seed's side misses our part; the LOOKUPs carried
    /// our route entry to it, which is all the merge that side needs from us.
    pub(super) fn split_tested(
        &mut self,
        now: Instant,
        around: PnrpId,
        nearest: Option<PnrpId>,
        best: Option<RouteEntry>,
        seed: Option<SocketAddrV6>,
        follow_up: bool,
    ) {
        let Some(best) = best else {
            return;
        };
        let target = around.wrapping_add(&one());
        let smaller_piece = nearest.is_none_or(|nearest| {
            best.pnrp_id != nearest && best.pnrp_id.distance(&target) < nearest.distance(&target)
        });
        if !smaller_piece {
            return;
        }
        let preferred = self.preferred_entry(&best);
        if self.locals.contains_key(&around) {
            let carried = self.own_route_entry(around);
            if let Some(local) = self.locals.get_mut(&around) {
                local.announced = super::publish::Announce::Running;
            }
            self.start_resolve_from(
                now,
                target,
                ResolveCriteria::None,
                Goal::Announce(around),
                carried,
                preferred,
            );
        } else {
            self.start_resolve_from(
                now,
                target,
                ResolveCriteria::None,
                Goal::Balance,
                None,
                preferred,
            );
        }
        // §3.2.5.11.1: the other registrations too, so that as much of the ring as we hold merges.
        let Some(seed) = seed.filter(|_| !follow_up) else {
            return;
        };
        let others: Vec<PnrpId> = self
            .locals
            .keys()
            .copied()
            .filter(|id| *id != around)
            .collect();
        for other in others {
            self.test_for_split(now, other, seed, true);
        }
    }
}
