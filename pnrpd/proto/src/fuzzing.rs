//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), also replayed on the
//! committed corpus and on every saved crash by `tests/tests/fuzz_corpus.rs` (stable, in CI).
//! Compiled only with the crate feature `fuzzing`.
//!
//! Each function takes arbitrary bytes, feeds them to one decoder and asserts what must hold for
//! every input: nothing panics, and whatever decodes re-encodes to bytes that decode to the same
//! value. They panic only when such an invariant is broken, which is a bug to fix (and the input a
//! regression to keep in `fuzz/regressions/<target>/`).
//!
//! | target | what |
//! |---|---|
//! | [`wire_decode`] | `Packet::decode` and `AuthorityBuffer::decode` (PNRP datagrams, §2) |
//! | [`cpa`] | the Encoded CPA (and an EXTENDED_PAYLOAD after it): decode, re-encode, validate |
//! | [`reassembly`] | AUTHORITY fragments through the wire into a bounded `Reassembly` |
//! | [`ipc_decode`] | socket-protocol frames as `Request` and as `Response` |
//! | [`hostname`] | host name → peer name → host name, peer-name text, punycode |
//!
//! Also here, for the corpus test that checks the seeds are valid input: [`decode_cpa`] and
//! [`decode_extended_payload`] (the wire API decodes these structures only inside a message)
//! and [`last_valid_instant`].

use std::fmt::Debug;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use pnrp_shared::hostname::{host_name_of, is_pnrp_host, peer_name_of_host, HostNameError};
use pnrp_shared::name::MAX_CLASSIFIER_UTF16;
use pnrp_shared::{ipc, punycode, PeerName};
use serde::{de::DeserializeOwned, Serialize};

use crate::wire::codec::{Reader, Writer};
use crate::wire::fragment::Reassembly;
use crate::wire::messages::{Header, MessageType};
use crate::wire::{
    AuthorityBuffer, Cpa, CpaCheck, CpaError, CpaPublicKey, ExtendedPayload, ExtendedPayloadError,
    Message, Packet, ReassemblyError, WireError, FRAGMENT_LEN, MAX_AUTHORITY_BUFFER,
};

/// The key the seed corpus signs with (`SigningKey::from_bytes(&[1; 32])`, the wire samples'
/// `key(1)` in the tests crate); [`cpa`] checks a lone EXTENDED_PAYLOAD against it.
pub const CORPUS_KEY_SEED: [u8; 32] = [1; 32];

fn corpus_key() -> &'static CpaPublicKey {
    static KEY: OnceLock<CpaPublicKey> = OnceLock::new();
    KEY.get_or_init(|| CpaPublicKey::of(&SigningKey::from_bytes(&CORPUS_KEY_SEED)))
}

/// An Encoded CPA that fills all of `bytes`, as the [`cpa`] target decodes it.
pub fn decode_cpa(bytes: &[u8]) -> Result<Cpa, WireError> {
    Cpa::decode(Reader::new(bytes))
}

/// An EXTENDED_PAYLOAD that fills all of `bytes`, as the [`cpa`] target decodes it.
pub fn decode_extended_payload(bytes: &[u8]) -> Result<ExtendedPayload, WireError> {
    ExtendedPayload::decode(Reader::new(bytes))
}

/// A target's entry point.
pub type EntryPoint = fn(&[u8]);

/// Every fuzz target by name (the name of its `fuzz/fuzz_targets/` file and corpus directory).
pub const TARGETS: [(&str, EntryPoint); 5] = [
    ("wire_decode", wire_decode),
    ("cpa", cpa),
    ("reassembly", reassembly),
    ("ipc_decode", ipc_decode),
    ("hostname", hostname),
];

