//! The PNRP wire codec (`pnrp_proto::wire`) through its public API: round trips,
//! hand-computed encodings, hostile input, CPA signing and validation, fragmentation.

use std::net::SocketAddr;

use pnrp_shared::id::classifier_hash;
use pnrp_shared::{P2pId, PeerName, PnrpId, ServiceLocation};
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};

use pnrp_proto::wire::*;
use pnrp_tests::samples::wire::*;

fn kind(result: Result<impl core::fmt::Debug, WireError>) -> WireErrorKind {
    result.expect_err("should be rejected").kind
}

// ---------------------------------------------------------------------------------------------
// Round trips and exact bytes

#[test]
fn every_message_round_trips() {
    let packets = packets();
    let mut seen = std::collections::HashSet::new();
    for packet in &packets {
        seen.insert(packet.message.message_type() as u8);
        let bytes = packet.encode();
        assert_eq!(
            Header::decode(&bytes).unwrap().message_id,
            packet.message_id
        );
        let decoded = Packet::decode(&bytes).unwrap_or_else(|e| panic!("{packet:?}: {e}"));
        assert_eq!(&decoded, packet);
        assert_eq!(decoded.encode(), bytes);
    }
    assert_eq!(seen.len(), 8, "every message type is exercised");
    // A reason code the spec does not name is kept as it is.
    let mut unnamed = packets[12].clone();
    let Message::Lookup(lookup) = &mut unnamed.message else {
        panic!("{unnamed:?}");
    };
    lookup.reason = ResolveReason::Other(0x77);
    assert_eq!(Packet::decode(&unnamed.encode()).unwrap(), unnamed);
}

#[test]
fn authority_buffers_round_trip() {
    let key = key(3);
    let cpa = sample_cpa();
    let binary = ExtendedPayload::sign(
        ExtendedPayloadFields {
            not_after: NOW + DAY,
            pnrp_id: pnrp_id(1),
            nonce: [1; 16],
            data: ExtendedData::Binary(BoundedVec::new(vec![0, 1, 2, 0, 255]).unwrap()),
        },
        &key,
    );
    let utf8 = ExtendedPayload::sign(
        ExtendedPayloadFields {
            not_after: NOW + DAY,
            pnrp_id: pnrp_id(1),
            nonce: [1; 16],
            data: ExtendedData::Text(ExtendedText::utf8("héllo").unwrap()),
        },
        &key,
    );
    let buffers = [
        AuthorityBuffer::not_found(),
        full_buffer(0),
        full_buffer(5000),
        AuthorityBuffer {
            busy: true,
            extended_payload: Some(binary),
            classifier: Some(Classifier::new("").unwrap()),
            cpa: Some(cpa.clone()),
            ..AuthorityBuffer::not_found()
        },
        AuthorityBuffer {
            extended_payload: Some(utf8),
            classifier: Some(Classifier::new("My.App.café😀").unwrap()),
            ..AuthorityBuffer::not_found()
        },
    ];
    for buffer in buffers {
        let bytes = buffer.encode();
        let decoded = AuthorityBuffer::decode(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded, buffer);
        assert_eq!(decoded.encode(), bytes);
    }
    // The flags-only reply is 8 bytes (Padding1 included); the 6-byte form is accepted too.
    let not_found = AuthorityBuffer::not_found().encode();
    assert_eq!(not_found, [0x00, 0x40, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00]);
    assert_eq!(
        AuthorityBuffer::decode(&not_found[..6]).unwrap(),
        AuthorityBuffer::not_found()
    );
}

#[test]
fn header_bytes_match_the_spec() {
    let header = Header {
        message_type: MessageType::Lookup,
        message_id: 0x0102_0304,
    };
    let bytes = header.encode();
    assert_eq!(
        bytes,
        [0x00, 0x10, 0x00, 0x0C, 0x51, 0x04, 0x00, 0x0B, 0x01, 0x02, 0x03, 0x04]
    );
    assert_eq!(Header::decode(&bytes).unwrap(), header);
    let with = |index: usize, value: u8| {
        let mut bad = bytes;
        bad[index] = value;
        Header::decode(&bad)
    };
    assert!(matches!(
        kind(with(1, 0x11)),
        WireErrorKind::UnexpectedField { found: 0x0011, .. }
    ));
    assert!(matches!(
        kind(with(3, 0x0D)),
        WireErrorKind::Truncated { .. }
    ));
    assert!(matches!(
        kind(with(3, 0x0B)),
        WireErrorKind::BadValue { found: 11, .. }
    ));
    assert!(matches!(
        kind(with(4, 0x52)),
        WireErrorKind::BadValue {
            field: "Identifier",
            ..
        }
    ));
    assert!(matches!(
        kind(with(5, 0x03)),
        WireErrorKind::BadValue {
            field: "Version",
            ..
        }
    ));
    let error = with(7, 0x05).unwrap_err();
    assert_eq!(error.offset, 7);
    assert!(matches!(
        error.kind,
        WireErrorKind::BadValue {
            field: "MessageType",
            ..
        }
    ));
}

