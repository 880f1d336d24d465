//! Admission (`admission`): an entry enters the cache only once its node answered our INQUIRE
//! with a CPA for its ID, under our nonce, at the entry's addresses; new leaves are flooded to
//! their neighbours; revokes remove entries only when genuine.

use std::net::SocketAddrV6;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use pnrp_shared::{P2pId, PeerName, PnrpId, ServiceLocation};

use super::{at, drain, encode, lone, Lan, UNIX};
use crate::cloud::Cloud;
use crate::wire::{
    filetime_from_unix, AuthorityBuffer, BoundedVec, Cpa, CpaFields, Endpoint, Flood, Message,
    RouteEntry,
};

fn entry(id: PnrpId, at: SocketAddrV6) -> RouteEntry {
    RouteEntry {
        pnrp_id: id,
        port: at.port(),
        addresses: BoundedVec::truncating(vec![*at.ip()]).unwrap(),
    }
}

/// A FLOOD (no ACK wanted) carrying `entry`.
fn flood(entry: RouteEntry) -> Message {
    Message::Flood(Flood {
        no_ack: true,
        validate_id: PnrpId([0; 32]),
        revoke_cpa: None,
        route_entry: Some(entry),
        already_flooded: BoundedVec::empty(),
    })
}

/// A CPA for `name` at `location`, under `nonce`, naming `service` as its address.
fn cpa(name: &PeerName, location: ServiceLocation, nonce: [u8; 16], service: SocketAddrV6) -> Cpa {
    let mut fields = CpaFields::for_name(name, location, filetime_from_unix(UNIX + 3600), nonce);
    fields.service_addresses = BoundedVec::truncating(vec![Endpoint {
        address: *service.ip(),
        port: service.port(),
    }])
    .unwrap();
    Cpa::sign(fields, &SigningKey::from_bytes(&[0x33; 32]))
}

/// A lone node at `at(1)`, told of `0.other` at `at(3)` by `at(2)`; the INQUIRE it sent there.
fn told_of_other(location: u8) -> (Cloud, Instant, PeerName, PnrpId, u32, [u8; 16]) {
    let now = Instant::now();
    let mut cloud = lone(1, now);
    let name: PeerName = "0.other".parse().unwrap();
    let id = PnrpId::new(P2pId::of(&name), ServiceLocation([location; 16]));
    cloud.handle_datagram(now, at(2), &encode(1, flood(entry(id, at(3)))));
    let sent = drain(&mut cloud);
    let inquire = sent
        .iter()
        .find_map(|(to, message)| match message {
            Message::Inquire(inquire) if *to == at(3) => Some(inquire.clone()),
            _ => None,
        })
        .expect("an INQUIRE to the entry's address");
    assert_eq!(inquire.validate_id, id);
    assert!(inquire.want_cpa);
    // The message ID is in the request table: find it by asking who may answer.
    let message_id = cloud
        .requests
        .purposes()
        .find(|(_, to, _)| *to == at(3))
        .map(|(id, _, _)| id)
        .unwrap();
    (cloud, now, name, id, message_id, inquire.nonce.unwrap())
}

fn answer(cloud: &mut Cloud, now: Instant, message_id: u32, buffer: AuthorityBuffer) {
    for fragment in buffer.fragments(message_id) {
        cloud.handle_datagram(
            now,
            at(3),
            &encode(message_id, Message::Authority(fragment)),
        );
    }
}

