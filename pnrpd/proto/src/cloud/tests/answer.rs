//! Answering (`answer`): a LOOKUP gets the closest entry that is closer than its Validate ID and
//! not flagged; an INQUIRE for one of our IDs gets a CPA under the asker's nonce.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::Instant;

use pnrp_shared::PnrpId;

use super::{at, drain, encode, lone, single_buffer, UNIX};
use crate::cloud::cache::CacheEntry;
use crate::cloud::{Cloud, Publication};
use crate::wire::{
    filetime_from_unix, AuthorityBuffer, BoundedVec, CpaCheck, Endpoint, ExtendedData, Inquire,
    Lookup, Message, ResolveCriteria, ResolveReason,
};

/// An ID whose first byte is `high`.
fn id(high: u8) -> PnrpId {
    let mut bytes = [0x11; 32];
    bytes[0] = high;
    PnrpId(bytes)
}

/// A node at `at(1)` caching IDs `0x20`, `0x40`, `0x60` and `0x80`, each at an address of its own.
fn node_with_cache() -> (Cloud, Instant) {
    let now = Instant::now();
    let mut cloud = lone(1, now);
    for high in [0x20, 0x40, 0x60, 0x80] {
        cloud.cache.insert(CacheEntry {
            id: id(high),
            endpoints: smallvec::smallvec![at(usize::from(high))],
            last_seen: now,
        });
    }
    drain(&mut cloud);
    (cloud, now)
}

fn lookup(target: PnrpId, validate: PnrpId, flagged: Vec<SocketAddrV6>) -> Message {
    let mut path = vec![Endpoint {
        port: 3540,
        address: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x99),
    }];
    path.extend(flagged.iter().map(|at| Endpoint {
        port: at.port(),
        address: *at.ip(),
    }));
    Message::Lookup(Lookup {
        accept_not_closer: false,
        precision: 0,
        criteria: ResolveCriteria::None,
        reason: ResolveReason::AppRequest,
        target,
        validate_id: validate,
        route_entry: None,
        flagged_path: BoundedVec::truncating(path).unwrap(),
    })
}

/// What a LOOKUP from `at(9)` gets: the offered ID and the N flag.
fn ask(cloud: &mut Cloud, now: Instant, message: Message) -> (Option<PnrpId>, bool) {
    cloud.handle_datagram(now, at(9), &encode(3, message));
    let answers = drain(cloud);
    let (acked, buffer) = answers
        .iter()
        .find_map(|(to, message)| single_buffer(message).filter(|_| *to == at(9)))
        .expect("an AUTHORITY");
    assert_eq!(acked, 3);
    (
        buffer.route_entry.map(|entry| entry.pnrp_id),
        buffer.not_found,
    )
}

#[test]
fn a_lookup_gets_a_close_entry_closer_than_its_validate_id() {
    let (mut cloud, now) = node_with_cache();
    let target = id(0x52);
    // Closer than 0x80 to the target and not flagged: 0x60 and 0x40 (0x20 is farther than
    // 0x80), both within twice the closest one's distance, drawn with weights 6:3.
    let mut drawn = std::collections::HashMap::new();
    // (Fewer asks than the per-source burst allowance of 200.)
    for _ in 0..120 {
        let (offered, not_found) = ask(&mut cloud, now, lookup(target, id(0x80), vec![]));
        assert!(not_found, "validated by an ID it does not hold: N");
        *drawn.entry(offered.expect("an entry")).or_insert(0u32) += 1;
    }
    assert_eq!(drawn.len(), 2, "{drawn:?}");
    assert!(drawn[&id(0x60)] > drawn[&id(0x40)] * 3 / 2, "{drawn:?}");
    // The flagged one is never offered.
    for _ in 0..30 {
        let (offered, _) = ask(&mut cloud, now, lookup(target, id(0x80), vec![at(0x60)]));
        assert_eq!(offered, Some(id(0x40)));
    }
    // An entry more than twice as far as the closest is never drawn: 0x40 is 7 times as far
    // from 0x5c as 0x60 is.
    for _ in 0..30 {
        let (offered, _) = ask(&mut cloud, now, lookup(id(0x5c), id(0x80), vec![]));
        assert_eq!(offered, Some(id(0x60)));
    }
    // Nothing closer than the Validate ID: nothing offered.
    assert_eq!(
        ask(&mut cloud, now, lookup(target, id(0x5a), vec![])),
        (None, true)
    );
    // Validated by no ID: no N.
    assert!(!ask(&mut cloud, now, lookup(target, PnrpId([0; 32]), vec![])).1);
}