#[test]
fn ack_bytes_match_the_spec() {
    let packet = Packet {
        message_id: 0x0000_0007,
        message: Message::Ack(Ack {
            acked_message_id: 0xA1B2_C3D4,
            not_found: Some(true),
        }),
    };
    let expected: Vec<u8> = [
        &[
            0x00, 0x10, 0x00, 0x0C, 0x51, 0x04, 0x00, 0x09, 0x00, 0x00, 0x00, 0x07,
        ][..],
        &[0x00, 0x18, 0x00, 0x08, 0xA1, 0xB2, 0xC3, 0xD4],
        &[0x00, 0x40, 0x00, 0x06, 0x00, 0x01],
    ]
    .concat();
    assert_eq!(packet.encode(), expected);
    assert_eq!(Packet::decode(&expected).unwrap(), packet);
}

#[test]
fn request_bytes_match_the_spec() {
    let packet = Packet {
        message_id: 0xDEAD_BEEF,
        message: Message::Request(Request {
            nonce: [0x11; 16],
            ids: BoundedVec::new(vec![PnrpId([0xAB; 32])]).unwrap(),
        }),
    };
    let mut expected = vec![
        0x00, 0x10, 0x00, 0x0C, 0x51, 0x04, 0x00, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, // header
        0x00, 0x93, 0x00, 0x14, // NONCE, 20
    ];
    expected.extend([0x11; 16]);
    expected.extend([
        0x00, 0x60, 0x00, 0x2C, // PNRP_ID_ARRAY, 12 + 32
        0x00, 0x01, 0x00, 0x28, // NumEntries 1, ArrayLength 8 + 32
        0x00, 0x30, 0x00, 0x20, // PNRP_ID, 32
    ]);
    expected.extend([0xAB; 32]);
    assert_eq!(packet.encode(), expected);
    assert_eq!(Packet::decode(&expected).unwrap(), packet);
}

#[test]
fn flood_and_solicit_pad_fields_to_four_bytes() {
    let packet = Packet {
        message_id: 1,
        message: Message::Flood(Flood {
            no_ack: true,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: None,
            route_entry: None,
            already_flooded: BoundedVec::new(vec![endpoint(1)]).unwrap(),
        }),
    };
    let bytes = packet.encode();
    // FLOOD_CONTROLS: Length 7, D bit, Reserved2, then one byte of padding.
    assert_eq!(
        &bytes[12..20],
        &[0x00, 0x43, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00]
    );
    assert_eq!(&bytes[20..24], &[0x00, 0x39, 0x00, 0x24]);
    // The final endpoint array (12 + 18 = 30 bytes) is not padded.
    assert_eq!(&bytes[56..60], &[0x00, 0x9E, 0x00, 30]);
    assert_eq!(bytes.len(), 56 + 30);

    let solicit = Packet {
        message_id: 1,
        message: Message::Solicit(Solicit {
            solicit_type: Some(SolicitType::Any),
            route_entry: None,
            hashed_nonce: [0; 20],
        }),
    }
    .encode();
    assert_eq!(
        &solicit[12..24],
        &[0x00, 0x44, 0x00, 0x06, 0, 0, 0, 0, 0x00, 0x92, 0x00, 0x18]
    );
}

#[test]
fn cpa_layout_follows_the_spec() {
    let key = key(1);
    let cpa = sample_cpa();
    let bytes = cpa.as_bytes();
    assert_eq!(
        usize::from(u16::from_le_bytes([bytes[0], bytes[1]])),
        bytes.len()
    );
    assert_eq!(&bytes[2..6], &[0x00, 0x02, 0x00, 0x04]);
    // F, C, A and U set; X and R clear.
    assert_eq!(bytes[6], 0x10 | 0x08 | 0x04 | 0x02);
    assert_eq!(&bytes[8..16], &(NOW + 7 * DAY).to_le_bytes());
    // Service Location and BinaryAuthority travel least significant byte first.
    let mut location = cpa.fields().service_location.0;
    location.reverse();
    assert_eq!(&bytes[16..32], &location);
    assert_eq!(&bytes[32..48], &[0x42; 16]);
    let mut authority = CpaPublicKey::of(&key).authority_hash();
    authority.reverse();
    assert_eq!(&bytes[48..68], &authority);
    assert_eq!(&bytes[68..88], &classifier_hash("printer"));
    // The Public Key: 61 = 9 + 20 + 32 bytes, OID "1.3.101.112" NUL-padded to the 0x14 bytes
    // §2.2.3.1.4 fixes; the SIGNATURE: 72 = 8 + 64.
    let signature = &bytes[bytes.len() - 72..];
    assert_eq!(&signature[..8], &[72, 0, 64, 0, 0x04, 0x80, 0, 0]);
    let public_key = &bytes[bytes.len() - 72 - 61..bytes.len() - 72];
    assert_eq!(&public_key[..9], &[61, 0, 0x14, 0, 0, 0, 32, 0, 0]);
    assert_eq!(&public_key[9..29], b"1.3.101.112\0\0\0\0\0\0\0\0\0");
    assert_eq!(&public_key[29..], key.verifying_key().as_bytes());
    assert_eq!(cpa.signed_bytes(), &bytes[..bytes.len() - 72]);
}

