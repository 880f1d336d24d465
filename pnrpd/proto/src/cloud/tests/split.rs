//! Splits (`split`): halves that lost each other merge once the link returns, and so do islands
//! that bootstrapped apart; a multi-homed node is reached at its other address; a lone node asks
//! its seeds a few at a time.

use std::collections::HashSet;
use std::net::SocketAddrV6;
use std::time::{Duration, Instant};

use pnrp_shared::PnrpId;

use super::{at, config, drain, Lan};
use crate::cloud::Cloud;
use crate::wire::{Message, ResolveReason};

/// Whether every node of `from` resolves the names of every node of `to`.
fn resolves_across(lan: &mut Lan, from: &[usize], to: &[usize]) -> Vec<(usize, usize)> {
    let mut failed = Vec::new();
    for a in from {
        for b in to {
            if lan.resolve(*a, &format!("n{b}")).is_empty() {
                failed.push((*a, *b));
            }
        }
    }
    failed
}

/// How many of `ids` node `index` caches.
fn cached(lan: &Lan, index: usize, ids: &[PnrpId]) -> usize {
    ids.iter().filter(|id| lan.caches(index, id)).count()
}

#[test]
fn halves_that_lost_each_other_merge_when_the_link_returns() {
    split_and_heal(true);
}

#[test]
fn halves_with_no_seed_across_merge_through_the_nodes_they_lost() {
    split_and_heal(false);
}

/// Ten nodes joined through node 0, cut in two halves long enough to forget each other, then
/// healed: every name resolves across within three minutes. Without `seeds`, no node has a seed
/// (the halves find each other through the nodes they lost).
fn split_and_heal(seeds: bool) {
    let mut lan = Lan::new(10);
    let ids: Vec<PnrpId> = (0..10)
        .map(|index| lan.register(index, &format!("n{index}")))
        .collect();
    lan.run_for(Duration::from_secs(70));
    if !seeds {
        for node in &mut lan.nodes {
            node.set_seeds(lan.now, Vec::new());
        }
    }
    let (left, right): (Vec<usize>, Vec<usize>) = ((0..5).collect(), (5..10).collect());
    lan.cut = Some(left.iter().copied().collect::<HashSet<_>>());
    // Long enough for each half to drop the other (liveness checks, stale entries).
    lan.run_for(Duration::from_secs(25 * 60));
    for index in 0..10 {
        let far = if index < 5 { &ids[5..] } else { &ids[..5] };
        assert_eq!(
            cached(&lan, index, far),
            0,
            "node {index} still caches the other half"
        );
    }
    let mark = lan.sent.len();
    lan.cut = None;
    lan.run_for(Duration::from_secs(3 * 60));
    let tests = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Lookup(lookup) if matches!(lookup.reason, ResolveReason::SplitDetection) => {
            Some(sent.from)
        }
        _ => None,
    });
    assert!(!tests.is_empty(), "no split test ran");
    let failed = resolves_across(&mut lan, &left, &right);
    assert!(failed.is_empty(), "left cannot resolve right: {failed:?}");
    let failed = resolves_across(&mut lan, &right, &left);
    assert!(failed.is_empty(), "right cannot resolve left: {failed:?}");
}

#[test]
fn islands_bootstrapped_apart_merge_through_a_seed() {
    let mut lan = Lan::new(0);
    // Two islands: 0–2 around node 0, 3–5 around node 3, whose seed (node 0) it could not reach
    // when it started.
    lan.cut = Some([0, 1, 2].into_iter().collect());
    for index in 0..6 {
        let seeds = match index {
            0 => vec![],
            1..=3 => vec![at(0)],
            _ => vec![at(3)],
        };
        lan.add(index, seeds);
        lan.register(index, &format!("n{index}"));
    }
    lan.run_for(Duration::from_secs(60));
    assert_eq!(
        (0..3)
            .map(|index| lan.nodes[index].cache().len())
            .sum::<usize>()
            + (3..6)
                .map(|index| lan.nodes[index].cache().len())
                .sum::<usize>(),
        12,
        "two islands of three"
    );
    lan.cut = None;
    lan.run_for(Duration::from_secs(2 * 60));
    let failed = resolves_across(&mut lan, &[0, 1, 2], &[3, 4, 5]);
    assert!(failed.is_empty(), "{failed:?}");
    let failed = resolves_across(&mut lan, &[3, 4, 5], &[0, 1, 2]);
    assert!(failed.is_empty(), "{failed:?}");
}

#[test]
fn a_multi_homed_node_is_reached_at_its_other_address() {
    let mut lan = Lan::new(3);
    lan.register(0, "n0");
    lan.register(1, "n1");
    let second: SocketAddrV6 = "[fd00::102]:3540".parse().unwrap();
    lan.move_to(2, vec![at(2), second]);
    // The address the others try first (the lower one: no RFC 6724 rule separates them) is
    // dead; the second works.
    lan.blocked.insert(at(2));
    let two = lan.register(2, "n2");
    lan.run_for(Duration::from_secs(10));
    assert!(
        lan.caches(0, &two) || lan.caches(1, &two),
        "admitted at its second address"
    );
    let found = lan.resolve(0, "n2");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].publisher, second);
}

#[test]
fn a_lone_node_asks_a_few_seeds_at_a_time_then_the_next() {
    let now = Instant::now();
    let seeds: Vec<SocketAddrV6> = (10..16).map(at).collect();
    let mut cloud = Cloud::new(config(1, seeds.clone(), now), now);
    cloud.set_local_endpoints(now, vec![at(1)]);
    let solicited = |messages: Vec<(SocketAddrV6, Message)>| -> Vec<SocketAddrV6> {
        messages
            .into_iter()
            .filter(|(_, message)| matches!(message, Message::Solicit(_)))
            .map(|(to, _)| to)
            .collect()
    };
    assert_eq!(solicited(drain(&mut cloud)), seeds[..3]);
    // Each SOLICIT is sent twice, a second apart; silent, the next seed is asked.
    let mut later = Vec::new();
    for second in 1..=3 {
        cloud.handle_timeout(now + Duration::from_secs(second));
        later.extend(solicited(drain(&mut cloud)));
    }
    let mut asked: Vec<SocketAddrV6> = later.clone();
    asked.sort();
    asked.dedup();
    assert_eq!(
        asked, seeds,
        "the first three again, then the other three: {later:?}"
    );
    // Every seed asked once this round: no more until the next round.
    cloud.handle_timeout(now + Duration::from_secs(5));
    assert!(solicited(drain(&mut cloud)).is_empty());
}

#[test]
fn seeds_that_arrive_while_alone_are_asked_at_once() {
    let now = Instant::now();
    let mut cloud = Cloud::new(config(1, Vec::new(), now), now);
    cloud.set_local_endpoints(now, vec![at(1)]);
    assert!(drain(&mut cloud).is_empty());
    cloud.set_seeds(now, vec![at(7)]);
    let sent = drain(&mut cloud);
    assert!(
        matches!(sent.as_slice(), [(to, Message::Solicit(_))] if *to == at(7)),
        "{sent:?}"
    );
}