#[test]
fn a_matching_entry_is_the_answer_every_time() {
    let (mut cloud, now) = node_with_cache();
    // 0x60 matches the target's P2P ID (the first 16 bytes) under ANY_PEERNAME; 0x40 does not.
    let mut target = id(0x60);
    target.0[20] = 0x99;
    let mut message = lookup(target, PnrpId([0; 32]), vec![]);
    if let Message::Lookup(lookup) = &mut message {
        lookup.criteria = ResolveCriteria::AnyPeerName;
    }
    for _ in 0..60 {
        assert_eq!(ask(&mut cloud, now, message.clone()).0, Some(id(0x60)));
    }
}

#[test]
fn our_own_entry_is_offered_only_when_closer_than_the_validate_id() {
    let (mut cloud, now) = node_with_cache();
    let ours = cloud
        .register(
            now,
            Publication {
                name: "0.here".parse().unwrap(),
                app_endpoints: Vec::new(),
                comment: None,
                payload: None,
                identity: None,
            },
        )
        .unwrap();
    drain(&mut cloud);
    // Asked as the hop for our own ID (§3.2.5.2): never our own entry back, and no N.
    let (offered, not_found) = ask(&mut cloud, now, lookup(ours, ours, vec![]));
    assert_eq!(offered, None);
    assert!(!not_found);
    // Asked, validated by another ID, for a target our ID is closest to: our entry.
    let (offered, _) = ask(
        &mut cloud,
        now,
        lookup(ours.wrapping_add(&crate::cloud::one()), id(0x20), vec![]),
    );
    assert_eq!(offered, Some(ours));
}

#[test]
fn an_inquire_gets_a_cpa_under_the_askers_nonce_and_the_payload() {
    let now = Instant::now();
    let mut cloud = lone(1, now);
    let ours = cloud
        .register(
            now,
            Publication {
                name: "0.printer".parse().unwrap(),
                app_endpoints: Vec::new(),
                comment: Some("2nd floor".into()),
                payload: Some(b"duplex".to_vec()),
                identity: None,
            },
        )
        .unwrap();
    drain(&mut cloud);
    // The asker has proven its address (it answered something of ours): no probe first.
    cloud.guard.prove(now, at(9).ip());
    let inquire = |id, nonce| {
        Message::Inquire(Inquire {
            want_cpa: true,
            want_extended_payload: true,
            want_cert_chain: false,
            validate_id: id,
            nonce: Some(nonce),
        })
    };
    cloud.handle_datagram(now, at(9), &encode(8, inquire(ours, [6; 16])));
    let (acked, buffer) = drain(&mut cloud)
        .iter()
        .find_map(|(_, message)| single_buffer(message))
        .expect("an AUTHORITY");
    assert_eq!(acked, 8);
    let cpa = buffer.cpa.expect("a CPA");
    let check = CpaCheck {
        pnrp_id: Some(ours),
        nonce: Some([6; 16]),
        revoke: false,
        extended_payload: buffer.extended_payload.as_ref(),
    };
    assert_eq!(cpa.validate(filetime_from_unix(UNIX), &check), Ok(()));
    // §2.2.3.1: Not After SHOULD be 12 hours to a week ahead.
    let lifetime = cpa.fields().not_after - filetime_from_unix(UNIX);
    let hour = 3600 * 10_000_000;
    assert!(
        (12 * hour..=7 * 24 * hour).contains(&lifetime),
        "{} h",
        lifetime / hour
    );
    assert_eq!(
        cpa.fields()
            .friendly_name
            .as_ref()
            .map(|name| name.as_str()),
        Some("2nd floor")
    );
    assert!(matches!(
        &buffer.extended_payload.unwrap().fields().data,
        ExtendedData::Binary(bytes) if &bytes[..] == b"duplex"
    ));
    assert_eq!(buffer.classifier.unwrap().as_str(), "printer");
    // An ID it does not hold: NOT_FOUND.
    cloud.handle_datagram(now, at(9), &encode(9, inquire(PnrpId([3; 32]), [6; 16])));
    let (_, buffer) = drain(&mut cloud)
        .iter()
        .find_map(|(_, message)| single_buffer(message))
        .expect("an AUTHORITY");
    assert_eq!(buffer, AuthorityBuffer::not_found());
}