/// A UDP payload: as a [`Packet`], and as a reassembled [`AuthorityBuffer`].
///
/// Invariants: a decoded value re-encodes to bytes that decode to an equal value and re-encode
/// identically; the encoding differs from the input only by alignment padding (at most 3 bytes);
/// a decoded AUTHORITY fragment keeps §2.2.2.6's bounds.
pub fn wire_decode(data: &[u8]) {
    if let Ok(packet) = Packet::decode(data) {
        let bytes = packet.encode();
        let again = Packet::decode(&bytes)
            .unwrap_or_else(|error| panic!("{packet:?} re-encodes to undecodable bytes: {error}"));
        assert_eq!(again, packet, "decode → encode → decode changed the packet");
        assert_eq!(again.encode(), bytes, "encoding is not deterministic");
        assert!(
            bytes.len() <= data.len() && data.len() - bytes.len() <= 3,
            "{} bytes re-encode to {}",
            data.len(),
            bytes.len()
        );
        if let Message::Authority(fragment) = &packet.message {
            let size = usize::from(fragment.size());
            let offset = usize::from(fragment.offset());
            assert!((1..=MAX_AUTHORITY_BUFFER).contains(&size));
            assert_eq!(offset % FRAGMENT_LEN, 0);
            assert_eq!(fragment.fragment().len(), (size - offset).min(FRAGMENT_LEN));
        }
    }
    if let Ok(buffer) = AuthorityBuffer::decode(data) {
        let bytes = buffer.encode();
        assert!(bytes.len() <= MAX_AUTHORITY_BUFFER);
        let again = AuthorityBuffer::decode(&bytes)
            .unwrap_or_else(|error| panic!("{buffer:?} re-encodes to undecodable bytes: {error}"));
        assert_eq!(again, buffer, "decode → encode → decode changed the buffer");
        assert_eq!(again.encode(), bytes, "encoding is not deterministic");
        assert!(
            bytes.len().abs_diff(data.len()) <= 3,
            "{} bytes re-encode to {}",
            data.len(),
            bytes.len()
        );
    }
}

/// An Encoded CPA (its little-endian total length says where it ends), optionally followed by
/// an EXTENDED_PAYLOAD.
///
/// Invariants: a decoded CPA keeps and re-encodes its exact bytes, which decode to an equal CPA;
/// its fields, encoded canonically, decode to the same fields; validation never panics, and a
/// CPA that validates re-encodes to the same bytes, validates again, and is rejected one tick
/// after Not After, with another nonce, or as the other kind.
pub fn cpa(data: &[u8]) {
    let end = data
        .get(..2)
        .map_or(data.len(), |length| {
            usize::from(u16::from_le_bytes([length[0], length[1]]))
        })
        .min(data.len());
    let (cpa_bytes, extended_bytes) = data.split_at(end);
    let extended = if extended_bytes.is_empty() {
        None
    } else {
        decode_extended_payload(extended_bytes).ok()
    };
    if let Some(payload) = &extended {
        check_extended_payload(payload, extended_bytes);
    }
    let Ok(cpa) = decode_cpa(cpa_bytes) else {
        return;
    };
    assert_eq!(cpa.as_bytes(), cpa_bytes, "a CPA must keep its exact bytes");
    let mut w = Writer::default();
    cpa.encode(&mut w);
    assert_eq!(w.buf, cpa_bytes, "a CPA must re-encode to its bytes");
    let again = decode_cpa(&w.buf).expect("re-encoded CPA decodes");
    assert_eq!(again, cpa);
    assert_eq!(
        cpa.signed_bytes().len() + cpa.signature().encoded_len(),
        cpa_bytes.len()
    );

    // The fields encoded canonically (zero Reserved bytes) decode to the same fields.
    let canonical = Cpa::forge(
        cpa.fields(),
        cpa.public_key().clone(),
        cpa.signature().clone(),
    );
    let decoded = decode_cpa(canonical.as_bytes())
        .unwrap_or_else(|error| panic!("canonical encoding of {cpa:?} does not decode: {error}"));
    assert_eq!(decoded.fields(), cpa.fields());
    assert_eq!(decoded.public_key(), cpa.public_key());
    assert_eq!(decoded.signature(), cpa.signature());
    assert_eq!(decoded.pnrp_id(), cpa.pnrp_id());

    let fields = cpa.fields();
    let now = last_valid_instant(&cpa, extended.as_ref());
    let check = CpaCheck {
        pnrp_id: Some(cpa.pnrp_id()),
        nonce: Some(fields.nonce),
        revoke: fields.revoke,
        extended_payload: extended.as_ref(),
    };
    if cpa.validate(now, &check).is_ok() {
        assert_eq!(again.validate(now, &check), Ok(()));
        assert!(!fields.revoke || fields.nonce == [0; 16]);
        assert!(fields.revoke || !fields.service_addresses.is_empty());
        if let Some(later) = now.checked_add(1) {
            assert!(matches!(
                cpa.validate(later, &check),
                Err(CpaError::Expired { .. })
            ));
        }
        let mut other = fields.nonce;
        other[0] ^= 1;
        let wrong_nonce = CpaCheck {
            nonce: Some(other),
            ..check
        };
        assert_eq!(
            cpa.validate(now, &wrong_nonce),
            Err(CpaError::NonceMismatch)
        );
        let wrong_kind = CpaCheck {
            revoke: !fields.revoke,
            ..check
        };
        assert!(matches!(
            cpa.validate(now, &wrong_kind),
            Err(CpaError::WrongKind { .. })
        ));
    }
    for now in [0, u64::MAX] {
        let _ = cpa.validate(now, &CpaCheck::default());
        let _ = cpa.validate(
            now,
            &CpaCheck {
                revoke: fields.revoke,
                extended_payload: extended.as_ref(),
                ..CpaCheck::default()
            },
        );
    }
}

