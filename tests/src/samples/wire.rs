//! Sample PNRP messages: at least one of each type, most with every optional field, built with
//! the public `pnrp_proto::wire` API.
//!
//! They also suit the Wireshark referee (`system/tshark.rs`): every AUTHORITY acks the message it
//! answers, and the revoke CPA and the extended payload are a multiple of 4 bytes long, because
//! Wireshark 4.0 skips no padding after REVOKE_CPA or EXTENDED_PAYLOAD (docs/PROTOCOL.md).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use ed25519_dalek::SigningKey;
use pnrp_proto::wire::{
    service_location, service_location_prefix, Ack, Advertise, AppEndpoint, AuthorityBuffer,
    BoundedVec, Classifier, Cpa, CpaFields, CpaPublicKey, Endpoint, ExtendedData, ExtendedPayload,
    ExtendedPayloadFields, ExtendedText, Flood, FriendlyName, Inquire, Lookup, Message, Packet,
    Request, ResolveCriteria, ResolveReason, RouteEntry, Solicit, SolicitType,
};
use pnrp_shared::{PeerName, PnrpId};
use sha1::{Digest, Sha1};

/// Now: 2025-01-01T00:00:00Z as FILETIME.
pub const NOW: u64 = 116_444_736_000_000_000 + 1_735_689_600 * 10_000_000;
/// A day in FILETIME ticks.
pub const DAY: u64 = 86_400 * 10_000_000;

/// The Ed25519 key made of 32 `seed` bytes.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A PNRP ID derived from `seed`.
pub fn pnrp_id(seed: u8) -> PnrpId {
    let mut id = [0u8; 32];
    id.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = seed.wrapping_mul(31).wrapping_add(i as u8));
    PnrpId(id)
}

/// `fd00:0:0:10::n`.
pub fn addr(n: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0, 0, 0x10, 0, 0, 0, n)
}

/// `[fd00:0:0:10::n]:3540`.
pub fn endpoint(n: u16) -> Endpoint {
    Endpoint {
        port: 3540,
        address: addr(n),
    }
}

/// A route entry for `pnrp_id(seed)` at `addresses` addresses.
pub fn route(seed: u8, addresses: u16) -> RouteEntry {
    RouteEntry {
        pnrp_id: pnrp_id(seed),
        port: 3540,
        addresses: BoundedVec::new((1..=addresses).map(addr).collect()).unwrap(),
    }
}

/// `<hex of the key's authority>.printer`.
pub fn secured_name(key: &SigningKey) -> PeerName {
    let hash = CpaPublicKey::of(key).authority_hash();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.printer").parse().unwrap()
}

/// The fields of a CPA for `name` with every optional part: a friendly name, two service
/// addresses (IPv6 and IPv4) and two application endpoints, valid for a week from [`NOW`].
pub fn cpa_fields(name: &PeerName, key: &SigningKey, nonce: [u8; 16]) -> CpaFields {
    let services = vec![
        endpoint(1),
        Endpoint::from(SocketAddr::from(([192, 0, 2, 7], 3540))),
    ];
    let location = service_location(
        service_location_prefix(&addr(1)),
        &CpaPublicKey::of(key),
        &services,
        0x5a,
    );
    let mut fields = CpaFields::for_name(name, location, NOW + 7 * DAY, nonce);
    fields.friendly_name = FriendlyName::utf8("Büro printer");
    fields.service_addresses = BoundedVec::new(services).unwrap();
    fields.app_endpoints = Some(
        BoundedVec::new(vec![
            AppEndpoint {
                address: addr(1),
                port: 631,
                protocol: 6,
            },
            AppEndpoint {
                address: Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped(),
                port: 9100,
                protocol: 6,
            },
        ])
        .unwrap(),
    );
    fields
}

/// A secured name's CPA, signed with `key(1)` under the nonce `[0x42; 16]`.
pub fn sample_cpa() -> Cpa {
    let key = key(1);
    let name = secured_name(&key);
    Cpa::sign(cpa_fields(&name, &key, [0x42; 16]), &key)
}

/// A revoke CPA for `0.myapp`, a multiple of 4 bytes long.
pub fn revoke_cpa() -> Cpa {
    let key = key(2);
    let name: PeerName = "0.myapp".parse().unwrap();
    (0..4)
        .map(|extra| {
            let mut fields = cpa_fields(&name, &key, [0; 16]);
            fields.revoke = true;
            fields.app_endpoints = None;
            fields.friendly_name = FriendlyName::utf8(&format!("gone{}", "!".repeat(extra)));
            Cpa::sign(fields, &key)
        })
        .find(|cpa| cpa.as_bytes().len() % 4 == 0)
        .expect("a length that is a multiple of 4")
}

/// A UTF-16 EXTENDED_PAYLOAD for `cpa`, signed with `key`, a multiple of 4 bytes long.
pub fn sample_extended(cpa: &Cpa, key: &SigningKey) -> ExtendedPayload {
    (0..8)
        .map(|pad| {
            ExtendedPayload::sign(
                ExtendedPayloadFields {
                    not_after: NOW + DAY,
                    pnrp_id: cpa.pnrp_id(),
                    nonce: cpa.fields().nonce,
                    data: ExtendedData::Text(
                        ExtendedText::utf16(&format!("colour, duplex, A4{}", ".".repeat(pad)))
                            .unwrap(),
                    ),
                },
                key,
            )
        })
        .find(|payload| payload.as_bytes().len() % 4 == 0)
        .expect("a length that is a multiple of 4")
}