#[test]
fn an_entry_enters_the_cache_only_with_a_cpa_proving_it() {
    // Signed under another nonce (a replay): refused.
    let (mut cloud, now, name, id, message_id, _) = told_of_other(1);
    let replayed = cpa(&name, id.service_location(), [9; 16], at(3));
    answer(
        &mut cloud,
        now,
        message_id,
        AuthorityBuffer::answer(None, Some(replayed)),
    );
    assert!(cloud.cache().get(&id).is_none());
    assert_eq!(cloud.counters().bad_cpas, 1);

    // For another address than the entry's (a relay's answer): refused.
    let (mut cloud, now, name, id, message_id, nonce) = told_of_other(2);
    let elsewhere = cpa(&name, id.service_location(), nonce, at(5));
    answer(
        &mut cloud,
        now,
        message_id,
        AuthorityBuffer::answer(None, Some(elsewhere)),
    );
    assert!(cloud.cache().get(&id).is_none());
    assert_eq!(cloud.counters().bad_cpas, 1);

    // The entry's address, but at another port: refused (ports are compared too).
    let (mut cloud, now, name, id, message_id, nonce) = told_of_other(5);
    let other_port = SocketAddrV6::new(*at(3).ip(), 3999, 0, 0);
    let elsewhere = cpa(&name, id.service_location(), nonce, other_port);
    answer(
        &mut cloud,
        now,
        message_id,
        AuthorityBuffer::answer(None, Some(elsewhere)),
    );
    assert!(cloud.cache().get(&id).is_none());
    assert_eq!(cloud.counters().bad_cpas, 1);

    // No CPA, or NOT_FOUND: not cached, and no CPA to blame.
    let (mut cloud, now, _, id, message_id, _) = told_of_other(3);
    answer(&mut cloud, now, message_id, AuthorityBuffer::not_found());
    assert!(cloud.cache().get(&id).is_none());
    assert_eq!(cloud.counters().bad_cpas, 0);

    // From anyone but the entry's address: not even read.
    let (mut cloud, now, name, id, message_id, nonce) = told_of_other(4);
    let genuine = cpa(&name, id.service_location(), nonce, at(3));
    for fragment in AuthorityBuffer::answer(None, Some(genuine.clone())).fragments(message_id) {
        cloud.handle_datagram(
            now,
            at(6),
            &encode(message_id, Message::Authority(fragment)),
        );
    }
    assert!(cloud.cache().get(&id).is_none());

    // The genuine answer: cached at the entry's address.
    answer(
        &mut cloud,
        now,
        message_id,
        AuthorityBuffer::answer(None, Some(genuine)),
    );
    assert_eq!(cloud.cache().get(&id).unwrap().endpoints[..], [at(3)]);
}

#[test]
fn a_new_leaf_is_flooded_to_its_neighbours() {
    let mut lan = Lan::new(2);
    lan.register(0, "zero");
    lan.register(1, "one");
    let mark = lan.sent.len();
    lan.add(2, vec![at(0)]);
    let two = lan.register(2, "two");
    lan.run_for(std::time::Duration::from_secs(2));
    // Someone who admitted the newcomer told another node of it.
    let told: Vec<(SocketAddrV6, SocketAddrV6)> =
        lan.sent_since(mark, |sent| match &sent.packet.message {
            Message::Flood(flood)
                if !flood.no_ack
                    && flood
                        .route_entry
                        .as_ref()
                        .is_some_and(|entry| entry.pnrp_id == two)
                    && sent.from != at(2) =>
            {
                Some((sent.from, sent.to))
            }
            _ => None,
        });
    assert!(
        told.iter().any(|(from, to)| *from != at(2) && *to != at(2)),
        "{told:?}"
    );
    assert!(lan.caches(0, &two) && lan.caches(1, &two));
}

#[test]
fn a_revoke_removes_the_entry_only_when_genuine() {
    let mut lan = Lan::new(2);
    let zero = lan.register(0, "zero");
    lan.register(1, "one");
    lan.run_for(std::time::Duration::from_secs(2));
    assert!(lan.caches(1, &zero));
    // Node 0 withdraws its name while node 1 does not hear: the revoke is kept aside.
    lan.down.insert(1);
    let mark = lan.sent.len();
    let name = "0.zero".parse().unwrap();
    lan.nodes[0].unregister(lan.now, &name);
    lan.deliver();
    let revoke = lan
        .sent_since(mark, |sent| match &sent.packet.message {
            Message::Flood(flood) if sent.to == at(1) => flood.revoke_cpa.clone(),
            _ => None,
        })
        .pop()
        .expect("a revoke to the neighbour");
    lan.down.remove(&1);
    // Its signature borrowed from another CPA: refused.
    let other = cpa(&name, zero.service_location(), [0; 16], at(0));
    let forged = Cpa::forge(
        revoke.fields(),
        revoke.public_key().clone(),
        other.signature().clone(),
    );
    let revoke_flood = |cpa: Cpa| {
        Message::Flood(Flood {
            no_ack: true,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: Some(Box::new(cpa)),
            route_entry: None,
            already_flooded: BoundedVec::empty(),
        })
    };
    let now = lan.now;
    lan.nodes[1].handle_datagram(now, at(0), &encode(50, revoke_flood(forged)));
    assert!(lan.caches(1, &zero));
    assert_eq!(lan.nodes[1].counters().bad_cpas, 1);
    // The genuine revoke.
    lan.nodes[1].handle_datagram(now, at(0), &encode(51, revoke_flood(*revoke)));
    assert!(!lan.caches(1, &zero));
}
