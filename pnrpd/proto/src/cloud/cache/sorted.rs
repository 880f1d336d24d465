//! The cache's entries in a vector sorted by ID (see [`Sorted`]).

use pnrp_shared::PnrpId;

use super::CacheEntry;

/// The entries, sorted by ID: a cache holds a few dozen, and a vector keeps them in a third of
/// a B-tree's memory (a simulator holds 10^5 caches).
#[derive(Debug, Default)]
pub(super) struct Sorted(pub(super) Vec<CacheEntry>);

impl Sorted {
    pub(super) fn find(&self, id: &PnrpId) -> Result<usize, usize> {
        self.0.binary_search_by(|entry| entry.id.cmp(id))
    }

    pub(super) fn get(&self, id: &PnrpId) -> Option<&CacheEntry> {
        self.find(id).ok().map(|at| &self.0[at])
    }

    pub(super) fn get_mut(&mut self, id: &PnrpId) -> Option<&mut CacheEntry> {
        self.find(id).ok().map(|at| &mut self.0[at])
    }

    pub(super) fn contains_key(&self, id: &PnrpId) -> bool {
        self.find(id).is_ok()
    }

    /// Adds `entry`, or replaces the one with its ID.
    pub(super) fn insert(&mut self, entry: CacheEntry) {
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

    pub(super) fn remove(&mut self, id: &PnrpId) -> Option<CacheEntry> {
        self.find(id).ok().map(|at| self.0.remove(at))
    }

    pub(super) fn values(&self) -> std::slice::Iter<'_, CacheEntry> {
        self.0.iter()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &PnrpId> {
        self.0.iter().map(|entry| &entry.id)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every entry, nearest to `target` first (circular distance; a tie goes to the lower ID):
    /// a walk outward from where `target` would sit, one step down or up at a time, so that
    /// the nearest few cost a few steps, not a pass over the cache. Going round the ring from
    /// either side, distances rise to the antipode and fall after it, so taking the nearer of
    /// the two ends each time yields them in order.
    pub(super) fn outward(&self, target: PnrpId) -> impl Iterator<Item = &CacheEntry> {
        let entries = &self.0;
        let count = entries.len();
        let start = entries.partition_point(|entry| entry.id < target);
        // The next entry below (counting down from `start - 1`) and above (up from `start`),
        // both going round; `left` entries are not yet yielded.
        let (mut down, mut up, mut left) = (start + count, start, count);
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let below = &entries[(down - 1) % count];
            let above = &entries[up % count];
            let key = |entry: &CacheEntry| (entry.id.distance(&target), entry.id);
            if key(below) < key(above) {
                down -= 1;
                Some(below)
            } else {
                up += 1;
                Some(above)
            }
        })
    }

    /// The entries below `anchor` and those above it (`anchor` itself in neither).
    pub(super) fn around(&self, anchor: &PnrpId) -> (&[CacheEntry], &[CacheEntry]) {
        let below = self.0.partition_point(|entry| entry.id < *anchor);
        let above = self.0.partition_point(|entry| entry.id <= *anchor);
        (&self.0[..below], &self.0[above..])
    }
}
