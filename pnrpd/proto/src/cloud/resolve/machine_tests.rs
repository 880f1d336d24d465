//! The resolve state machine on its own: each test scripts what the network answers and checks
//! what the machine asks next.

use std::net::{Ipv6Addr, SocketAddrV6};

use pnrp_shared::PnrpId;

use super::*;
use crate::wire::{BoundedVec, ResolveCriteria, RouteEntry};

/// The ID looked for: P2P ID `0x80…`, service location `0x80…` too.
fn target() -> PnrpId {
    PnrpId([0x80; 32])
}

/// An ID `distance` (in units of 2^192) above the target; `same_name` keeps the target's P2P ID
/// (a match under AnyPeerName) and varies only the service location.
fn id_at(distance: u8, same_name: bool) -> PnrpId {
    let mut bytes = target().0;
    if same_name {
        bytes[16] = bytes[16].wrapping_add(distance);
    } else {
        bytes[0] = bytes[0].wrapping_add(distance);
    }
    PnrpId(bytes)
}

fn address(last: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last), 3540, 0, 0)
}

fn entry(id: PnrpId, last: u16) -> RouteEntry {
    RouteEntry {
        pnrp_id: id,
        port: 3540,
        addresses: BoundedVec::truncating(vec![*address(last).ip()]).unwrap(),
    }
}

fn found(entry: &RouteEntry) -> Found {
    Found {
        id: entry.pnrp_id,
        publisher: SocketAddrV6::new(entry.addresses[0], entry.port, 0, 0),
        app_endpoints: Vec::new(),
        comment: None,
        payload: None,
    }
}

/// A cache holding these entries.
struct Cache(Vec<RouteEntry>);

impl Routes for Cache {
    fn closest(
        &self,
        target: &PnrpId,
        excluded: &dyn Fn(&SocketAddrV6) -> bool,
    ) -> Option<RouteEntry> {
        self.0
            .iter()
            .filter(|entry| {
                !entry
                    .addresses
                    .iter()
                    .any(|ip| excluded(&SocketAddrV6::new(*ip, entry.port, 0, 0)))
            })
            .min_by_key(|entry| entry.pnrp_id.distance(target))
            .cloned()
    }

    fn same_name(&self, id: &PnrpId) -> Vec<RouteEntry> {
        self.0
            .iter()
            .filter(|entry| entry.pnrp_id.0[..16] == id.0[..16])
            .cloned()
            .collect()
    }
}

const EMPTY: Cache = Cache(Vec::new());

fn resolve(first: &RouteEntry) -> Resolve {
    Resolve::new(
        Goal::App(1),
        target(),
        ResolveCriteria::AnyPeerName,
        0,
        Some(Endpoint {
            port: 3540,
            address: *address(1).ip(),
        }),
        Some(first.clone()),
        None,
        [7; 16],
    )
}

fn answer(from: &RouteEntry, offered: Option<&RouteEntry>) -> Input {
    Input::Answer {
        from: SocketAddrV6::new(from.addresses[0], from.port, 0, 0),
        route_entry: offered.cloned(),
        not_found: false,
        leaf_set: false,
        small_cache: false,
    }
}

/// A valid answer to our INQUIRE of `publisher`.
fn inquired(publisher: &RouteEntry) -> Input {
    Input::Inquired {
        from: found(publisher).publisher,
        valid: Some((publisher.clone(), found(publisher))),
    }
}

/// An answer from `address(last)` whose CPA did not validate.
fn bad_answer(last: u16) -> Input {
    Input::Inquired {
        from: address(last),
        valid: None,
    }
}

fn lookup_to(actions: &[Action]) -> Option<PnrpId> {
    actions.iter().find_map(|action| match action {
        Action::Lookup { validate, .. } => Some(*validate),
        _ => None,
    })
}

fn inquire_of(actions: &[Action]) -> Option<PnrpId> {
    actions.iter().find_map(|action| match action {
        Action::Inquire { id, .. } => Some(*id),
        _ => None,
    })
}

