//! Joining (`join`): SOLICIT, ADVERTISE, REQUEST, FLOOD, and only with the nonce that proves the
//! conversation.

use std::time::Instant;

use pnrp_shared::PnrpId;
use sha1::{Digest, Sha1};

use super::{at, config, drain, encode, Lan};
use crate::cloud::Cloud;
use crate::wire::{
    Advertise, BoundedVec, Message, Packet, Request, RouteEntry, Solicit, SolicitType,
};

#[test]
fn a_node_joins_through_its_seed_and_learns_what_it_advertises() {
    let mut lan = Lan::new(1);
    let zero = lan.register(0, "zero");
    let mark = lan.sent.len();
    lan.add(1, vec![at(0)]);
    let between = |from: usize, to: usize| {
        move |sent: &super::Sent| {
            (sent.from == at(from) && sent.to == at(to)).then(|| sent.packet.message.clone())
        }
    };
    let from_joiner = lan.sent_since(mark, between(1, 0));
    let from_seed = lan.sent_since(mark, between(0, 1));
    assert!(
        matches!(from_joiner.first(), Some(Message::Solicit(_))),
        "{from_joiner:?}"
    );
    assert!(from_seed.iter().any(|message| matches!(
        message,
        Message::Advertise(advertise) if advertise.ids.contains(&zero)
    )));
    assert!(from_joiner.iter().any(
        |message| matches!(message, Message::Request(request) if request.ids.contains(&zero))
    ));
    assert!(from_seed.iter().any(|message| matches!(
        message,
        Message::Flood(flood) if flood.route_entry.as_ref().is_some_and(|entry| entry.pnrp_id == zero)
    )));
    assert!(lan.caches(1, &zero), "admitted once its CPA was checked");
}

/// A lone node with a seed it cannot reach: the SOLICIT it sent, and its hashed nonce.
fn joiner() -> (Cloud, Instant, u32, [u8; 20]) {
    let now = Instant::now();
    let mut cloud = Cloud::new(config(1, vec![at(0)], now), now);
    cloud.set_local_endpoints(now, vec![at(1)]);
    let transmit = cloud.poll_transmit().expect("a SOLICIT");
    assert_eq!(transmit.to, at(0));
    let packet = Packet::decode(&transmit.bytes).unwrap();
    let Message::Solicit(Solicit { hashed_nonce, .. }) = packet.message else {
        panic!("{packet:?}");
    };
    (cloud, now, packet.message_id, hashed_nonce)
}

fn advertise(acked: u32, hashed_nonce: [u8; 20]) -> Vec<u8> {
    Packet {
        message_id: 99,
        message: Message::Advertise(Advertise {
            acked_message_id: acked,
            ids: BoundedVec::truncating(vec![PnrpId([5; 32])]).unwrap(),
            hashed_nonce,
        }),
    }
    .encode()
}

fn requests_sent(cloud: &mut Cloud) -> usize {
    drain(cloud)
        .iter()
        .filter(|(_, message)| matches!(message, Message::Request(_)))
        .count()
}

#[test]
fn only_the_seeds_advertise_with_our_nonce_is_followed() {
    let (mut cloud, now, solicit, hashed_nonce) = joiner();
    // Another nonce, another sender, another message ID: all ignored.
    cloud.handle_datagram(now, at(0), &advertise(solicit, [0; 20]));
    cloud.handle_datagram(now, at(7), &advertise(solicit, hashed_nonce));
    cloud.handle_datagram(now, at(0), &advertise(solicit ^ 1, hashed_nonce));
    assert_eq!(requests_sent(&mut cloud), 0);
    cloud.handle_datagram(now, at(0), &advertise(solicit, hashed_nonce));
    assert_eq!(requests_sent(&mut cloud), 1, "the REQUEST follows");
    cloud.handle_datagram(now, at(0), &advertise(solicit, hashed_nonce));
    assert_eq!(requests_sent(&mut cloud), 0, "once");
}

#[test]
fn a_request_needs_the_nonce_of_its_solicit() {
    let mut lan = Lan::new(1);
    let zero = lan.register(0, "zero");
    let node = &mut lan.nodes[0];
    let now = lan.now;
    let request = |nonce: [u8; 16]| {
        Packet {
            message_id: 5,
            message: Message::Request(Request {
                nonce,
                ids: BoundedVec::truncating(vec![zero]).unwrap(),
            }),
        }
        .encode()
    };
    // No conversation: nothing.
    node.handle_datagram(now, at(4), &request([1; 16]));
    assert!(node.poll_transmit().is_none());
    // A SOLICIT hashing one nonce, a REQUEST with another: only the ADVERTISE goes.
    let joiner = RouteEntry {
        pnrp_id: PnrpId([0x77; 32]),
        port: 3540,
        addresses: BoundedVec::truncating(vec![*at(4).ip()]).unwrap(),
    };
    let solicit = Packet {
        message_id: 4,
        message: Message::Solicit(Solicit {
            solicit_type: None,
            route_entry: Some(joiner.clone()),
            hashed_nonce: Sha1::digest([1u8; 16]).into(),
        }),
    };
    node.handle_datagram(now, at(4), &solicit.encode());
    node.handle_datagram(now, at(4), &request([2; 16]));
    let answers = drain(node);
    // (An INQUIRE checks the joiner's own route entry; nothing else but the ADVERTISE goes.)
    assert!(
        answers
            .iter()
            .all(|(_, message)| matches!(message, Message::Advertise(_) | Message::Inquire(_))),
        "{answers:?}"
    );
    // The right nonce: acknowledged, and the FLOODs that answer name the joiner's ID.
    node.handle_datagram(now, at(4), &request([1; 16]));
    let answers = drain(node);
    assert!(
        matches!(answers.first(), Some((_, Message::Ack(_)))),
        "{answers:?}"
    );
    assert!(answers.iter().any(|(to, message)| *to == at(4)
        && matches!(message, Message::Flood(flood) if flood.validate_id == joiner.pnrp_id)));
}

#[test]
fn solicit_type_local_gets_only_our_own_ids() {
    let mut lan = Lan::new(3);
    let ids = [
        lan.register(0, "zero"),
        lan.register(1, "one"),
        lan.register(2, "two"),
    ];
    lan.run_for(std::time::Duration::from_secs(2));
    let now = lan.now;
    let ask = |solicit_type| {
        encode(
            9,
            Message::Solicit(Solicit {
                solicit_type: Some(solicit_type),
                route_entry: None,
                hashed_nonce: [5; 20],
            }),
        )
    };
    let advertised = |node: &mut Cloud| -> Vec<PnrpId> {
        drain(node)
            .into_iter()
            .find_map(|(_, message)| match message {
                Message::Advertise(advertise) => Some(advertise.ids.to_vec()),
                _ => None,
            })
            .expect("an ADVERTISE")
    };
    lan.nodes[0].handle_datagram(now, at(5), &ask(SolicitType::Local));
    assert_eq!(advertised(&mut lan.nodes[0]), vec![ids[0]]);
    lan.nodes[0].handle_datagram(now, at(6), &ask(SolicitType::Any));
    let any = advertised(&mut lan.nodes[0]);
    assert!(any.contains(&ids[1]) && any.contains(&ids[2]), "{any:?}");
}
