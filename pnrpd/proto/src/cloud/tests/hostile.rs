//! The sans-IO node against hostile senders: no amplification towards unproven addresses,
//! per-source rate limits, at most a few cache entries per address. Each test fails if its
//! defence is removed.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use pnrp_shared::PnrpId;
use sha1::{Digest, Sha1};

use crate::cloud::cache::MAX_PER_ADDRESS;
use crate::cloud::guard::{AMPLIFICATION, BURST};
use crate::cloud::ssdp::{self, SsdpScope};
use crate::cloud::{Cloud, CloudConfig, Publication};
use crate::wire::{
    filetime_from_unix, AuthorityBuffer, BoundedVec, Cpa, CpaFields, Endpoint, Flood, Inquire,
    Lookup, Message, Packet, Request, ResolveCriteria, ResolveReason, RouteEntry, Solicit,
    SolicitType,
};

fn addr(last: u16) -> SocketAddrV6 {
    SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last), 3540, 0, 0)
}

/// A node at `addr(1)` (the suite's node 0).
fn node(now: Instant) -> Cloud {
    super::lone(0, now)
}

/// A node publishing a name with a 4 KiB payload: its INQUIRE answer is the largest there is.
fn publisher(now: Instant) -> (Cloud, PnrpId) {
    let mut cloud = node(now);
    let id = cloud
        .register(
            now,
            Publication {
                name: "0.big".parse().unwrap(),
                app_endpoints: Vec::new(),
                comment: Some("a comment".into()),
                payload: Some(vec![0x5a; 4096]),
                identity: None,
            },
        )
        .unwrap();
    (cloud, id)
}

fn encode(message_id: u32, message: Message) -> Vec<u8> {
    Packet {
        message_id,
        message,
    }
    .encode()
}

/// The ACK of message `message_id`.
fn ack(message_id: u32) -> Vec<u8> {
    encode(
        message_id ^ 0x5555,
        Message::Ack(crate::wire::Ack {
            acked_message_id: message_id,
            not_found: Some(false),
        }),
    )
}

fn inquire_for(id: PnrpId) -> Message {
    Message::Inquire(Inquire {
        want_cpa: true,
        want_extended_payload: true,
        want_cert_chain: true,
        validate_id: id,
        nonce: Some([3; 16]),
    })
}

/// Bytes and datagrams the node sent to `to`.
fn drain_to(cloud: &mut Cloud, to: SocketAddrV6) -> (usize, Vec<Vec<u8>>) {
    let mut datagrams = Vec::new();
    while let Some(transmit) = cloud.poll_transmit() {
        if transmit.to.ip() == to.ip() {
            datagrams.push(transmit.bytes);
        }
    }
    (datagrams.iter().map(Vec::len).sum(), datagrams)
}

fn route_entry(id: PnrpId, address: SocketAddrV6) -> RouteEntry {
    RouteEntry {
        pnrp_id: id,
        port: address.port(),
        addresses: BoundedVec::truncating(vec![*address.ip()]).unwrap(),
    }
}

/// Every kind of request, as conversations of one or more datagrams.
fn requests(id: PnrpId) -> Vec<Vec<Message>> {
    let cpa_only = Message::Inquire(Inquire {
        want_cpa: true,
        want_extended_payload: false,
        want_cert_chain: false,
        validate_id: id,
        nonce: Some([3; 16]),
    });
    let lookup = Message::Lookup(Lookup {
        accept_not_closer: true,
        precision: 0,
        criteria: ResolveCriteria::None,
        reason: ResolveReason::AppRequest,
        target: id,
        validate_id: PnrpId([0; 32]),
        route_entry: None,
        flagged_path: BoundedVec::truncating(vec![Endpoint {
            port: 0,
            address: Ipv6Addr::UNSPECIFIED,
        }])
        .unwrap(),
    });
    let solicit = Message::Solicit(Solicit {
        solicit_type: Some(SolicitType::Any),
        route_entry: None,
        hashed_nonce: Sha1::digest([4u8; 16]).into(),
    });
    let request = Message::Request(Request {
        nonce: [4; 16],
        ids: BoundedVec::truncating(vec![id; 5]).unwrap(),
    });
    let flood = Message::Flood(Flood {
        no_ack: false,
        validate_id: id,
        revoke_cpa: None,
        route_entry: None,
        already_flooded: BoundedVec::empty(),
    });
    vec![
        vec![inquire_for(id)],
        vec![cpa_only],
        vec![inquire_for(PnrpId([9; 32]))],
        vec![lookup],
        vec![solicit, request],
        vec![flood],
    ]
}