// ---------------------------------------------------------------------------------------------
// Hostile input

#[test]
fn every_truncation_is_rejected_or_a_shorter_valid_message() {
    for packet in packets() {
        let bytes = packet.encode();
        for len in 0..bytes.len() {
            match Packet::decode(&bytes[..len]) {
                Err(_) => {}
                // Only a message whose last field is optional can end earlier, and then exactly
                // at a field boundary: INQUIRE without its NONCE, ACK without its flags.
                Ok(shorter) => {
                    assert_eq!(shorter.encode(), &bytes[..len], "{packet:?} at {len}");
                    assert!(
                        matches!(shorter.message, Message::Inquire(_) | Message::Ack(_)),
                        "{packet:?} truncated to {len} decoded as {shorter:?}"
                    );
                }
            }
        }
    }
    for buffer in [full_buffer(2000), AuthorityBuffer::not_found()] {
        let bytes = buffer.encode();
        for len in 0..bytes.len() {
            if let Ok(shorter) = AuthorityBuffer::decode(&bytes[..len]) {
                // Only optional trailing fields may be cut off, whole.
                assert!(bytes.starts_with(&shorter.encode()), "{len}");
            }
        }
    }
}

#[test]
fn random_mutations_never_panic() {
    let mut rng = SmallRng::seed_from_u64(0x504e_5250);
    let packets: Vec<Vec<u8>> = packets().iter().map(Packet::encode).collect();
    let buffers = [
        full_buffer(100).encode(),
        AuthorityBuffer::not_found().encode(),
    ];
    let mut accepted = 0;
    for round in 0..20_000 {
        let source = if round % 5 == 0 {
            &buffers[round % buffers.len()]
        } else {
            &packets[rng.gen_range(0..packets.len())]
        };
        let mut bytes = source.clone();
        for _ in 0..rng.gen_range(1..=4) {
            let index = rng.gen_range(0..bytes.len());
            bytes[index] = match rng.gen_range(0..4) {
                0 => bytes[index] ^ (1 << rng.gen_range(0..8)),
                1 => 0,
                2 => 0xFF,
                _ => rng.gen(),
            };
        }
        match rng.gen_range(0..10) {
            0 => bytes.truncate(rng.gen_range(0..bytes.len())),
            1 => bytes.extend((0..rng.gen_range(1..8)).map(|_| rng.gen::<u8>())),
            _ => {}
        }
        if round % 5 == 0 {
            if let Ok(buffer) = AuthorityBuffer::decode(&bytes) {
                accepted += 1;
                assert_eq!(AuthorityBuffer::decode(&buffer.encode()).unwrap(), buffer);
                if let Some(cpa) = &buffer.cpa {
                    let _ = cpa.validate(NOW, &CpaCheck::default());
                }
            }
        } else if let Ok(packet) = Packet::decode(&bytes) {
            accepted += 1;
            assert_eq!(Packet::decode(&packet.encode()).unwrap(), packet);
            if let Message::Flood(Flood {
                revoke_cpa: Some(cpa),
                ..
            }) = &packet.message
            {
                let _ = cpa.validate(NOW, &CpaCheck::default());
            }
        }
    }
    // Mutations of reserved bits and payload bytes are legal, so some survive.
    assert!(accepted > 100, "{accepted}");
}

fn header(kind: u8) -> Vec<u8> {
    vec![0x00, 0x10, 0x00, 0x0C, 0x51, 0x04, 0x00, kind, 0, 0, 0, 1]
}