#[test]
fn hops_get_closer_then_the_match_is_inquired_and_its_neighbours_walked() {
    let far = entry(id_at(100, false), 10);
    let near = entry(id_at(3, false), 11);
    let publisher = entry(id_at(1, true), 12);
    let mut machine = resolve(&far);
    assert_eq!(lookup_to(&machine.start()), Some(far.pnrp_id));

    let actions = machine.step(answer(&far, Some(&near)), &EMPTY);
    assert_eq!(
        actions[0],
        Action::Reached(far.clone(), address(10)),
        "{actions:?}"
    );
    assert_eq!(lookup_to(&actions), Some(near.pnrp_id));

    // The next answer offers a match: it is inquired at once, and asked in the same breath (the
    // walk first) for the closest registration not found yet, with us and itself flagged.
    let actions = machine.step(answer(&near, Some(&publisher)), &EMPTY);
    assert_eq!(inquire_of(&actions), Some(publisher.pnrp_id), "{actions:?}");
    assert!(matches!(actions.last(), Some(Action::Inquire { .. })));
    let walks: Vec<&Action> = actions
        .iter()
        .filter(|action| matches!(action, Action::Walk { publisher: id, .. } if *id == publisher.pnrp_id))
        .collect();
    assert_eq!(walks.len(), 1, "{actions:?}");
    let Action::Walk { to, flagged, .. } = walks[0] else {
        unreachable!()
    };
    assert_eq!(*to, address(12));
    let flagged: Vec<Ipv6Addr> = flagged.iter().map(|endpoint| endpoint.address).collect();
    assert_eq!(flagged, vec![*address(1).ip(), *address(12).ip()]);
    // Valid: no second walk from it; the resolve waits for the walk's answer.
    let actions = machine.step(inquired(&publisher), &EMPTY);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(
        machine.step(Input::Neighbour(None), &EMPTY),
        vec![Action::Finish]
    );
    let outcome = machine.finish();
    assert_eq!(outcome.found, vec![found(&publisher)]);
    assert_eq!(outcome.hops.len(), 3, "two LOOKUPs and an INQUIRE");
    assert!(outcome.reached);
}

#[test]
fn a_bad_cpa_falls_back_to_the_previous_best_match() {
    // The hop is itself a registration of the name and offers a closer one.
    let first = entry(id_at(9, true), 10);
    let closer_match = entry(id_at(2, true), 11);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(answer(&first, Some(&closer_match)), &EMPTY);
    assert_eq!(
        inquire_of(&actions),
        Some(closer_match.pnrp_id),
        "the best match first"
    );
    // Its CPA is bad (an impostor, a replay): the previous best, the hop itself, is inquired.
    let actions = machine.step(bad_answer(11), &EMPTY);
    assert_eq!(inquire_of(&actions), Some(first.pnrp_id), "{actions:?}");
    // Bad too: nothing is left to inquire; once the walks sent with the INQUIREs come back empty,
    // the closer match is still a hop to ask.
    assert!(machine.step(bad_answer(10), &EMPTY).is_empty());
    assert!(machine.step(Input::Neighbour(None), &EMPTY).is_empty());
    let actions = machine.step(Input::Neighbour(None), &EMPTY);
    assert_eq!(
        lookup_to(&actions),
        Some(closer_match.pnrp_id),
        "{actions:?}"
    );
}

#[test]
fn a_silent_hop_is_flagged_and_the_resolve_restarts_from_the_cache() {
    let dead = entry(id_at(5, false), 10);
    let alive = entry(id_at(50, false), 11);
    // The cache still offers the dead node first, unless it is excluded as flagged.
    let cache = Cache(vec![dead.clone(), alive.clone()]);
    let mut machine = resolve(&dead);
    machine.start();
    let actions = machine.step(Input::Silent { to: address(10) }, &cache);
    assert_eq!(actions.first(), Some(&Action::Unreachable(address(10))));
    let Some(Action::Lookup {
        validate, flagged, ..
    }) = actions.get(1)
    else {
        panic!("{actions:?}");
    };
    assert_eq!(*validate, alive.pnrp_id, "the dead node is not tried again");
    assert!(
        flagged
            .iter()
            .any(|endpoint| endpoint.address == *address(10).ip()),
        "the dead node is in the flagged path: {flagged:?}"
    );
    // With nothing else cached, the resolve ends.
    let actions = machine.step(Input::Silent { to: address(11) }, &cache);
    assert_eq!(
        actions,
        vec![Action::Unreachable(address(11)), Action::Finish]
    );
    assert!(machine.finish().found.is_empty());
}

