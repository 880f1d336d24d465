//! Departures (`publish`, `admission`): a node that leaves revokes its registrations, the revoke
//! travels along the leaf sets, and the neighbours around the gap are told of each other; a node
//! whose address changes is found at the new one at once.

use std::net::SocketAddrV6;
use std::time::Duration;

use pnrp_shared::PnrpId;

use super::{at, Lan};
use crate::wire::Message;

/// `count` nodes, each publishing `0.n<index>`, settled for a minute (one re-announce round).
fn settled(count: usize) -> (Lan, Vec<PnrpId>) {
    let mut lan = Lan::new(count);
    let ids = (0..count)
        .map(|index| lan.register(index, &format!("n{index}")))
        .collect();
    lan.run_for(Duration::from_secs(70));
    (lan, ids)
}

#[test]
fn a_node_that_leaves_is_forgotten_at_once_along_the_leaf_sets() {
    let (mut lan, ids) = settled(14);
    let leaving = 5;
    let others: Vec<usize> = (0..14).filter(|index| *index != leaving).collect();
    let holders: Vec<usize> = others
        .iter()
        .copied()
        .filter(|index| {
            let (below, above) = lan.nodes[*index].cache().leaf_set(&ids[*index]);
            below
                .iter()
                .chain(&above)
                .any(|entry| entry.id == ids[leaving])
        })
        .collect();
    assert!(holders.len() >= 8, "{holders:?}");
    let mark = lan.sent.len();
    let now = lan.now;
    lan.nodes[leaving].leave(now);
    lan.deliver();
    assert!(lan.nodes[leaving].is_settled(), "every revoke acknowledged");
    for index in &holders {
        assert!(
            !lan.caches(*index, &ids[leaving]),
            "node {index} still caches the node that left"
        );
    }
    // The revoke went on beyond the two nearest neighbours the leaver told (§4.3)…
    let forwarders = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Flood(flood) if flood.revoke_cpa.is_some() && sent.from != at(leaving) => {
            Some(sent.from)
        }
        _ => None,
    });
    assert!(!forwarders.is_empty(), "nobody forwarded the revoke");
    // …and the far end of each side was told of the nearest node on the other side.
    let repairs = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Flood(flood) if sent.from == at(leaving) && flood.route_entry.is_some() => {
            Some(flood.route_entry.as_ref().unwrap().pnrp_id)
        }
        _ => None,
    });
    assert_eq!(repairs.len(), 2, "{repairs:?}");
    // Nobody finds it, without waiting for a liveness check.
    lan.down.insert(leaving);
    for index in [0, 13] {
        assert!(lan.resolve(index, "n5").is_empty());
    }
}

#[test]
fn a_new_prefix_is_announced_at_once_and_the_old_id_revoked() {
    let (mut lan, ids) = settled(6);
    let moved: SocketAddrV6 = "[fd00:0:0:1::4]:3540".parse().unwrap();
    lan.move_to(3, vec![moved]);
    lan.run_for(Duration::from_secs(1));
    let new = lan.nodes[3].published()[0].0;
    assert_ne!(new, ids[3], "a new prefix makes a new ID (§3.2.2.1)");
    for index in [0, 1, 2, 4, 5] {
        assert!(!lan.caches(index, &ids[3]), "node {index} kept the old ID");
    }
    assert!(
        (0..6).filter(|index| lan.caches(*index, &new)).count() >= 2,
        "the new ID reached its neighbours within a second"
    );
    let found = lan.resolve(0, "n3");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].id, found[0].publisher), (new, moved));
}

#[test]
fn an_address_change_within_the_prefix_reaches_the_leaf_set_at_once() {
    let (mut lan, ids) = settled(6);
    let moved: SocketAddrV6 = "[fd00::44]:3540".parse().unwrap();
    lan.move_to(3, vec![moved]);
    lan.run_for(Duration::from_secs(1));
    assert_eq!(
        lan.nodes[3].published()[0].0,
        ids[3],
        "same prefix, same ID"
    );
    for index in [0, 1, 2, 4, 5] {
        let entry = lan.nodes[index].cache().get(&ids[3]);
        assert_eq!(
            entry.map(|entry| entry.endpoints.to_vec()),
            Some(vec![moved]),
            "node {index}"
        );
    }
}
