//! Tests of the route cache: slots, leaf sets, ageing, the anti-poisoning limit.

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
    let cached: Vec<PnrpId> = cache.entries().map(|e| e.id).collect();
    // Targets anywhere: near both ends of the ID space (the walk goes round), on a cached ID,
    // and on the antipode of one (the two sides meet there).
    let mut targets = random_ids(50, 6);
    targets.extend([PnrpId([0; 32]), PnrpId([0xff; 32]), cached[0], cached[17]]);
    targets.push(cached[30].wrapping_add(&half_ring()));
    for target in targets {
        let mut all = cached.clone();
        all.sort_by_key(|id| (id.distance(&target), *id));
        let ordered: Vec<PnrpId> = cache.entries.outward(target).map(|e| e.id).collect();
        assert_eq!(ordered, all, "every entry once, nearest first");
        let few: Vec<PnrpId> = cache
            .closest_few(&target, 3, |_| true)
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(few, all[..3].to_vec());
        assert_eq!(few[0], cache.closest(&target, |_| true).unwrap().id);
        // A filter skips entries without changing the order of the rest.
        let odd: Vec<PnrpId> = all.iter().copied().filter(|id| id.0[31] % 2 == 1).collect();
        let few_odd: Vec<PnrpId> = cache
            .closest_few(&target, 4, |e| e.id.0[31] % 2 == 1)
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(few_odd, odd[..4].to_vec());
    }
    assert!(RouteCache::new(vec![anchor])
        .closest(&anchor, |_| true)
        .is_none());
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