#[test]
fn an_unproven_source_gets_at_most_three_times_what_it_sent() {
    let now = Instant::now();
    let (mut cloud, id) = publisher(now);
    // Each kind of request from its own forged source, many times (within the rate limit).
    for (kind, conversation) in requests(id).into_iter().enumerate() {
        let victim = addr(0x100 + kind as u16);
        let (mut received, mut sent) = (0, 0);
        for round in 0..50u32 {
            let later = now + Duration::from_secs(u64::from(round));
            for (index, request) in conversation.iter().enumerate() {
                let bytes = encode(round * 16 + index as u32 + 1, request.clone());
                received += bytes.len();
                cloud.handle_datagram(later, victim, &bytes);
                let (answered, datagrams) = drain_to(&mut cloud, victim);
                sent += answered;
                let authorities = datagrams
                    .iter()
                    .filter(|datagram| {
                        matches!(
                            Packet::decode(datagram).map(|packet| packet.message),
                            Ok(Message::Authority(_))
                        )
                    })
                    .count();
                assert!(
                    authorities <= 1,
                    "kind {kind}: a fragmented AUTHORITY went to an unproven source"
                );
            }
        }
        assert!(
            received > 0 && sent > 0,
            "kind {kind}: small answers still go"
        );
        assert!(
            sent as u64 <= AMPLIFICATION * received as u64,
            "kind {kind}: sent {sent} bytes to an unproven source that sent {received}"
        );
    }
    assert!(cloud.counters().withheld > 0);
}

#[test]
fn a_source_that_proves_its_address_gets_the_large_answer() {
    let now = Instant::now();
    let (mut cloud, id) = publisher(now);
    let resolver = addr(0x22);
    cloud.handle_datagram(now, resolver, &encode(77, inquire_for(id)));
    let (_, datagrams) = drain_to(&mut cloud, resolver);
    // Only a probe: an empty FLOOD, which every node, resolve-only ones too, acknowledges.
    assert_eq!(datagrams.len(), 1, "one small probe, not the answer");
    let probe = Packet::decode(&datagrams[0]).unwrap();
    assert!(
        matches!(&probe.message, Message::Flood(flood) if !flood.no_ack && flood.route_entry.is_none() && flood.revoke_cpa.is_none()),
        "{probe:?}"
    );
    // A forged answer from elsewhere proves nothing.
    let answer = |message_id| ack(message_id);
    cloud.handle_datagram(now, addr(0x23), &answer(probe.message_id));
    assert_eq!(drain_to(&mut cloud, resolver).1.len(), 0);
    // The resolver answers the probe: the held INQUIRE is answered whole, in fragments.
    let later = now + Duration::from_millis(10);
    cloud.handle_datagram(later, resolver, &answer(probe.message_id));
    let (bytes, datagrams) = drain_to(&mut cloud, resolver);
    assert!(datagrams.len() > 1, "{} datagrams", datagrams.len());
    assert!(bytes > 4096);
    for datagram in &datagrams {
        let packet = Packet::decode(datagram).unwrap();
        assert!(matches!(packet.message, Message::Authority(_)));
    }
    // Proven: the next INQUIRE is answered at once.
    cloud.handle_datagram(later, resolver, &encode(78, inquire_for(id)));
    assert!(drain_to(&mut cloud, resolver).1.len() > 1);
}