#[test]
fn oversize_counts_are_rejected_before_reading_entries() {
    // ADVERTISE claiming 0x7FFF IDs (the spec's maximum) in a 12-byte array.
    let mut bytes = header(0x02);
    bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 1]);
    bytes.extend([
        0x00, 0x60, 0x00, 0x0C, 0x7F, 0xFF, 0x00, 0x08, 0x00, 0x30, 0x00, 0x20,
    ]);
    let error = Packet::decode(&bytes).unwrap_err();
    assert_eq!(error.offset, 24);
    assert!(matches!(
        error.kind,
        WireErrorKind::CountOutOfRange { found: 0x7FFF, .. }
    ));
    // 2 IDs claimed, consistent ArrayLength, but Length promises bytes that are not there.
    let mut short = bytes.clone();
    short.truncate(20);
    short.extend([
        0x00, 0x60, 0x00, 76, 0x00, 0x02, 0x00, 72, 0x00, 0x30, 0x00, 0x20,
    ]);
    short.extend([0u8; 40]);
    assert!(matches!(
        kind(Packet::decode(&short)),
        WireErrorKind::Truncated { .. }
    ));
    // ArrayLength that disagrees with NumEntries.
    let mut inconsistent = bytes.clone();
    inconsistent.truncate(20);
    inconsistent.extend([
        0x00, 0x60, 0x00, 44, 0x00, 0x01, 0x00, 0x30, 0x00, 0x30, 0x00, 0x20,
    ]);
    inconsistent.extend([0u8; 32]);
    assert!(matches!(
        kind(Packet::decode(&inconsistent)),
        WireErrorKind::Inconsistent { .. }
    ));
    // Wrong EntryLength.
    let mut entry = inconsistent.clone();
    entry[26] = 0x00;
    entry[27] = 0x28;
    entry[31] = 0x21;
    assert!(matches!(
        kind(Packet::decode(&entry)),
        WireErrorKind::BadValue { .. }
    ));

    // FLOOD with 23 already-flooded endpoints (max 22).
    let mut flood = Packet {
        message_id: 1,
        message: Message::Flood(Flood {
            no_ack: true,
            validate_id: PnrpId([0; 32]),
            revoke_cpa: None,
            route_entry: None,
            already_flooded: BoundedVec::new(vec![endpoint(1); 22]).unwrap(),
        }),
    }
    .encode();
    let at = flood.len() - 22 * 18 - 8;
    flood[at + 1] = 23;
    flood[at + 3] = (8 + 23 * 18) as u8;
    flood[at - 1] = (12 + 23 * 18 - 256) as u8;
    flood.extend([0u8; 18]);
    assert!(matches!(
        kind(Packet::decode(&flood)),
        WireErrorKind::CountOutOfRange {
            found: 23,
            max: 22,
            ..
        }
    ));

    // LOOKUP with an empty flagged path (min 1).
    let mut lookup = packets()[11].encode();
    let path = lookup.len() - 2 * 18 - 12;
    lookup.truncate(path);
    lookup.extend([0x00, 0x9E, 0x00, 12, 0, 0, 0, 8, 0x00, 0x9D, 0x00, 18]);
    assert!(matches!(
        kind(Packet::decode(&lookup)),
        WireErrorKind::CountOutOfRange {
            found: 0,
            min: 1,
            ..
        }
    ));

    // ROUTE_ENTRY with 21 addresses (max 20).
    let mut solicit = header(0x01);
    solicit.extend([0x00, 0x9A, 0x01, 0x7A]);
    solicit.extend([0u8; 32]);
    solicit.extend([4, 0, 0x0D, 0xD4, 0, 21]);
    solicit.extend([0u8; 21 * 16]);
    assert_eq!(solicit.len(), 12 + 0x17A);
    assert!(matches!(
        kind(Packet::decode(&solicit)),
        WireErrorKind::CountOutOfRange { found: 21, .. }
    ));
}