/// The last FILETIME at which `cpa` (and the extended payload it announces) is unexpired: where
/// the [`cpa`] target validates, and where a valid seed must validate.
pub fn last_valid_instant(cpa: &Cpa, extended: Option<&ExtendedPayload>) -> u64 {
    let payload_not_after = extended
        .filter(|_| cpa.fields().has_extended_payload)
        .map_or(u64::MAX, |payload| payload.fields().not_after);
    cpa.fields().not_after.min(payload_not_after)
}

fn check_extended_payload(payload: &ExtendedPayload, bytes: &[u8]) {
    assert_eq!(
        payload.as_bytes(),
        bytes,
        "a payload must keep its exact bytes"
    );
    let mut w = Writer::default();
    payload.encode(&mut w);
    assert_eq!(w.buf, bytes);
    let again = decode_extended_payload(&w.buf).expect("re-encoded payload decodes");
    assert_eq!(&again, payload);
    let fields = payload.fields();
    let verdict = payload.validate(
        fields.not_after,
        &fields.pnrp_id,
        Some(fields.nonce),
        corpus_key(),
    );
    if verdict.is_ok() {
        assert_eq!(
            again.validate(fields.not_after, &fields.pnrp_id, None, corpus_key()),
            Ok(())
        );
        if let Some(later) = fields.not_after.checked_add(1) {
            assert!(matches!(
                payload.validate(later, &fields.pnrp_id, None, corpus_key()),
                Err(ExtendedPayloadError::Expired { .. })
            ));
        }
    }
}

/// A little reader of fuzz input that runs dry instead of failing.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
}

/// The byte every byte of fragment `index` of key `key` is filled with, in one of two variants
/// (the second makes conflicting duplicates).
fn fill_byte(key: u8, index: usize, variant: u8) -> u8 {
    ((usize::from(key) * 64 + index * 2 + usize::from(variant)) % 251) as u8
}

