//! The route entry cache (§3.2.1.1): multi-level around each anchor, plus leaf sets.
//!
//! Each anchor (a locally registered PNRP ID, or the node's own random ID when it publishes
//! nothing) sees the ring in levels: level 0 spans the whole ring, level `L` the IDs within
//! `2^255 / 10^L` of the anchor. A level is cut into 20 slots (10 on each side) of a tenth of its
//! span, and each slot holds one entry, so a level keeps at most 20 entries spread over its span.
//! An entry belongs to the deepest level whose span contains it. Dense near the anchor and sparse
//! far away, this is what makes a lookup take about log10(N) hops: every hop lands at least ten
//! times closer to the target.
//!
//! Leaf sets are kept besides the levels: the 5 closest entries below and the 5 above each
//! anchor are never evicted for a level's sake (§3.2.1.1 requires the cache to include them).
//!
//! A full slot prefers the recently proven: a newcomer just proven alive takes the slot of an
//! entry not seen for [`STALE`] (which leaves unless it holds another slot or a leaf place).
//! The maintenance round checks the stalest entries ([`RouteCache::stalest`]), so dead ones
//! leave and live ones stay fresh.
//!
//! Layout: this file — [`RouteCache`] (slots, leaf sets, ageing, the choices of entries);
//! `sorted` — the entries themselves, in a vector sorted by ID; `tests`.

use std::collections::HashMap;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;

use self::sorted::Sorted;

mod sorted;

/// Entries in each leaf set half.
pub const LEAF_HALF: usize = 5;
/// Slots in each level.
pub const SLOTS_PER_LEVEL: usize = 20;
/// Deepest level; far below anything a real cloud reaches (10^40 nodes).
const MAX_LEVEL: u8 = 40;
/// Most entries whose endpoints share one IPv6 address (anti-poisoning): one host cannot fill
/// the cache with IDs of its own choosing. An honest host publishes a handful of names (each
/// one ID); past four, its other names stay reachable through the host itself (a LOOKUP it
/// receives is answered from its own registrations) and through the caches of other nodes.
pub const MAX_PER_ADDRESS: usize = 4;
/// An entry not proven alive for this long gives its slot to a fresher candidate, and is due
/// for a liveness check.
pub const STALE: Duration = Duration::from_secs(600);

/// A cached node's endpoints: nearly always one, kept inline (no allocation of its own).
pub type Endpoints = smallvec::SmallVec<[SocketAddrV6; 1]>;

/// A cached node: its PNRP ID and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The entry's PNRP ID.
    pub id: PnrpId,
    /// Its PNRP endpoints (at most 20 on the wire; the first is tried first).
    pub endpoints: Endpoints,
    /// When it last proved alive.
    pub last_seen: Instant,
}

/// Where an entry sits for one anchor (by its index in the anchors: the key stays small, and
/// a change of anchors re-files everything anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Slot {
    anchor: u16,
    level: u8,
    slot: u8,
}

/// The cache.
#[derive(Debug, Default)]
pub struct RouteCache {
    entries: Sorted,
    slots: HashMap<Slot, PnrpId>,
    anchors: Vec<PnrpId>,
}

/// `2^255`, the largest circular distance.
fn half_ring() -> PnrpId {
    let mut bytes = [0; 32];
    bytes[0] = 0x80;
    PnrpId(bytes)
}

/// `id / divisor` for small divisors.
fn divide(id: &PnrpId, divisor: u32) -> PnrpId {
    let mut out = [0u8; 32];
    let mut remainder: u64 = 0;
    for (index, byte) in id.0.iter().enumerate() {
        let value = (remainder << 8) | u64::from(*byte);
        out[index] = (value / u64::from(divisor)) as u8;
        remainder = value % u64::from(divisor);
    }
    PnrpId(out)
}

