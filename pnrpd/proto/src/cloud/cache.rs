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

use std::collections::HashMap;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;

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

/// The entries, sorted by ID: a cache holds a few dozen, and a vector keeps them in a third of
/// a B-tree's memory (a simulator holds 10^5 caches).
#[derive(Debug, Default)]
struct Sorted(Vec<CacheEntry>);

impl Sorted {
    fn find(&self, id: &PnrpId) -> Result<usize, usize> {
        self.0.binary_search_by(|entry| entry.id.cmp(id))
    }

    fn get(&self, id: &PnrpId) -> Option<&CacheEntry> {
        self.find(id).ok().map(|at| &self.0[at])
    }

    fn get_mut(&mut self, id: &PnrpId) -> Option<&mut CacheEntry> {
        self.find(id).ok().map(|at| &mut self.0[at])
    }

    fn contains_key(&self, id: &PnrpId) -> bool {
        self.find(id).is_ok()
    }

    /// Adds `entry`, or replaces the one with its ID.
    fn insert(&mut self, entry: CacheEntry) {
        match self.find(&entry.id) {
            Ok(at) => self.0[at] = entry,
            Err(at) => {
                // Grown a few at a time: doubling would leave a third of the room unused.
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact(4);
                }
                self.0.insert(at, entry);
            }
        }
    }

    fn remove(&mut self, id: &PnrpId) -> Option<CacheEntry> {
        self.find(id).ok().map(|at| self.0.remove(at))
    }

    fn values(&self) -> std::slice::Iter<'_, CacheEntry> {
        self.0.iter()
    }

    fn keys(&self) -> impl Iterator<Item = &PnrpId> {
        self.0.iter().map(|entry| &entry.id)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries below `anchor` and those above it (`anchor` itself in neither).
    fn around(&self, anchor: &PnrpId) -> (&[CacheEntry], &[CacheEntry]) {
        let below = self.0.partition_point(|entry| entry.id < *anchor);
        let above = self.0.partition_point(|entry| entry.id <= *anchor);
        (&self.0[..below], &self.0[above..])
    }
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
        self.entries
            .values()
            .filter(|entry| allowed(entry))
            .min_by(|a, b| (a.id.distance(target), a.id).cmp(&(b.id.distance(target), b.id)))
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
        let mut best: Vec<&CacheEntry> = Vec::with_capacity(count + 1);
        for entry in self.entries.values().filter(|entry| allowed(entry)) {
            let key = (entry.id.distance(target), entry.id);
            let at = best.partition_point(|kept| (kept.id.distance(target), kept.id) < key);
            if at < count {
                best.insert(at, entry);
                best.truncate(count);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(high: u8, rest: u8) -> PnrpId {
        let mut bytes = [rest; 32];
        bytes[0] = high;
        PnrpId(bytes)
    }

    /// An entry at an address of its own (derived from its ID).
    fn entry(id: PnrpId) -> CacheEntry {
        let mut address = [0u8; 16];
        address[0] = 0xfd;
        address[8..].copy_from_slice(&id.0[..8]);
        CacheEntry {
            id,
            endpoints: smallvec::smallvec![SocketAddrV6::new(address.into(), 3540, 0, 0)],
            last_seen: Instant::now(),
        }
    }

    fn random_ids(count: usize, seed: u64) -> Vec<PnrpId> {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        (0..count)
            .map(|_| {
                let mut bytes = [0; 32];
                rng.fill_bytes(&mut bytes);
                PnrpId(bytes)
            })
            .collect()
    }

    #[test]
    fn levels_are_tenths() {
        let anchor = PnrpId([0; 32]);
        let far = half_ring().wrapping_sub(&PnrpId([0; 32]));
        assert_eq!(place(&anchor, &far).map(|(level, _)| level), Some(0));
        let tenth = divide(&half_ring(), 10);
        let just_inside = tenth.wrapping_sub(&id(0, 0).wrapping_add(&{
            let mut one = [0; 32];
            one[31] = 1;
            PnrpId(one)
        }));
        assert_eq!(
            place(&anchor, &just_inside).map(|(level, _)| level),
            Some(1)
        );
        assert_eq!(place(&anchor, &anchor), None);
        // Below the anchor lands in slots 0..10, above in 10..20.
        let mut small = [0; 32];
        small[31] = 5;
        assert!(place(&anchor, &PnrpId(small)).unwrap().1 >= 10);
        assert!(place(&anchor, &PnrpId([0xff; 32])).unwrap().1 < 10);
    }

    #[test]
    fn keeps_leaf_sets_and_bounded_levels() {
        let anchor = id(0x40, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        let ids = random_ids(5000, 7);
        for candidate in &ids {
            cache.insert(entry(*candidate));
        }
        // Bounded: at most 20 per level plus leaves.
        assert!(cache.len() <= 20 * 12 + 2 * LEAF_HALF, "{}", cache.len());
        assert!(cache.len() > 40, "{}", cache.len());
        // The true 5 closest on each side are all present.
        let mut sorted_above: Vec<PnrpId> = ids.iter().filter(|x| **x > anchor).copied().collect();
        sorted_above.sort();
        for expected in sorted_above.iter().take(LEAF_HALF) {
            assert!(cache.get(expected).is_some(), "missing leaf {expected}");
        }
        let (below, above) = cache.leaf_set(&anchor);
        assert_eq!((below.len(), above.len()), (LEAF_HALF, LEAF_HALF));
        assert_eq!(above[0].id, sorted_above[0]);
    }

    #[test]
    fn closest_respects_filters_and_removal_refills() {
        let anchor = id(0x10, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        for candidate in random_ids(300, 3) {
            cache.insert(entry(candidate));
        }
        let target = id(0x90, 0x11);
        let best = cache.closest(&target, |_| true).unwrap().id;
        let second = cache.closest(&target, |entry| entry.id != best).unwrap().id;
        assert!(best.distance(&target) <= second.distance(&target));
        cache.remove(&best);
        assert_eq!(cache.closest(&target, |_| true).unwrap().id, second);
        assert!(!cache.insert(entry(anchor)), "never caches an anchor");
        assert_eq!(cache.spread(5).len(), 5);
    }

    #[test]
    fn vacancies_are_the_middles_of_empty_slots() {
        let anchor = id(0x10, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        // Levels 0 and 1: 9 tenths on each side each.
        let empty = cache.vacancies(1);
        assert_eq!(empty.len(), 2 * 9 * 2);
        for middle in &empty {
            let (level, _) = place(&anchor, middle).unwrap();
            assert!(level <= 1, "{middle} falls in level {level}");
        }
        // Filling one slot takes exactly its middle off the list.
        assert!(cache.insert(entry(empty[5])));
        let left = cache.vacancies(1);
        assert_eq!(left.len(), empty.len() - 1);
        assert!(!left.contains(&empty[5]));
        assert!(cache.wants(&empty[6], Instant::now()));
    }

    #[test]
    fn a_fresh_entry_takes_the_slot_of_a_stale_one() {
        let anchor = id(0x00, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        let start = Instant::now();
        // Fill the leaf sets with close entries, so that the far ones compete for slots only.
        for n in 1..=6 {
            cache.insert(entry(id(0x00, n)));
            cache.insert(entry(id(0xff, 0xf0 + n)));
        }
        let mut old = entry(id(0x70, 1));
        old.last_seen = start;
        assert!(cache.insert(old));
        // Same level, same slot (the same tenth of the ring).
        let mut rival = entry(id(0x70, 2));
        rival.last_seen = start + Duration::from_secs(60);
        assert!(
            !cache.wants(&rival.id, rival.last_seen),
            "not worth an INQUIRE while the holder is fresh"
        );
        assert!(cache.wants(&id(0x30, 1), start), "a free slot is");
        assert!(cache.wants(&id(0x00, 7), start), "a leaf is");
        assert!(
            cache.wants(&rival.id, start + STALE + Duration::from_secs(1)),
            "a stale holder's slot is"
        );
        assert!(
            !cache.insert(rival.clone()),
            "the holder is fresh: the rival is refused"
        );
        rival.last_seen = start + STALE + Duration::from_secs(1);
        assert!(
            cache.insert(rival),
            "the holder is stale: the rival takes its slot"
        );
        assert!(
            cache.get(&id(0x70, 1)).is_none(),
            "and the stale holder leaves"
        );
        assert_eq!(
            cache
                .stalest(start + STALE * 2, 3)
                .iter()
                .map(|entry| entry.id)
                .collect::<Vec<_>>()
                .len(),
            3
        );
    }

    #[test]
    fn closest_few_are_the_closest_in_order() {
        let anchor = id(0x10, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        for candidate in random_ids(300, 5) {
            cache.insert(entry(candidate));
        }
        let target = id(0x90, 0x11);
        let few: Vec<PnrpId> = cache
            .closest_few(&target, 3, |_| true)
            .iter()
            .map(|e| e.id)
            .collect();
        let mut all: Vec<PnrpId> = cache.entries().map(|e| e.id).collect();
        all.sort_by_key(|id| (id.distance(&target), *id));
        assert_eq!(few, all[..3].to_vec());
        assert_eq!(few[0], cache.closest(&target, |_| true).unwrap().id);
    }

    #[test]
    fn one_address_holds_at_most_a_few_entries() {
        let anchor = id(0x40, 0);
        let mut cache = RouteCache::new(vec![anchor]);
        let poisoner: SocketAddrV6 = "[fd00::66]:3540".parse().unwrap();
        // IDs all around the anchor's leaf set: each would be kept but for the cap.
        let ids: Vec<PnrpId> = (1..=10).map(|n| id(0x40, n)).collect();
        let admitted = ids
            .iter()
            .filter(|candidate| {
                cache.insert(CacheEntry {
                    id: **candidate,
                    endpoints: smallvec::smallvec![poisoner],
                    last_seen: Instant::now(),
                })
            })
            .count();
        assert_eq!(admitted, MAX_PER_ADDRESS);
        assert_eq!(cache.len(), MAX_PER_ADDRESS);
        // Another port at the same address is the same host.
        let other_port = SocketAddrV6::new(*poisoner.ip(), 4000, 0, 0);
        assert!(!cache.insert(CacheEntry {
            id: id(0x41, 1),
            endpoints: smallvec::smallvec![other_port],
            last_seen: Instant::now(),
        }));
        // An entry listing the address among others is refused too.
        assert!(!cache.insert(CacheEntry {
            id: id(0x41, 2),
            endpoints: smallvec::smallvec!["[fd00::7]:3540".parse().unwrap(), poisoner],
            last_seen: Instant::now(),
        }));
        // A known entry is still refreshed, and other addresses are welcome.
        assert!(cache.insert(CacheEntry {
            id: ids[0],
            endpoints: smallvec::smallvec![poisoner],
            last_seen: Instant::now(),
        }));
        assert!(cache.insert(entry(id(0x42, 3))));
    }
}