#[test]
fn a_resolvers_walk_earns_the_budget_its_inquire_needs() {
    // A small publication: its signed answer fits in one datagram.
    let now = Instant::now();
    let mut cloud = node(now);
    let id = cloud
        .register(
            now,
            Publication {
                name: "0.small".parse().unwrap(),
                app_endpoints: Vec::new(),
                comment: None,
                payload: None,
                identity: None,
            },
        )
        .unwrap();
    drain_to(&mut cloud, addr(0x99));
    let resolver = addr(0x24);
    let cpa_only = Message::Inquire(Inquire {
        want_cpa: true,
        want_extended_payload: true,
        want_cert_chain: true,
        validate_id: id,
        nonce: Some([3; 16]),
    });
    cloud.handle_datagram(now, resolver, &encode(80, cpa_only));
    let (_, held) = drain_to(&mut cloud, resolver);
    assert!(
        held.iter()
            .all(|datagram| matches!(Packet::decode(datagram).unwrap().message, Message::Flood(_))),
        "the INQUIRE alone does not earn the signed answer"
    );
    // Its walk (a LOOKUP) arrives after it: together they do, without the probe's answer.
    let walk = Message::Lookup(Lookup {
        accept_not_closer: true,
        precision: 0,
        criteria: ResolveCriteria::AnyPeerName,
        reason: ResolveReason::AppRequest,
        target: id,
        validate_id: id,
        route_entry: None,
        flagged_path: BoundedVec::truncating(vec![
            Endpoint::from(std::net::SocketAddr::V6(resolver)),
            Endpoint::from(std::net::SocketAddr::V6(addr(1))),
        ])
        .unwrap(),
    });
    cloud.handle_datagram(now, resolver, &encode(81, walk));
    let (_, answers) = drain_to(&mut cloud, resolver);
    let signed = answers.iter().any(|datagram| {
        let packet = Packet::decode(datagram).unwrap();
        let Message::Authority(fragment) = packet.message else {
            return false;
        };
        fragment.acked_message_id() == 80
            && AuthorityBuffer::decode(fragment.fragment()).is_ok_and(|buffer| buffer.cpa.is_some())
    });
    assert!(signed, "{answers:?}");
}

#[test]
fn a_flooding_source_is_cut_to_its_rate_before_decoding() {
    let now = Instant::now();
    let (mut cloud, id) = publisher(now);
    let flooder = addr(0x66);
    let datagram = encode(5, inquire_for(PnrpId([8; 32])));
    for _ in 0..10_000 {
        cloud.handle_datagram(now, flooder, &datagram);
        cloud.handle_datagram(now, flooder, b"garbage");
    }
    let counters = cloud.counters();
    assert_eq!(counters.received + counters.malformed, u64::from(BURST));
    assert_eq!(counters.rate_limited, 20_000 - u64::from(BURST));
    // Someone else is still heard.
    cloud.handle_datagram(now, addr(0x67), &encode(6, inquire_for(id)));
    assert_eq!(cloud.counters().received, counters.received + 1);
    // And the flooder again once its bucket refills.
    cloud.handle_datagram(now + Duration::from_secs(1), flooder, &datagram);
    assert_eq!(cloud.counters().received, counters.received + 2);
}

#[test]
fn one_address_gets_at_most_a_few_cache_entries() {
    let now = Instant::now();
    let mut cloud = node(now);
    let poisoner = addr(0x66);
    let key = SigningKey::from_bytes(&[0x66; 32]);
    // Ten names published at one address, each proving itself with a valid CPA when inquired.
    for n in 0..10u8 {
        let later = now + Duration::from_millis(u64::from(n) * 100);
        let name: pnrp_shared::PeerName = format!("0.poison-{n}").parse().unwrap();
        let location = pnrp_shared::ServiceLocation([n; 16]);
        let entry_id = PnrpId::new(pnrp_shared::P2pId::of(&name), location);
        let flood = Message::Flood(Flood {
            no_ack: true,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: None,
            route_entry: Some(route_entry(entry_id, poisoner)),
            already_flooded: BoundedVec::empty(),
        });
        cloud.handle_datagram(later, poisoner, &encode(100 + u32::from(n), flood));
        while let Some(crate::cloud::Transmit { to, bytes, .. }) = cloud.poll_transmit() {
            let packet = Packet::decode(&bytes).unwrap();
            let Message::Inquire(inquire) = &packet.message else {
                continue;
            };
            if to != poisoner {
                continue;
            }
            let mut fields = CpaFields::for_name(
                &name,
                location,
                filetime_from_unix(1_800_000_000 + 3600),
                inquire.nonce.unwrap_or([0; 16]),
            );
            fields.service_addresses = BoundedVec::truncating(vec![Endpoint {
                address: *poisoner.ip(),
                port: poisoner.port(),
            }])
            .unwrap();
            let buffer = AuthorityBuffer::answer(
                Some(route_entry(entry_id, poisoner)),
                Some(Cpa::sign(fields, &key)),
            );
            for fragment in buffer.fragments(packet.message_id) {
                cloud.handle_datagram(
                    later,
                    poisoner,
                    &encode(packet.message_id, Message::Authority(fragment)),
                );
            }
        }
    }
    let at_poisoner = cloud
        .cache()
        .entries()
        .filter(|entry| entry.endpoints.iter().any(|e| e.ip() == poisoner.ip()))
        .count();
    assert_eq!(at_poisoner, MAX_PER_ADDRESS);
}