/// The level and slot of `id` around `anchor`, or `None` for the anchor itself.
fn place(anchor: &PnrpId, id: &PnrpId) -> Option<(u8, u8)> {
    let distance = anchor.distance(id);
    if distance == PnrpId([0; 32]) {
        return None;
    }
    let mut span = half_ring();
    let mut level = 0;
    while level < MAX_LEVEL {
        let next = divide(&span, 10);
        if distance >= next {
            break;
        }
        span = next;
        level += 1;
    }
    // Which tenth of the level's span: distance / (span / 10), at most 9.
    let tenth = divide(&span, 10);
    let mut index = 0u8;
    let mut rest = distance;
    while index < 9 && rest >= tenth {
        rest = rest.wrapping_sub(&tenth);
        index += 1;
    }
    let above = id.wrapping_sub(anchor) == distance;
    Some((level, if above { 10 + index } else { index }))
}

impl RouteCache {
    /// An empty cache around these anchors.
    pub fn new(anchors: Vec<PnrpId>) -> Self {
        RouteCache {
            anchors,
            ..RouteCache::default()
        }
    }

    /// Replaces the anchors (registrations came or went) and re-files every entry.
    pub fn set_anchors(&mut self, anchors: Vec<PnrpId>) {
        let entries = std::mem::take(&mut self.entries).0;
        self.slots.clear();
        self.anchors = anchors;
        for entry in entries {
            self.insert(entry);
        }
    }

    /// The anchors.
    pub fn anchors(&self) -> &[PnrpId] {
        &self.anchors
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An entry by ID.
    pub fn get(&self, id: &PnrpId) -> Option<&CacheEntry> {
        self.entries.get(id)
    }

    /// Every entry, in ID order.
    pub fn entries(&self) -> impl Iterator<Item = &CacheEntry> {
        self.entries.values()
    }

    /// Offers an entry; returns whether the cache keeps it. A known ID is refreshed in place.
    pub fn insert(&mut self, mut entry: CacheEntry) -> bool {
        if self.anchors.contains(&entry.id) || entry.endpoints.is_empty() {
            return false;
        }
        // Each endpoint once, in the given order (a repeated one would be tried again and again).
        let mut seen = Vec::with_capacity(entry.endpoints.len());
        entry.endpoints.retain(|endpoint| {
            let new = !seen.contains(endpoint);
            seen.push(*endpoint);
            new
        });
        // A refresh (same ID, same endpoints) needs no count; a newcomer is counted in one pass.
        let refresh = self
            .entries
            .get(&entry.id)
            .is_some_and(|known| known.endpoints[..] == entry.endpoints[..]);
        if !refresh {
            let mut sharing = vec![0usize; entry.endpoints.len()];
            for other in self.entries.values().filter(|other| other.id != entry.id) {
                for (count, endpoint) in sharing.iter_mut().zip(&entry.endpoints) {
                    if other.endpoints.iter().any(|at| at.ip() == endpoint.ip()) {
                        *count += 1;
                    }
                }
            }
            if sharing.iter().any(|count| *count >= MAX_PER_ADDRESS) {
                return false;
            }
        }
        if let Some(existing) = self.entries.get_mut(&entry.id) {
            *existing = entry;
            return true;
        }
        let id = entry.id;
        let seen = entry.last_seen;
        self.entries.insert(entry);
        self.claim_slots(&id);
        if !self.holds_slot(&id) {
            self.replace_stale(&id, seen);
        }
        if !self.holds_slot(&id) && !self.in_any_leaf_set(&id) {
            self.entries.remove(&id);
            return false;
        }
        self.evict_displaced_leaves();
        true
    }

    /// Forgets an entry (it failed to answer, or was revoked).
    pub fn remove(&mut self, id: &PnrpId) -> Option<CacheEntry> {
        let removed = self.entries.remove(id)?;
        self.slots.retain(|_, holder| holder != id);
        // Freed slots are refilled by entries that were only kept as leaves.
        let leftovers: Vec<PnrpId> = self.entries.keys().copied().collect();
        for other in leftovers {
            self.claim_slots(&other);
        }
        Some(removed)
    }

    /// The slot of `id` around each anchor (none around the anchor itself).
    fn slots_of(&self, id: &PnrpId) -> impl Iterator<Item = Slot> + '_ {
        let id = *id;
        self.anchors
            .iter()
            .enumerate()
            .filter_map(move |(index, anchor)| {
                let (level, slot) = place(anchor, &id)?;
                Some(Slot {
                    anchor: index as u16,
                    level,
                    slot,
                })
            })
    }

