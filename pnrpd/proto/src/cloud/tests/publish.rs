//! Publishing (`publish`): a registration is announced towards its ID carrying our route entry;
//! registering again updates it in place; unregistering withdraws it here and at the neighbours.

use std::time::Duration;

use super::{at, drain, encode, publication, single_buffer, Lan};
use crate::wire::{Inquire, Message, ResolveReason};

#[test]
fn a_registration_is_announced_with_our_route_entry() {
    let mut lan = Lan::new(3);
    lan.register(0, "zero");
    lan.register(1, "one");
    let mark = lan.sent.len();
    let two = lan.register(2, "two");
    let announced = lan.sent_since(mark, |sent| match &sent.packet.message {
        Message::Lookup(lookup) if sent.from == at(2) => Some(lookup.clone()),
        _ => None,
    });
    let lookup = announced.first().expect("a LOOKUP");
    assert!(matches!(lookup.reason, ResolveReason::Registration));
    assert_eq!(lookup.target, two.wrapping_add(&super::super::one()));
    assert_eq!(
        lookup.route_entry.as_ref().map(|entry| entry.pnrp_id),
        Some(two)
    );
    lan.run_for(Duration::from_secs(2));
    assert!(lan.caches(0, &two) && lan.caches(1, &two));
}

#[test]
fn registering_again_updates_in_place() {
    let mut lan = Lan::new(2);
    let first = lan.register(0, "zero");
    lan.register(1, "one");
    let mut changed = publication("zero", 0);
    changed.comment = Some("moved".into());
    let now = lan.now;
    let again = lan.nodes[0].register(now, changed).unwrap();
    assert_eq!(again, first, "same name, same prefix: the same ID");
    assert_eq!(lan.nodes[0].published().len(), 1);
    // The CPA it serves carries the new comment.
    lan.nodes[0].guard.prove(now, at(5).ip());
    let inquire = Message::Inquire(Inquire {
        want_cpa: true,
        want_extended_payload: false,
        want_cert_chain: false,
        validate_id: first,
        nonce: Some([1; 16]),
    });
    lan.nodes[0].handle_datagram(now, at(5), &encode(4, inquire));
    let (_, buffer) = drain(&mut lan.nodes[0])
        .iter()
        .find_map(|(_, message)| single_buffer(message))
        .unwrap();
    let cpa = buffer.cpa.unwrap();
    assert_eq!(
        cpa.fields()
            .friendly_name
            .as_ref()
            .map(|name| name.as_str()),
        Some("moved")
    );
}

#[test]
fn unregistering_withdraws_here_and_at_the_neighbours() {
    let mut lan = Lan::new(2);
    let zero = lan.register(0, "zero");
    lan.register(1, "one");
    lan.run_for(Duration::from_secs(2));
    assert!(lan.caches(1, &zero));
    let now = lan.now;
    lan.nodes[0].unregister(now, &"0.zero".parse().unwrap());
    lan.deliver();
    assert!(lan.nodes[0].published().is_empty());
    assert!(!lan.caches(1, &zero), "the revoke reached the neighbour");
    assert!(lan.resolve(1, "zero").is_empty());
}