/// A script of AUTHORITY fragments and removals played into a [`Reassembly`].
///
/// Input: two bytes of bounds (at most 1–8 partial buffers, a byte budget of ½–128 fragments),
/// then operations. An operation byte `op` names the sender (`op >> 6`, four of them) and the
/// Acked Message ID (`op >> 4 & 3`); `op & 0x0f == 0x0f` removes that partial buffer, anything else
/// is followed by a big-endian u16 choosing the Size and a byte choosing the fragment, sent in
/// variant `op & 1`. Each fragment goes through `Packet::encode` and `Packet::decode`.
///
/// Invariants: every well-formed AUTHORITY decodes; the reassembly never holds more partial
/// buffers or bytes than its bounds and its bookkeeping adds up (`assert_invariants`); a
/// completed buffer has the fragments' Size and each 1188-byte slot holds bytes of that slot's
/// fragment of that sender and ID; only a buffer larger than the whole budget is too large.
pub fn reassembly(data: &[u8]) {
    let mut input = Input(data);
    let (Some(most), Some(budget)) = (input.u8(), input.u8()) else {
        return;
    };
    let max_reassemblies = usize::from(most % 8) + 1;
    let max_bytes = (usize::from(budget) + 1) * FRAGMENT_LEN / 2;
    let mut reassembly = Reassembly::new(max_reassemblies, max_bytes);
    let budget = max_bytes.max(FRAGMENT_LEN);
    while let Some(op) = input.u8() {
        let key = op >> 4;
        let sender = SocketAddr::from((Ipv6Addr::LOCALHOST, 3540 + u16::from(op >> 6)));
        let acked = u32::from(key & 3);
        if op & 0x0f == 0x0f {
            reassembly.remove(sender, acked);
            reassembly.assert_invariants();
            continue;
        }
        let (Some(size), Some(index)) = (input.u16(), input.u8()) else {
            break;
        };
        let size = usize::from(size) % MAX_AUTHORITY_BUFFER + 1;
        let index = usize::from(index) % size.div_ceil(FRAGMENT_LEN);
        let offset = index * FRAGMENT_LEN;
        let length = (size - offset).min(FRAGMENT_LEN);
        let fill = fill_byte(key, index, op & 1);

        let mut datagram = Header {
            message_type: MessageType::Authority,
            message_id: 0x5A5A_0000 | acked,
        }
        .encode()
        .to_vec();
        datagram.extend([0x00, 0x18, 0x00, 0x08]);
        datagram.extend(acked.to_be_bytes());
        datagram.extend([0x00, 0x98, 0x00, 0x08]);
        datagram.extend((size as u16).to_be_bytes());
        datagram.extend((offset as u16).to_be_bytes());
        datagram.extend(std::iter::repeat_n(fill, length));
        let fragment = match Packet::decode(&datagram) {
            Ok(Packet {
                message: Message::Authority(fragment),
                ..
            }) => fragment,
            other => panic!("a well-formed AUTHORITY ({size}, {offset}) decodes as {other:?}"),
        };

        match reassembly.insert(sender, &fragment) {
            Ok(Some(whole)) => {
                assert_eq!(whole.len(), size, "a completed buffer of the wrong size");
                for (slot, chunk) in whole.chunks(FRAGMENT_LEN).enumerate() {
                    let allowed = [fill_byte(key, slot, 0), fill_byte(key, slot, 1)];
                    assert!(
                        chunk.iter().all(|byte| *byte == chunk[0]) && allowed.contains(&chunk[0]),
                        "slot {slot} of a completed buffer holds another fragment's bytes"
                    );
                }
            }
            Ok(None) => {}
            Err(ReassemblyError::TooLarge { size: found }) => {
                assert_eq!(usize::from(found), size);
                assert!(size > budget, "{size} bytes fit the {budget}-byte budget");
            }
            Err(
                ReassemblyError::SizeMismatch { .. } | ReassemblyError::ConflictingDuplicate { .. },
            ) => {}
        }
        reassembly.assert_invariants();
    }
}