#[test]
fn a_silent_best_match_gives_way_to_the_one_before() {
    let first = entry(id_at(9, true), 10);
    let closer_match = entry(id_at(2, true), 11);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(answer(&first, Some(&closer_match)), &EMPTY);
    assert_eq!(inquire_of(&actions), Some(closer_match.pnrp_id));
    let actions = machine.step(Input::Silent { to: address(11) }, &EMPTY);
    assert_eq!(inquire_of(&actions), Some(first.pnrp_id), "{actions:?}");
}

#[test]
fn routes_that_loop_back_are_not_followed() {
    let first = entry(id_at(100, false), 10);
    let second = entry(id_at(60, false), 11);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(answer(&first, Some(&second)), &EMPTY);
    assert_eq!(lookup_to(&actions), Some(second.pnrp_id));
    // `second` offers an entry at `first`'s address (a route back): it is not followed, and
    // with nothing else to ask `second` is asked again.
    let back = entry(id_at(20, false), 10);
    let actions = machine.step(answer(&second, Some(&back)), &EMPTY);
    assert_eq!(lookup_to(&actions), Some(second.pnrp_id), "{actions:?}");
}

#[test]
fn a_hop_is_asked_at_most_three_times() {
    let first = entry(id_at(100, false), 10);
    let mut machine = resolve(&first);
    let mut to_first = usize::from(lookup_to(&machine.start()) == Some(first.pnrp_id));
    // Each time, `first` offers a closer node that turns out to know nothing: the resolve
    // backtracks to `first`, until it has asked it three times.
    for (round, distance) in [90u8, 80, 70].into_iter().enumerate() {
        let offered = entry(id_at(distance, false), 20 + round as u16);
        let actions = machine.step(answer(&first, Some(&offered)), &EMPTY);
        assert_eq!(lookup_to(&actions), Some(offered.pnrp_id), "{actions:?}");
        let actions = machine.step(answer(&offered, None), &EMPTY);
        match lookup_to(&actions) {
            Some(id) => {
                assert_eq!(id, first.pnrp_id);
                to_first += 1;
            }
            None => assert_eq!(actions.last(), Some(&Action::Finish), "{actions:?}"),
        }
    }
    assert_eq!(to_first, 3);
}

#[test]
fn a_small_cache_follows_entries_that_are_not_closer() {
    let first = entry(id_at(100, false), 10);
    let farther = entry(id_at(110, false), 11);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(
        Input::Answer {
            from: address(10),
            route_entry: Some(farther.clone()),
            not_found: false,
            leaf_set: false,
            small_cache: true,
        },
        &EMPTY,
    );
    assert_eq!(lookup_to(&actions), Some(farther.pnrp_id));
}

#[test]
fn too_many_suspicious_answers_end_the_resolve() {
    let mut machine = resolve(&entry(id_at(120, false), 10));
    machine.start();
    for step in 0..=MAX_SUSPICIOUS as u8 {
        // Each hop answers with a closer one, flagging the target as in its leaf set.
        let next = entry(id_at(119 - step, false), 11 + u16::from(step));
        let actions = machine.step(
            Input::Answer {
                from: address(10 + u16::from(step)),
                route_entry: Some(next.clone()),
                not_found: false,
                leaf_set: true,
                small_cache: false,
            },
            &EMPTY,
        );
        if u32::from(step) < MAX_SUSPICIOUS {
            assert_eq!(lookup_to(&actions), Some(next.pnrp_id), "step {step}");
        } else {
            assert_eq!(actions.last(), Some(&Action::Finish), "{actions:?}");
        }
    }
}

#[test]
fn a_not_found_answer_forgets_the_hop() {
    let first = entry(id_at(100, false), 10);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(
        Input::Answer {
            from: address(10),
            route_entry: None,
            not_found: true,
            leaf_set: false,
            small_cache: false,
        },
        &EMPTY,
    );
    assert_eq!(
        actions,
        vec![
            Action::Forget {
                id: first.pnrp_id,
                at: address(10)
            },
            Action::Finish
        ]
    );
}