#[test]
fn forged_inquires_from_many_sources_do_not_starve_an_honest_resolver() {
    let now = Instant::now();
    let (mut cloud, id) = publisher(now);
    // Forged INQUIREs for the large answer from a thousand addresses fill every table.
    for n in 0..1000u16 {
        let forged = SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0xbad, 0, n), 4000, 0, 0);
        cloud.handle_datagram(now, forged, &encode(u32::from(n) + 1, inquire_for(id)));
    }
    while cloud.poll_transmit().is_some() {}
    let resolver = addr(0x22);
    cloud.handle_datagram(now, resolver, &encode(77, inquire_for(id)));
    let (_, datagrams) = drain_to(&mut cloud, resolver);
    assert_eq!(datagrams.len(), 1, "the honest resolver is probed too");
    let probe = Packet::decode(&datagrams[0]).unwrap();
    cloud.handle_datagram(now, resolver, &ack(probe.message_id));
    assert!(
        drain_to(&mut cloud, resolver).1.len() > 1,
        "answered in full"
    );
}

#[test]
fn a_forged_inquire_earns_only_a_probe() {
    let now = Instant::now();
    let (mut cloud, id) = publisher(now);
    // One INQUIRE each from many forged sources: each gets only a probe (and, its budget being
    // below any signed answer, costs no signature).
    for n in 0..50u16 {
        let forged = SocketAddrV6::new(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0xbad, 0, n), 4000, 0, 0);
        cloud.handle_datagram(now, forged, &encode(u32::from(n) + 1, inquire_for(id)));
        let (_, datagrams) = drain_to(&mut cloud, forged);
        assert_eq!(datagrams.len(), 1);
        assert!(matches!(
            Packet::decode(&datagrams[0]).unwrap().message,
            Message::Flood(_)
        ));
    }
}

#[test]
fn ssdp_searches_are_rate_limited_and_never_amplified() {
    let now = Instant::now();
    let config = CloudConfig {
        discovery: Some(SsdpScope::Global),
        ..super::config(0, Vec::new(), now)
    };
    let mut cloud = Cloud::new(config, now);
    cloud.set_local_endpoints(now, vec![addr(1)]);
    cloud.register(
        now,
        Publication {
            name: "0.here".parse().unwrap(),
            app_endpoints: Vec::new(),
            comment: None,
            payload: None,
            identity: None,
        },
    );
    let search = ssdp::search(SsdpScope::Global);
    let message = ssdp::parse(&search).unwrap();
    let (mut received, mut sent, mut answers) = (0, 0, 0);
    for _ in 0..1000 {
        received += search.len();
        if let Some(answer) = cloud.handle_ssdp(now, addr(0x99), search.len(), &message) {
            sent += answer.len();
            answers += 1;
        }
    }
    assert!(answers > 0, "an honest search is answered");
    assert!(answers <= BURST as usize, "{answers} answers to one source");
    assert!(sent as u64 <= AMPLIFICATION * received as u64);
    assert!(cloud.counters().rate_limited > 0);
}

/// A FLOOD whose route entry names `addresses` for `id`, from a forged source.
fn flood_of(id: PnrpId, addresses: Vec<Ipv6Addr>) -> Vec<u8> {
    encode(
        5,
        Message::Flood(Flood {
            no_ack: true,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: None,
            route_entry: Some(RouteEntry {
                pnrp_id: id,
                port: 3540,
                addresses: BoundedVec::truncating(addresses).unwrap(),
            }),
            already_flooded: BoundedVec::empty(),
        }),
    )
}

/// Lets `seconds` pass in half seconds; returns how many INQUIREs went to `to`.
fn run_counting(cloud: &mut Cloud, now: &mut Instant, seconds: u64, to: SocketAddrV6) -> usize {
    let mut count = 0;
    for _ in 0..seconds * 2 {
        *now += Duration::from_millis(500);
        if cloud.poll_timeout().is_some_and(|due| due <= *now) {
            cloud.handle_timeout(*now);
        }
        count += std::iter::from_fn(|| cloud.poll_transmit())
            .filter(|transmit| {
                transmit.to == to
                    && matches!(
                        Packet::decode(&transmit.bytes).map(|packet| packet.message),
                        Ok(Message::Inquire(_))
                    )
            })
            .count();
    }
    count
}