/// A socket-protocol frame (header included), decoded as a [`ipc::Request`] and as a
/// [`ipc::Response`]; the bytes after a 4-byte header are also decoded as a body.
///
/// Invariants: a decoded message re-encodes to a frame no longer than the input that decodes to
/// an equal message and re-encodes identically; checking a decoded registration never panics.
pub fn ipc_decode(data: &[u8]) {
    if let Some(header) = data.get(..ipc::HEADER_LEN) {
        let header: [u8; ipc::HEADER_LEN] = header.try_into().unwrap_or_default();
        if let Ok(length) = ipc::frame_length(header) {
            assert!((1..=ipc::MAX_FRAME_LEN).contains(&length));
        }
        let body = &data[ipc::HEADER_LEN..];
        let _ = ipc::decode_body::<ipc::Request>(body);
        let _ = ipc::decode_body::<ipc::Response>(body);
    }
    if let Some(ipc::Request::Register(registration)) = frame_round_trip::<ipc::Request>(data) {
        let _ = registration.checked();
    }
    if let Some(response) = frame_round_trip::<ipc::Response>(data) {
        match response {
            ipc::Response::Registered(info) => {
                let _ = info.registration.validate();
            }
            ipc::Response::Registrations(infos) => {
                for info in infos {
                    let _ = info.registration.checked();
                }
            }
            _ => {}
        }
    }
}

fn frame_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) -> Option<T> {
    let message: T = ipc::decode_frame(data).ok()?;
    let frame = ipc::encode_frame(&message)
        .unwrap_or_else(|error| panic!("{message:?} decoded but does not encode: {error}"));
    assert!(
        frame.len() <= data.len(),
        "a {}-byte frame re-encodes to {} bytes",
        data.len(),
        frame.len()
    );
    let again: T = ipc::decode_frame(&frame)
        .unwrap_or_else(|error| panic!("{message:?} re-encodes to an undecodable frame: {error}"));
    assert_eq!(
        again, message,
        "decode → encode → decode changed the message"
    );
    assert_eq!(
        ipc::encode_frame(&again).ok(),
        Some(frame),
        "encoding is not deterministic"
    );
    Some(message)
}

/// Text (when UTF-8) as a host name, as a peer name, and as a punycode label.
///
/// Invariants: `is_pnrp_host` agrees with `peer_name_of_host` on what is under `pnrp.net`; a
/// host name that maps to a peer name, and every peer name, maps back from its printed host name
/// (`host_name_of`) to the same peer name, with or without a trailing dot and in any suffix case;
/// peer names print as they parse; punycode that decodes to at most a classifier's length
/// re-encodes to punycode that decodes to the same text.
pub fn hostname(data: &[u8]) {
    let under_pnrp = is_pnrp_host(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match peer_name_of_host(text) {
        Ok(name) => {
            assert!(under_pnrp, "{text:?} mapped but is not under pnrp.net");
            host_round_trip(&name);
        }
        Err(HostNameError::NotPnrp(_)) => assert!(!under_pnrp, "{text:?} is under pnrp.net"),
        Err(_) => assert!(under_pnrp, "{text:?} was parsed but is not under pnrp.net"),
    }
    if let Ok(name) = text.parse::<PeerName>() {
        assert_eq!(name.to_string(), text, "a peer name prints as it parsed");
        host_round_trip(&name);
    }
    if let Ok(decoded) = punycode::decode(text) {
        if decoded.encode_utf16().count() <= MAX_CLASSIFIER_UTF16 {
            let encoded = punycode::encode(&decoded);
            assert_eq!(
                punycode::decode(&encoded).as_deref(),
                Ok(decoded.as_str()),
                "{text:?} → {decoded:?} → {encoded:?}"
            );
        }
    }
}

fn host_round_trip(name: &PeerName) {
    let host = host_name_of(name);
    assert!(is_pnrp_host(host.as_bytes()), "{host:?}");
    let suffix_start = host.len() - ".pnrp.net".len();
    for variant in [
        host.clone(),
        format!("{host}."),
        format!("{}.PNRP.NET", &host[..suffix_start]),
    ] {
        assert_eq!(
            peer_name_of_host(&variant).as_ref(),
            Ok(name),
            "{name} prints as host name {variant:?}, which maps elsewhere"
        );
    }
}