    fn claim_slots(&mut self, id: &PnrpId) {
        let slots: Vec<Slot> = self.slots_of(id).collect();
        for slot in slots {
            self.slots.entry(slot).or_insert(*id);
        }
    }

    /// A newcomer seen at `seen` takes every slot it maps to whose holder was last seen more
    /// than [`STALE`] before; a displaced holder left with no slot and no leaf place leaves.
    fn replace_stale(&mut self, id: &PnrpId, seen: Instant) {
        let mut displaced = Vec::new();
        let slots: Vec<Slot> = self.slots_of(id).collect();
        for key in slots {
            let Some(holder) = self.slots.get(&key).copied() else {
                continue;
            };
            let stale = self
                .entries
                .get(&holder)
                .is_some_and(|entry| seen.saturating_duration_since(entry.last_seen) > STALE);
            if stale {
                self.slots.insert(key, *id);
                displaced.push(holder);
            }
        }
        for holder in displaced {
            if !self.holds_slot(&holder) && !self.in_any_leaf_set(&holder) {
                self.entries.remove(&holder);
            }
        }
    }

    /// Whether `id` holds a slot (a scan: a cache holds a few dozen slots).
    fn holds_slot(&self, id: &PnrpId) -> bool {
        self.slots.values().any(|holder| holder == id)
    }

    /// A newcomer in a leaf set pushes the old 5th closest out of it; that one leaves unless it
    /// holds a slot or sits in another leaf set.
    fn evict_displaced_leaves(&mut self) {
        let mut pushed_out = Vec::new();
        for anchor in &self.anchors {
            let above = self.ring_from(anchor, true).nth(LEAF_HALF);
            let below = self.ring_from(anchor, false).nth(LEAF_HALF);
            pushed_out.extend(above.into_iter().chain(below));
        }
        for id in pushed_out {
            if !self.holds_slot(&id) && !self.in_any_leaf_set(&id) {
                self.entries.remove(&id);
            }
        }
    }