#[test]
fn the_other_registrations_of_the_name_are_inquired_too() {
    let publisher = entry(id_at(1, true), 10);
    let sibling = entry(id_at(4, true), 11);
    let cousin = entry(id_at(7, true), 12);
    // The cache knows `sibling`; walking from the publisher finds `cousin`.
    let cache = Cache(vec![sibling.clone()]);
    let mut machine = resolve(&publisher);
    machine.start();
    let actions = machine.step(answer(&publisher, None), &cache);
    assert_eq!(inquire_of(&actions), Some(publisher.pnrp_id));
    let actions = machine.step(inquired(&publisher), &cache);
    assert_eq!(inquire_of(&actions), Some(sibling.pnrp_id), "{actions:?}");
    let actions = machine.step(Input::Neighbour(Some(cousin.clone())), &cache);
    assert_eq!(inquire_of(&actions), Some(cousin.pnrp_id), "{actions:?}");
    let actions = machine.step(inquired(&sibling), &cache);
    assert_eq!(actions.len(), 1, "a walk from the sibling: {actions:?}");
    for input in [
        inquired(&cousin),
        Input::Neighbour(None),
        Input::Neighbour(None),
    ] {
        let actions = machine.step(input, &cache);
        assert!(!actions
            .iter()
            .any(|action| matches!(action, Action::Inquire { .. })));
    }
    let actions = machine.step(Input::Neighbour(None), &cache);
    assert_eq!(actions, vec![Action::Finish]);
    let ids: Vec<PnrpId> = machine
        .finish()
        .found
        .iter()
        .map(|found| found.id)
        .collect();
    assert_eq!(
        ids,
        vec![publisher.pnrp_id, sibling.pnrp_id, cousin.pnrp_id]
    );
}

#[test]
fn announcing_and_balancing_never_inquire() {
    let first = entry(id_at(9, true), 10);
    let mut machine = Resolve::new(
        Goal::Announce(PnrpId([1; 32])),
        target(),
        ResolveCriteria::None,
        0,
        None,
        Some(first.clone()),
        Some(first.clone()),
        [0; 16],
    );
    machine.start();
    let actions = machine.step(answer(&first, None), &EMPTY);
    assert_eq!(actions.last(), Some(&Action::Finish), "{actions:?}");
    assert!(machine.finish().reached);
}

/// An entry at `lasts`, in that order (of preference).
fn multi_homed(id: PnrpId, lasts: &[u16]) -> RouteEntry {
    RouteEntry {
        pnrp_id: id,
        port: 3540,
        addresses: BoundedVec::truncating(lasts.iter().map(|last| *address(*last).ip()).collect())
            .unwrap(),
    }
}

#[test]
fn a_multi_homed_hop_is_asked_at_its_next_address_before_it_is_given_up() {
    let hop = multi_homed(id_at(5, false), &[10, 20]);
    let mut machine = resolve(&hop);
    let actions = machine.start();
    assert!(matches!(actions[0], Action::Lookup { to, .. } if to == address(10)));
    // Silent at its first address: the same hop at its second, nothing given up, and its other
    // address not flagged (flagged, the node would not offer itself).
    let actions = machine.step(Input::Silent { to: address(10) }, &EMPTY);
    let [Action::Lookup {
        to,
        validate,
        flagged,
    }] = actions.as_slice()
    else {
        panic!("{actions:?}");
    };
    assert_eq!((*to, *validate), (address(20), hop.pnrp_id));
    assert!(!flagged
        .iter()
        .any(|endpoint| endpoint.address == *address(10).ip()));
    // Silent there too: now it is gone.
    let actions = machine.step(Input::Silent { to: address(20) }, &EMPTY);
    assert_eq!(
        actions,
        vec![Action::Unreachable(address(20)), Action::Finish]
    );
}

#[test]
fn a_multi_homed_match_is_inquired_at_its_next_address() {
    let first = entry(id_at(9, false), 10);
    let publisher = multi_homed(id_at(1, true), &[11, 21]);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(answer(&first, Some(&publisher)), &EMPTY);
    assert!(actions.iter().any(|action| *action
        == Action::Inquire {
            to: address(11),
            id: publisher.pnrp_id
        }));
    let actions = machine.step(Input::Silent { to: address(11) }, &EMPTY);
    assert_eq!(
        actions,
        vec![Action::Inquire {
            to: address(21),
            id: publisher.pnrp_id
        }]
    );
}