#[test]
fn fixed_lengths_field_ids_and_authority_limits_are_enforced() {
    let inquire = packets()[7].encode();
    let mut bad = inquire.clone();
    bad[15] = 0x08; // FLAGS_FIELD Length 6 → 8
    assert!(matches!(
        kind(Packet::decode(&bad)),
        WireErrorKind::BadValue { .. }
    ));
    let mut bad = inquire.clone();
    bad[21] = 0x38; // VALIDATE_PNRP_ID → TARGET_PNRP_ID
    let error = Packet::decode(&bad).unwrap_err();
    assert_eq!(error.offset, 20);
    assert!(matches!(
        error.kind,
        WireErrorKind::UnexpectedField {
            expected: 0x39,
            found: 0x38,
            ..
        }
    ));
    let mut bad = inquire.clone();
    bad.extend([0, 0, 0, 0, 1]);
    assert!(matches!(
        kind(Packet::decode(&bad)),
        WireErrorKind::TrailingBytes { .. }
    ));

    let authority = |size: u16, offset: u16, len: usize| {
        let mut bytes = header(0x08);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 1, 0x00, 0x98, 0x00, 0x08]);
        bytes.extend(size.to_be_bytes());
        bytes.extend(offset.to_be_bytes());
        bytes.extend(vec![0u8; len]);
        Packet::decode(&bytes)
    };
    assert!(authority(2000, 1188, 812).is_ok());
    assert!(authority(0x91E4, 0x91E4 / 1188 * 1188, 0x91E4 % 1188).is_ok());
    assert!(matches!(
        kind(authority(0x91E5, 0, 1188)),
        WireErrorKind::CountOutOfRange { found: 0x91E5, .. }
    ));
    assert!(matches!(
        kind(authority(2000, 1000, 1000)),
        WireErrorKind::BadValue { found: 1000, .. }
    ));
    // Fragments longer than 1188, short non-final ones, and ones past Size.
    for (size, offset, len) in [
        (2000, 0, 1189),
        (3000, 0, 1000),
        (2000, 2376, 10),
        (10, 0, 0),
    ] {
        assert!(
            authority(size, offset, len).is_err(),
            "{size} {offset} {len}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CPAs

#[test]
fn signed_cpa_validates_and_names_the_right_id() {
    let key = key(1);
    let name = secured_name(&key);
    let cpa = sample_cpa();
    let expected = PnrpId::new(P2pId::of(&name), cpa.fields().service_location);
    assert_eq!(cpa.pnrp_id(), expected);
    let check = CpaCheck {
        pnrp_id: Some(expected),
        nonce: Some([0x42; 16]),
        ..CpaCheck::default()
    };
    cpa.validate(NOW, &check).unwrap();
    // Through the wire and back, verified over the received bytes.
    let buffer = AuthorityBuffer {
        cpa: Some(cpa.clone()),
        ..AuthorityBuffer::not_found()
    };
    let received = AuthorityBuffer::decode(&buffer.encode())
        .unwrap()
        .cpa
        .unwrap();
    received.validate(NOW, &check).unwrap();

    // Unsecured: no BinaryAuthority, any key.
    let other = pnrp_tests::samples::wire::key(9);
    let unsecured: PeerName = "0.myapp".parse().unwrap();
    let cpa = Cpa::sign(cpa_fields(&unsecured, &other, [0; 16]), &other);
    assert_eq!(cpa.fields().binary_authority, None);
    assert_eq!(cpa.as_bytes()[6] & 0x04, 0);
    cpa.validate(
        NOW,
        &CpaCheck {
            pnrp_id: Some(PnrpId::new(
                P2pId::of(&unsecured),
                cpa.fields().service_location,
            )),
            ..CpaCheck::default()
        },
    )
    .unwrap();
}

#[test]
fn p2p_id_from_hashes_agrees_with_shared() {
    for name in [
        "0.myapp",
        "0.",
        "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a.printer",
    ] {
        let name: PeerName = name.parse().unwrap();
        assert_eq!(
            p2p_id_from_hashes(
                &classifier_hash(name.classifier()),
                &name.authority().binary()
            ),
            P2pId::of(&name)
        );
    }
}

#[test]
fn tampered_cpa_fails_its_signature() {
    let cpa = sample_cpa();
    let check = CpaCheck {
        pnrp_id: Some(cpa.pnrp_id()),
        nonce: Some([0x42; 16]),
        ..CpaCheck::default()
    };
    // Change one byte of the FriendlyName in the encoded CPA and decode it again.
    let buffer = AuthorityBuffer {
        cpa: Some(cpa.clone()),
        ..AuthorityBuffer::not_found()
    };
    let mut bytes = buffer.encode();
    let name_at = bytes.windows(3).position(|w| w == b"B\xc3\xbc").unwrap();
    bytes[name_at] = b'b';
    let tampered = AuthorityBuffer::decode(&bytes).unwrap().cpa.unwrap();
    assert_eq!(
        tampered.fields().friendly_name.as_ref().unwrap().as_str(),
        "büro printer"
    );
    assert_eq!(tampered.validate(NOW, &check), Err(CpaError::BadSignature));

    // Same signature, one more app endpoint.
    let mut fields = cpa.fields().clone();
    fields.service_addresses = BoundedVec::new(vec![endpoint(66)]).unwrap();
    let forged = Cpa::forge(&fields, cpa.public_key().clone(), cpa.signature().clone());
    assert_eq!(forged.validate(NOW, &check), Err(CpaError::BadSignature));

    // A flipped signature bit.
    let CpaSignature::Ed25519(mut sig) = cpa.signature().clone() else {
        unreachable!()
    };
    sig[10] ^= 1;
    let forged = Cpa::forge(
        cpa.fields(),
        cpa.public_key().clone(),
        CpaSignature::Ed25519(sig),
    );
    assert_eq!(forged.validate(NOW, &check), Err(CpaError::BadSignature));
}

#[test]
fn secured_name_needs_the_authority_key() {
    let owner = key(1);
    let thief = key(5);
    let name = secured_name(&owner);
    let cpa = Cpa::sign(cpa_fields(&name, &thief, [0; 16]), &thief);
    assert_eq!(
        cpa.validate(NOW, &CpaCheck::default()),
        Err(CpaError::AuthorityMismatch)
    );
}

#[test]
fn expiry_nonce_id_and_kind_are_checked() {
    let cpa = sample_cpa();
    let not_after = cpa.fields().not_after;
    let check = CpaCheck {
        pnrp_id: Some(cpa.pnrp_id()),
        nonce: Some([0x42; 16]),
        ..CpaCheck::default()
    };
    cpa.validate(not_after, &check).unwrap();
    assert_eq!(
        cpa.validate(not_after + 1, &check),
        Err(CpaError::Expired {
            not_after,
            now: not_after + 1
        })
    );
    assert_eq!(
        cpa.validate(
            NOW,
            &CpaCheck {
                nonce: Some([0x43; 16]),
                ..check
            }
        ),
        Err(CpaError::NonceMismatch)
    );
    assert!(matches!(
        cpa.validate(
            NOW,
            &CpaCheck {
                pnrp_id: Some(pnrp_id(1)),
                ..check
            }
        ),
        Err(CpaError::PnrpIdMismatch { .. })
    ));
    assert_eq!(
        cpa.validate(
            NOW,
            &CpaCheck {
                revoke: true,
                ..check
            }
        ),
        Err(CpaError::WrongKind {
            expected_revoke: true
        })
    );
    let revoke = revoke_cpa();
    revoke
        .validate(
            NOW,
            &CpaCheck {
                revoke: true,
                ..CpaCheck::default()
            },
        )
        .unwrap();
    // A non-revoke CPA without service addresses.
    let key = key(1);
    let mut fields = cpa.fields().clone();
    fields.service_addresses = BoundedVec::empty();
    assert_eq!(
        Cpa::sign(fields, &key).validate(NOW, &CpaCheck::default()),
        Err(CpaError::NoServiceAddress)
    );
    assert!(filetime_from_unix(1_735_689_600) == NOW && unix_from_filetime(NOW) == 1_735_689_600);
}

#[test]
fn extended_payload_is_checked_when_announced() {
    let key = key(1);
    let mut fields = cpa_fields(&secured_name(&key), &key, [0x42; 16]);
    fields.has_extended_payload = true;
    let cpa = Cpa::sign(fields, &key);
    let payload = sample_extended(&cpa, &key);
    let check = CpaCheck {
        pnrp_id: Some(cpa.pnrp_id()),
        nonce: Some([0x42; 16]),
        extended_payload: Some(&payload),
        ..CpaCheck::default()
    };
    cpa.validate(NOW, &check).unwrap();
    assert_eq!(
        cpa.validate(
            NOW,
            &CpaCheck {
                extended_payload: None,
                ..check
            }
        ),
        Err(CpaError::ExtendedPayloadMissing)
    );
    let signed_by_other = sample_extended(&cpa, &pnrp_tests::samples::wire::key(7));
    assert_eq!(
        cpa.validate(
            NOW,
            &CpaCheck {
                extended_payload: Some(&signed_by_other),
                ..check
            }
        ),
        Err(CpaError::BadSignature)
    );
    assert!(matches!(
        cpa.validate(NOW + 2 * DAY, &check),
        Err(CpaError::Expired { .. })
    ));
}

#[test]
fn rsa_cpas_decode_but_do_not_validate() {
    let cpa = sample_cpa();
    let rsa = Cpa::forge(
        cpa.fields(),
        CpaPublicKey::Rsa1024(Box::new([0x30; 140])),
        CpaSignature::Rsa1024(Box::new([0x55; 128])),
    );
    let buffer = AuthorityBuffer {
        cpa: Some(rsa.clone()),
        ..AuthorityBuffer::not_found()
    };
    let decoded = AuthorityBuffer::decode(&buffer.encode())
        .unwrap()
        .cpa
        .unwrap();
    assert_eq!(decoded, rsa);
    let bytes = decoded.as_bytes();
    assert_eq!(
        &bytes[bytes.len() - 136..bytes.len() - 128],
        &[0x88, 0, 0x80, 0, 0x04, 0x80, 0, 0]
    );
    assert_eq!(
        decoded.validate(NOW, &CpaCheck::default()),
        Err(CpaError::UnsupportedAlgorithm)
    );
    let mut fields = cpa.fields().clone();
    fields.binary_authority = None;
    let rsa = Cpa::forge(
        &fields,
        CpaPublicKey::Rsa1024(Box::new([0x30; 140])),
        CpaSignature::Rsa1024(Box::new([0x55; 128])),
    );
    assert_eq!(
        rsa.validate(NOW, &CpaCheck::default()),
        Err(CpaError::UnsupportedAlgorithm)
    );
}

#[test]
fn service_location_is_prefix_then_hash() {
    let key = key(1);
    let public_key = CpaPublicKey::of(&key);
    let services = [endpoint(1), endpoint(2)];
    let location = service_location(service_location_prefix(&addr(1)), &public_key, &services, 7);
    assert_eq!(&location.0[..8], &[0xfd, 0, 0, 0, 0, 0, 0, 0x10]);
    let mut hasher = Sha1::new();
    hasher.update(key.verifying_key().as_bytes());
    for service in &services {
        hasher.update(service.port.to_be_bytes());
        hasher.update(service.address.octets());
    }
    hasher.update([7]);
    assert_eq!(&location.0[8..], &hasher.finalize()[..8]);
    assert_ne!(
        service_location([0; 8], &public_key, &services, 8).0[8..],
        location.0[8..]
    );
    assert_eq!(ServiceLocation(location.0), location);
}

#[test]
fn text_limits_are_clamped_by_constructors() {
    let long = "é".repeat(50);
    let name = FriendlyName::utf8(&long).unwrap();
    assert_eq!(name.as_str().len(), 78);
    let name = FriendlyName::utf8(&format!("a{long}")).unwrap();
    assert_eq!(name.as_str().len(), 77, "cut at a character boundary");
    assert_eq!(
        FriendlyName::utf16(&long).unwrap().as_str().chars().count(),
        39
    );
    assert_eq!(
        FriendlyName::utf16(&"😀".repeat(30))
            .unwrap()
            .as_str()
            .chars()
            .count(),
        19
    );
    assert!(FriendlyName::utf8("").is_none());
    assert!(ExtendedText::utf8("ab").is_none());
    assert_eq!(ExtendedText::utf8("abc\0def").unwrap().as_str(), "abc");
    assert_eq!(
        ExtendedText::utf8(&"x".repeat(5000))
            .unwrap()
            .as_str()
            .len(),
        4095
    );
    assert!(Classifier::new(&"a".repeat(150)).is_err());
    assert!(BoundedVec::<u8, 1, 2>::new(vec![]).is_err());
    assert_eq!(
        BoundedVec::<u8, 0, 2>::truncating(vec![1, 2, 3])
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn largest_authority_buffer_fits_the_size_field() {
    let key = key(1);
    let base = full_buffer(0);
    let cpa = base.cpa.clone().unwrap();
    let mut fields = cpa.fields().clone();
    fields.friendly_name = FriendlyName::utf8(&"n".repeat(100));
    fields.service_addresses = BoundedVec::new(vec![endpoint(1); 4]).unwrap();
    fields.app_endpoints = Some(
        BoundedVec::new(vec![
            AppEndpoint {
                address: addr(1),
                port: 1,
                protocol: 17
            };
            10
        ])
        .unwrap(),
    );
    let rsa = Cpa::forge(
        &fields,
        CpaPublicKey::Rsa1024(Box::new([1; 140])),
        CpaSignature::Rsa1024(Box::new([2; 128])),
    );
    assert_eq!(rsa.as_bytes().len(), 759);
    let payload = ExtendedPayload::sign(
        ExtendedPayloadFields {
            not_after: NOW,
            pnrp_id: pnrp_id(1),
            nonce: [0; 16],
            data: ExtendedData::Text(ExtendedText::utf16(&"w".repeat(3000)).unwrap()),
        },
        &key,
    );
    assert_eq!(payload.as_bytes().len(), 64 + 10 + 4098 + 72);
    let buffer = AuthorityBuffer {
        cert_chain: Some(BoundedVec::new(vec![3; messages::MAX_CERT_CHAIN]).unwrap()),
        classifier: Some(Classifier::new(&"c".repeat(149)).unwrap()),
        extended_payload: Some(payload),
        route_entry: Some(route(1, 20)),
        cpa: Some(rsa),
        ..base
    };
    let bytes = buffer.encode();
    // An RSA-signed extended payload would add 64 bytes more.
    assert!(bytes.len() + 64 <= MAX_AUTHORITY_BUFFER, "{}", bytes.len());
    assert_eq!(AuthorityBuffer::decode(&bytes).unwrap(), buffer);
    let fragments = buffer.fragments(1);
    assert_eq!(fragments.len(), bytes.len().div_ceil(FRAGMENT_LEN));
}

// ---------------------------------------------------------------------------------------------
// Fragmentation

fn sender(port: u16) -> SocketAddr {
    SocketAddr::from((addr(99), port))
}

#[test]
fn split_and_reassemble_in_any_order() {
    let buffer = full_buffer(4000);
    let bytes = buffer.encode();
    assert!(bytes.len() > 3 * FRAGMENT_LEN);
    let fragments = buffer.fragments(0xCAFE);
    assert_eq!(fragments.len(), bytes.len().div_ceil(FRAGMENT_LEN));
    for (index, fragment) in fragments.iter().enumerate() {
        assert_eq!(usize::from(fragment.offset()), index * FRAGMENT_LEN);
        assert_eq!(usize::from(fragment.size()), bytes.len());
        assert_eq!(fragment.acked_message_id(), 0xCAFE);
        let last = index + 1 == fragments.len();
        assert!(last || fragment.fragment().len() == FRAGMENT_LEN);
        assert!(!fragment.is_whole());
    }
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..50 {
        // Each fragment once or twice, shuffled, through the wire.
        let mut arrivals: Vec<Authority> = fragments
            .iter()
            .flat_map(|f| std::iter::repeat_n(f.clone(), rng.gen_range(1..=2)))
            .collect();
        arrivals.shuffle(&mut rng);
        let mut reassembly = Reassembly::default();
        let mut whole = Vec::new();
        for fragment in arrivals {
            let datagram = Packet {
                message_id: 3,
                message: Message::Authority(fragment),
            }
            .encode();
            let Message::Authority(fragment) = Packet::decode(&datagram).unwrap().message else {
                unreachable!()
            };
            if let Some(done) = reassembly.insert(sender(3540), &fragment).unwrap() {
                whole.push(done);
            }
        }
        // Completes once; a duplicate arriving after completion starts a new partial buffer.
        assert!(!whole.is_empty());
        for done in &whole {
            assert_eq!(AuthorityBuffer::decode(done).unwrap(), buffer);
        }
        assert!(reassembly.len() <= 1);
    }

    // A small buffer is one whole AUTHORITY and needs no state.
    let small = AuthorityBuffer::not_found().fragments(1);
    assert_eq!(small.len(), 1);
    assert!(small[0].is_whole());
    let mut reassembly = Reassembly::default();
    assert_eq!(
        reassembly.insert(sender(1), &small[0]).unwrap().unwrap(),
        AuthorityBuffer::not_found().encode()
    );
    assert!(reassembly.is_empty());
}

#[test]
fn reassembly_memory_is_bounded() {
    let buffer = full_buffer(4000);
    let fragments = buffer.fragments(1);
    let size = fragments[0].size() as usize;

    // Two concurrent reassemblies at most: a third evicts the oldest.
    let mut reassembly = Reassembly::new(2, 100 * size);
    for port in [1, 2, 3] {
        assert_eq!(
            reassembly.insert(sender(port), &fragments[0]).unwrap(),
            None
        );
    }
    assert_eq!(reassembly.len(), 2);
    assert_eq!(reassembly.used_bytes(), 2 * size);
    // The evicted sender 1 starts over, so its remaining fragments do not complete it.
    for fragment in &fragments[1..] {
        assert_eq!(reassembly.insert(sender(1), fragment).unwrap(), None);
    }
    // Sender 3 completes.
    let mut done = None;
    for fragment in &fragments[1..] {
        done = reassembly.insert(sender(3), fragment).unwrap();
    }
    assert_eq!(done.unwrap(), buffer.encode());

    // Byte budget: room for one buffer only.
    let mut reassembly = Reassembly::new(16, size + 10);
    reassembly.insert(sender(1), &fragments[0]).unwrap();
    reassembly.insert(sender(2), &fragments[0]).unwrap();
    assert_eq!(reassembly.len(), 1);
    assert!(reassembly.used_bytes() <= size + 10);
    let mut tiny = Reassembly::new(16, FRAGMENT_LEN);
    assert_eq!(
        tiny.insert(sender(1), &fragments[0]),
        Err(ReassemblyError::TooLarge { size: size as u16 })
    );

    // Size changes and conflicting duplicates drop the partial buffer.
    let other = full_buffer(5000).fragments(1);
    let mut reassembly = Reassembly::default();
    reassembly.insert(sender(1), &fragments[0]).unwrap();
    assert!(matches!(
        reassembly.insert(sender(1), &other[1]),
        Err(ReassemblyError::SizeMismatch { .. })
    ));
    assert!(reassembly.is_empty());
    let mut changed = split_authority_buffer(1, &{
        let mut bytes = buffer.encode();
        bytes[5] ^= 1;
        bytes
    });
    reassembly.insert(sender(1), &fragments[0]).unwrap();
    assert_eq!(
        reassembly.insert(sender(1), &changed.remove(0)),
        Err(ReassemblyError::ConflictingDuplicate { offset: 0 })
    );
    assert!(reassembly.is_empty());
    reassembly.insert(sender(1), &fragments[0]).unwrap();
    reassembly.remove(sender(1), 1);
    assert_eq!(reassembly.used_bytes(), 0);
}