    /// Entry IDs going round the ring from `anchor` (excluded), upwards or downwards.
    fn ring_from<'a>(
        &'a self,
        anchor: &PnrpId,
        upwards: bool,
    ) -> Box<dyn Iterator<Item = PnrpId> + 'a> {
        let (below, above) = self.entries.around(anchor);
        if upwards {
            Box::new(above.iter().chain(below).map(|entry| entry.id))
        } else {
            Box::new(
                below
                    .iter()
                    .rev()
                    .chain(above.iter().rev())
                    .map(|entry| entry.id),
            )
        }
    }

    fn in_any_leaf_set(&self, id: &PnrpId) -> bool {
        self.anchors.iter().any(|anchor| {
            self.ring_from(anchor, true)
                .take(LEAF_HALF)
                .any(|near| near == *id)
                || self
                    .ring_from(anchor, false)
                    .take(LEAF_HALF)
                    .any(|near| near == *id)
        })
    }

    /// The leaf set of an anchor: up to 5 closest entries below it and 5 above, closest first,
    /// going round the ring.
    pub fn leaf_set(&self, anchor: &PnrpId) -> (Vec<&CacheEntry>, Vec<&CacheEntry>) {
        let side = |upwards| {
            self.ring_from(anchor, upwards)
                .take(LEAF_HALF)
                .filter_map(|id| self.entries.get(&id))
                .collect::<Vec<_>>()
        };
        (side(false), side(true))
    }

    /// Whether `id` would fall inside an anchor's leaf set (closer than its 5th neighbour on
    /// that side, or the side is not full).
    pub fn would_be_leaf(&self, id: &PnrpId) -> bool {
        self.anchors.iter().any(|anchor| {
            let (below, above) = self.leaf_set(anchor);
            let is_above = id.wrapping_sub(anchor) <= anchor.wrapping_sub(id);
            let side = if is_above { above } else { below };
            side.len() < LEAF_HALF
                || side
                    .last()
                    .is_some_and(|farthest| id.distance(anchor) < farthest.id.distance(anchor))
        })
    }

    /// The middles of the empty slots of levels `0..=deepest`, around every anchor: where a
    /// lookup would find the entries the cache lacks.
    pub fn vacancies(&self, deepest: u8) -> Vec<PnrpId> {
        let mut middles = Vec::new();
        let mut span = half_ring();
        for level in 0..=deepest.min(MAX_LEVEL - 1) {
            let tenth = divide(&span, 10);
            let half_tenth = divide(&tenth, 2);
            for (index, anchor) in self.anchors.iter().enumerate() {
                // A level's entries lie between a tenth of its span and its span: tenths 1 to 9.
                let mut distance = tenth.wrapping_add(&half_tenth);
                for tenths in 1..10u8 {
                    for above in [false, true] {
                        let slot = Slot {
                            anchor: index as u16,
                            level,
                            slot: if above { 10 + tenths } else { tenths },
                        };
                        if !self.slots.contains_key(&slot) {
                            middles.push(if above {
                                anchor.wrapping_add(&distance)
                            } else {
                                anchor.wrapping_sub(&distance)
                            });
                        }
                    }
                    distance = distance.wrapping_add(&tenth);
                }
            }
            span = tenth;
        }
        middles
    }

    /// Whether an entry for `id`, not cached yet and proven alive at `now`, would be kept: it
    /// would join a leaf set, or take a slot that is free or held by a stale entry. Proving an
    /// entry costs an INQUIRE; one the cache would refuse is not worth it.
    pub fn wants(&self, id: &PnrpId, now: Instant) -> bool {
        if self.anchors.contains(id) {
            return false;
        }
        if self.entries.contains_key(id) || self.would_be_leaf(id) {
            return true;
        }
        self.slots_of(id).any(|key| match self.slots.get(&key) {
            None => true,
            Some(holder) => self
                .entries
                .get(holder)
                .is_some_and(|entry| now.saturating_duration_since(entry.last_seen) > STALE),
        })
    }

    /// The entry closest to `target` that passes `allowed`, if any.
    pub fn closest(
        &self,
        target: &PnrpId,
        allowed: impl Fn(&CacheEntry) -> bool,
    ) -> Option<&CacheEntry> {
        self.entries.outward(*target).find(|entry| allowed(entry))
    }

    /// Up to `count` entries spread round the ring (for ADVERTISE): the closest to evenly spaced
    /// points.
    pub fn spread(&self, count: usize) -> Vec<&CacheEntry> {
        let mut chosen: Vec<&CacheEntry> = Vec::new();
        if count == 0 {
            return chosen;
        }
        let step = divide(&PnrpId([0xff; 32]), count as u32);
        let mut point = PnrpId([0; 32]);
        for _ in 0..count {
            if let Some(entry) =
                self.closest(&point, |entry| !chosen.iter().any(|c| c.id == entry.id))
            {
                chosen.push(entry);
            }
            point = point.wrapping_add(&step);
        }
        chosen
    }

    /// Up to `count` entries not seen for [`STALE`] at `now`, the stalest first.
    pub fn stalest(&self, now: Instant, count: usize) -> Vec<&CacheEntry> {
        let mut stale: Vec<&CacheEntry> = self
            .entries
            .values()
            .filter(|entry| now.saturating_duration_since(entry.last_seen) > STALE)
            .collect();
        stale.sort_by_key(|entry| (entry.last_seen, entry.id));
        stale.truncate(count);
        stale
    }

    /// Gives back memory the entries no longer need (after a burst).
    pub fn shrink_to_fit(&mut self) {
        self.entries.0.shrink_to_fit();
        self.slots.shrink_to_fit();
    }

    /// The entries closest to `target` that pass `allowed`, closest first, at most `count`.
    pub fn closest_few(
        &self,
        target: &PnrpId,
        count: usize,
        allowed: impl Fn(&CacheEntry) -> bool,
    ) -> Vec<&CacheEntry> {
        self.entries
            .outward(*target)
            .filter(|entry| allowed(entry))
            .take(count)
            .collect()
    }
}

#[cfg(test)]
mod tests;