#[test]
fn a_seed_known_by_address_only_is_neither_cached_nor_a_best_match() {
    // Split detection starts at a seed whose route entry has PNRP ID zero (§3.2.6.2.1).
    let seed = entry(PnrpId([0; 32]), 10);
    let near = entry(id_at(3, false), 11);
    let mut machine = Resolve::new(
        Goal::SplitDetection {
            around: target(),
            nearest: None,
            follow_up: false,
        },
        target(),
        ResolveCriteria::None,
        0,
        None,
        Some(seed.clone()),
        None,
        [7; 16],
    );
    machine.start();
    let actions = machine.step(answer(&seed, Some(&near)), &EMPTY);
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Reached(..))),
        "{actions:?}"
    );
    assert_eq!(lookup_to(&actions), Some(near.pnrp_id));
    let actions = machine.step(answer(&near, None), &EMPTY);
    assert!(actions.contains(&Action::Finish), "{actions:?}");
    assert_eq!(machine.finish().best, Some(near));
}

#[test]
fn a_publisher_reached_at_its_second_address_is_walked_from_there() {
    let first = entry(id_at(9, false), 10);
    let publisher = multi_homed(id_at(1, true), &[11, 21]);
    let mut machine = resolve(&first);
    machine.start();
    let actions = machine.step(answer(&first, Some(&publisher)), &EMPTY);
    assert!(actions
        .iter()
        .any(|action| matches!(action, Action::Walk { to, .. } if *to == address(11))));
    // Both stay silent at the first address: the walk is given up, the INQUIRE moves on.
    assert!(machine.step(Input::Neighbour(None), &EMPTY).is_empty());
    let actions = machine.step(Input::Silent { to: address(11) }, &EMPTY);
    assert_eq!(
        actions,
        vec![Action::Inquire {
            to: address(21),
            id: publisher.pnrp_id
        }]
    );
    let mut at_second = found(&publisher);
    at_second.publisher = address(21);
    let actions = machine.step(
        Input::Inquired {
            from: address(21),
            valid: Some((publisher.clone(), at_second)),
        },
        &EMPTY,
    );
    assert!(
        actions
            .iter()
            .any(|action| matches!(action, Action::Walk { to, .. } if *to == address(21))),
        "{actions:?}"
    );
}

#[test]
fn many_inquiries_with_one_slow_still_finish() {
    let publisher = entry(id_at(1, true), 10);
    let siblings: Vec<RouteEntry> = (0..40u16)
        .map(|n| {
            let mut id = id_at(2, true);
            id.0[20] = n as u8;
            entry(id, 100 + n)
        })
        .collect();
    let cache = Cache(siblings);
    let mut machine = resolve(&publisher);
    machine.start();
    machine.step(answer(&publisher, None), &cache);
    let mut inflight: Vec<SocketAddrV6> = Vec::new();
    let collect = |actions: &[Action], inflight: &mut Vec<SocketAddrV6>| {
        for action in actions {
            if let Action::Inquire { to, .. } = action {
                inflight.push(*to);
            }
        }
    };
    let actions = machine.step(inquired(&publisher), &cache);
    collect(&actions, &mut inflight);
    let slow = inflight.remove(0);
    let actions = machine.step(Input::Neighbour(None), &cache);
    collect(&actions, &mut inflight);
    // Every other one answers at once, without a valid CPA; the slow one is still out.
    let mut finished = false;
    while let Some(from) = inflight.pop() {
        let actions = machine.step(Input::Inquired { from, valid: None }, &cache);
        finished |= actions.contains(&Action::Finish);
        collect(&actions, &mut inflight);
    }
    assert!(!finished, "one is still out");
    // It gives up: nothing else is out, so the resolve ends.
    let actions = machine.step(Input::Silent { to: slow }, &cache);
    assert!(actions.contains(&Action::Finish), "{actions:?}");
}

#[test]
fn a_split_test_through_a_silent_seed_ends_without_a_verdict() {
    let seed = entry(PnrpId([0; 32]), 10);
    let cached = entry(id_at(3, false), 11);
    let mut machine = Resolve::new(
        Goal::SplitDetection {
            around: target(),
            nearest: None,
            follow_up: false,
        },
        target(),
        ResolveCriteria::None,
        0,
        None,
        Some(seed),
        None,
        [7; 16],
    );
    machine.start();
    // Our own cache is not where a split test goes on.
    let actions = machine.step(Input::Silent { to: address(10) }, &Cache(vec![cached]));
    assert_eq!(actions, vec![Action::Finish]);
    assert_eq!(machine.finish().best, None);
}