/// The AUTHORITY_BUFFER of a secured name with everything: signed CPA, extended payload,
/// classifier, route entry and (when not 0) a `cert_chain_len`-byte certificate chain.
pub fn full_buffer(cert_chain_len: usize) -> AuthorityBuffer {
    let key = key(1);
    let mut fields = cpa_fields(&secured_name(&key), &key, [0x42; 16]);
    fields.has_extended_payload = true;
    let cpa = Cpa::sign(fields, &key);
    AuthorityBuffer {
        leaf_set: true,
        busy: false,
        not_found: false,
        cert_chain: (cert_chain_len > 0).then(|| {
            BoundedVec::new((0..cert_chain_len).map(|i| (i % 251) as u8).collect()).unwrap()
        }),
        classifier: Some(Classifier::new("printer").unwrap()),
        extended_payload: Some(sample_extended(&cpa, &key)),
        route_entry: Some(RouteEntry {
            pnrp_id: cpa.pnrp_id(),
            port: 3540,
            addresses: BoundedVec::new(vec![addr(1)]).unwrap(),
        }),
        cpa: Some(cpa),
    }
}

/// At least one packet of each type, most with every optional field, as one node's side of a
/// small run: discovery, a flood with a revoke, inquiries and lookups with their AUTHORITY
/// answers (one not-found, one small, one fragmented) and ACKs.
pub fn packets() -> Vec<Packet> {
    let hashed_nonce: [u8; 20] = Sha1::digest([7u8; 16]).into();
    let mut packets = vec![
        Packet {
            message_id: 1,
            message: Message::Solicit(Solicit {
                solicit_type: Some(SolicitType::Local),
                route_entry: Some(route(1, 3)),
                hashed_nonce,
            }),
        },
        Packet {
            message_id: 2,
            message: Message::Solicit(Solicit {
                solicit_type: None,
                route_entry: None,
                hashed_nonce: [9; 20],
            }),
        },
        Packet {
            message_id: 3,
            message: Message::Advertise(Advertise {
                acked_message_id: 1,
                ids: BoundedVec::new((1..=5).map(pnrp_id).collect()).unwrap(),
                hashed_nonce,
            }),
        },
        Packet {
            message_id: 4,
            message: Message::Advertise(Advertise {
                acked_message_id: 2,
                ids: BoundedVec::empty(),
                hashed_nonce: [9; 20],
            }),
        },
        Packet {
            message_id: 5,
            message: Message::Request(Request {
                nonce: [7; 16],
                ids: BoundedVec::new(vec![pnrp_id(2), pnrp_id(4)]).unwrap(),
            }),
        },
        Packet {
            message_id: 6,
            message: Message::Flood(Flood {
                no_ack: false,
                validate_id: pnrp_id(8),
                revoke_cpa: Some(Box::new(revoke_cpa())),
                route_entry: Some(route(3, 2)),
                already_flooded: BoundedVec::new(vec![endpoint(7), endpoint(8), endpoint(9)])
                    .unwrap(),
            }),
        },
        Packet {
            message_id: 7,
            message: Message::Flood(Flood {
                no_ack: true,
                validate_id: PnrpId([0; 32]),
                revoke_cpa: None,
                route_entry: Some(route(4, 1)),
                already_flooded: BoundedVec::empty(),
            }),
        },
        Packet {
            message_id: 8,
            message: Message::Inquire(Inquire {
                want_cpa: true,
                want_extended_payload: true,
                want_cert_chain: false,
                validate_id: pnrp_id(5),
                nonce: Some([0x42; 16]),
            }),
        },
        Packet {
            message_id: 9,
            message: Message::Inquire(Inquire {
                want_cpa: false,
                want_extended_payload: false,
                want_cert_chain: true,
                validate_id: pnrp_id(6),
                nonce: None,
            }),
        },
        Packet {
            message_id: 11,
            message: Message::Ack(Ack {
                acked_message_id: 5,
                not_found: None,
            }),
        },
        Packet {
            message_id: 12,
            message: Message::Ack(Ack {
                acked_message_id: 6,
                not_found: Some(true),
            }),
        },
        Packet {
            message_id: 13,
            message: Message::Lookup(Lookup {
                accept_not_closer: true,
                precision: 128,
                criteria: ResolveCriteria::UpperBits,
                reason: ResolveReason::Registration,
                target: pnrp_id(10),
                validate_id: pnrp_id(11),
                route_entry: Some(route(12, 4)),
                flagged_path: BoundedVec::new(vec![endpoint(1), endpoint(2)]).unwrap(),
            }),
        },
        Packet {
            message_id: 14,
            message: Message::Lookup(Lookup {
                accept_not_closer: false,
                precision: 0,
                criteria: ResolveCriteria::AnyPeerName,
                reason: ResolveReason::CacheMaintenance,
                target: pnrp_id(13),
                validate_id: PnrpId([0; 32]),
                route_entry: None,
                flagged_path: BoundedVec::new(vec![endpoint(3)]).unwrap(),
            }),
        },
    ];
    let small = AuthorityBuffer {
        cpa: Some(sample_cpa()),
        route_entry: Some(route(5, 2)),
        classifier: Some(Classifier::new("printer").unwrap()),
        ..AuthorityBuffer::not_found()
    };
    for (message_id, acked, buffer) in [
        (15, 9, AuthorityBuffer::not_found()),
        (16, 14, small),
        (17, 8, full_buffer(3000)),
    ] {
        for fragment in buffer.fragments(acked) {
            packets.push(Packet {
                message_id,
                message: Message::Authority(fragment),
            });
        }
    }
    packets
}
