//! Maintenance (`maintenance`): neighbours that stop answering leave the cache; once a minute
//! every registration is announced again and the widest gap of the cache is looked up.

use std::time::Duration;

use super::{at, side, Lan};
use crate::cloud::MAINTENANCE;
use crate::wire::{Message, ResolveReason};

#[test]
fn a_neighbour_that_stops_answering_leaves_the_cache() {
    let mut lan = Lan::new(2);
    let zero = lan.register(0, "zero");
    lan.register(1, "one");
    lan.run_for(Duration::from_secs(2));
    assert!(lan.caches(1, &zero));
    lan.down.insert(0);
    let mark = lan.sent.len();
    // A round to ask, two sends a second apart, then it gives up.
    lan.run_for(MAINTENANCE + Duration::from_secs(4));
    let checks = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Inquire(inquire)
            if sent.from.ip() == at(1).ip() && sent.to == at(0) && inquire.validate_id == zero =>
        {
            Some((inquire.want_cpa, sent.from))
        }
        _ => None,
    });
    assert!(!checks.is_empty(), "node 1 checked its neighbour");
    assert!(
        checks.iter().all(|(want_cpa, _)| !want_cpa),
        "a liveness check asks no CPA"
    );
    assert!(
        checks.iter().all(|(_, from)| *from == side(1)),
        "and comes from the side port: {checks:?}"
    );
    assert!(!lan.caches(1, &zero), "silence removed it");
}

#[test]
fn an_answering_neighbour_stays() {
    let mut lan = Lan::new(2);
    let zero = lan.register(0, "zero");
    lan.register(1, "one");
    lan.run_for(MAINTENANCE * 3);
    assert!(lan.caches(1, &zero));
}

#[test]
fn once_a_minute_registrations_are_announced_again_and_the_cache_balanced() {
    let mut lan = Lan::new(3);
    for (index, name) in ["zero", "one", "two"].into_iter().enumerate() {
        lan.register(index, name);
    }
    lan.run_for(Duration::from_secs(5));
    let mark = lan.sent.len();
    lan.run_for(Duration::from_secs(120));
    let reasons = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Lookup(lookup)
            if sent.from == at(2)
                && lookup.route_entry.is_some()
                    == matches!(lookup.reason, ResolveReason::Registration) =>
        {
            Some(lookup.reason)
        }
        _ => None,
    });
    let announcing = reasons
        .iter()
        .filter(|reason| matches!(reason, ResolveReason::Registration))
        .count();
    let balancing = reasons
        .iter()
        .filter(|reason| matches!(reason, ResolveReason::CacheMaintenance))
        .count();
    // Two minutes: two rounds of each (a lookup may take more than one LOOKUP).
    assert!(announcing >= 2, "{reasons:?}");
    assert!(balancing >= 2, "{reasons:?}");
    assert!(balancing <= 2 * 4 * 2, "balancing stays rare: {reasons:?}");
}

#[test]
fn the_cloud_size_is_estimated_from_the_nearest_neighbours() {
    let mut lan = Lan::new(1);
    lan.register(0, "n0");
    assert_eq!(lan.nodes[0].estimated_size(), None, "alone: no neighbour");
    let mut lan = Lan::new(24);
    for index in 0..24 {
        lan.register(index, &format!("n{index}"));
    }
    lan.run_for(Duration::from_secs(70));
    let estimates: Vec<u64> = lan
        .nodes
        .iter()
        .map(|node| node.estimated_size().expect("neighbours on both sides"))
        .collect();
    // Each estimate comes from one leaf set of ten gaps: their mean is close to the truth.
    let mean = estimates.iter().sum::<u64>() as f64 / estimates.len() as f64;
    assert!((17.0..=33.0).contains(&mean), "{mean}: {estimates:?}");
}