#[test]
fn an_address_named_twice_is_asked_no_more_than_once() {
    let mut now = Instant::now();
    let mut cloud = node(now);
    let victim = addr(7);
    cloud.handle_datagram(
        now,
        addr(8),
        &flood_of(PnrpId([0x55; 32]), vec![*victim.ip(), *victim.ip()]),
    );
    let asked = std::iter::from_fn(|| cloud.poll_transmit())
        .filter(|transmit| transmit.to == victim)
        .count()
        + run_counting(&mut cloud, &mut now, 300, victim);
    // (Counted: the first send, then INQUIREs only.)
    assert_eq!(
        asked, 2,
        "one INQUIRE and its retransmission, not one a second"
    );
}

#[test]
fn entries_naming_addresses_twice_do_not_hold_the_admissions_for_good() {
    let mut now = Instant::now();
    let mut cloud = node(now);
    for n in 0..256u16 {
        let mut id = [0x55; 32];
        id[30] = (n >> 8) as u8;
        id[31] = n as u8;
        let sink = *addr(2000 + n).ip();
        cloud.handle_datagram(now, addr(3000 + n), &flood_of(PnrpId(id), vec![sink, sink]));
    }
    run_counting(&mut cloud, &mut now, 120, addr(1));
    let honest = addr(9);
    cloud.handle_datagram(
        now,
        honest,
        &flood_of(PnrpId([0x66; 32]), vec![*honest.ip()]),
    );
    assert!(
        std::iter::from_fn(|| cloud.poll_transmit()).any(|transmit| transmit.to == honest),
        "two minutes later, an honest entry gets its admission INQUIRE"
    );
}

#[test]
fn a_silent_entry_naming_its_address_twice_leaves_and_is_checked_once_at_a_time() {
    let mut now = Instant::now();
    let mut cloud = node(now);
    let dead = addr(7);
    let id = PnrpId([0x55; 32]);
    assert!(cloud.cache.insert(crate::cloud::cache::CacheEntry {
        id,
        endpoints: smallvec::smallvec![dead, dead],
        last_seen: now,
    }));
    let sent = run_counting(&mut cloud, &mut now, 30 * 60, dead);
    assert!(cloud.cache.get(&id).is_none(), "the dead entry left");
    assert!(sent <= 4, "{sent} INQUIREs to the dead node");
    assert!(cloud.requests.purposes().count() < 5);
}

#[test]
fn a_hostile_hop_cannot_fill_the_list_of_lost_nodes() {
    use crate::cloud::resolve::Goal;
    use crate::cloud::route_entry;
    let mut now = Instant::now();
    let mut cloud = node(now);
    let genuine = addr(1001);
    cloud.rendezvous.lost(now, genuine);
    let attacker = addr(2);
    for round in 0..40u16 {
        // Each resolve through the attacker is offered an entry at a black hole.
        let first = route_entry(PnrpId([0x33; 32]), &[attacker]).unwrap();
        cloud.start_resolve_from(
            now,
            PnrpId([0x44; 32]),
            ResolveCriteria::None,
            Goal::Balance,
            None,
            Some(first),
        );
        let lookup = std::iter::from_fn(|| cloud.poll_transmit())
            .find_map(|transmit| {
                let packet = Packet::decode(&transmit.bytes).unwrap();
                (transmit.to == attacker && matches!(packet.message, Message::Lookup(_)))
                    .then_some(packet.message_id)
            })
            .expect("a LOOKUP to the attacker");
        let hole = route_entry(PnrpId([0x45; 32]), &[addr(3000 + round)]).unwrap();
        for fragment in AuthorityBuffer::answer(Some(hole), None).fragments(lookup) {
            cloud.handle_datagram(now, attacker, &encode(9, Message::Authority(fragment)));
        }
        run_counting(&mut cloud, &mut now, 3, attacker);
    }
    let rotation: Vec<SocketAddrV6> = (0..40)
        .filter_map(|_| cloud.rendezvous.next(now, &[], &[]))
        .collect();
    assert!(rotation.contains(&genuine), "{rotation:?}");
    assert!(
        rotation
            .iter()
            .all(|address| address.ip().segments()[7] < 3000),
        "black holes the attacker offered became nodes to join through: {rotation:?}"
    );
}
