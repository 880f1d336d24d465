//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), also replayed on the
//! committed corpus and on every saved crash by `tests/fuzz_corpus.rs` (stable, in CI).
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
    AuthorityBuffer, Cpa, CpaCheck, CpaError, CpaPublicKey, ExtendedPayload, Message, Packet,
    ReassemblyError, FRAGMENT_LEN, MAX_AUTHORITY_BUFFER,
};

/// The key the seed corpus signs with (`SigningKey::from_bytes(&[1; 32])`, the wire tests'
/// `key(1)`); [`cpa`] checks a lone EXTENDED_PAYLOAD against it.
pub const CORPUS_KEY_SEED: [u8; 32] = [1; 32];

fn corpus_key() -> &'static CpaPublicKey {
    static KEY: OnceLock<CpaPublicKey> = OnceLock::new();
    KEY.get_or_init(|| CpaPublicKey::of(&SigningKey::from_bytes(&CORPUS_KEY_SEED)))
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
        ExtendedPayload::decode(Reader::new(extended_bytes)).ok()
    };
    if let Some(payload) = &extended {
        check_extended_payload(payload, extended_bytes);
    }
    let Ok(cpa) = Cpa::decode(Reader::new(cpa_bytes)) else {
        return;
    };
    assert_eq!(cpa.as_bytes(), cpa_bytes, "a CPA must keep its exact bytes");
    let mut w = Writer::default();
    cpa.encode(&mut w);
    assert_eq!(w.buf, cpa_bytes, "a CPA must re-encode to its bytes");
    let again = Cpa::decode(Reader::new(&w.buf)).expect("re-encoded CPA decodes");
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
    let decoded = Cpa::decode(Reader::new(canonical.as_bytes()))
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

/// The last FILETIME at which `cpa` (and the extended payload it announces) is unexpired.
fn last_valid_instant(cpa: &Cpa, extended: Option<&ExtendedPayload>) -> u64 {
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
    let again = ExtendedPayload::decode(Reader::new(&w.buf)).expect("re-encoded payload decodes");
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
                Err(CpaError::Expired { .. })
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

/// The seed corpus in `fuzz/corpus/<target>/seed-*`, built with the wire module and the socket
/// protocol: `cargo test -p pnrpd --lib fuzzing -- --ignored` rewrites it.
#[cfg(test)]
mod corpus {
    use std::net::Ipv4Addr;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::wire::tests::{all_packets, full_buffer, key, revoke_cpa, sample_cpa};
    use crate::wire::{
        BoundedVec, Classifier, CpaFields, ExtendedData, ExtendedPayloadFields, ExtendedText,
    };

    fn wire_seeds() -> Vec<(String, Vec<u8>)> {
        let mut seeds: Vec<(String, Vec<u8>)> = all_packets()
            .iter()
            .enumerate()
            .map(|(index, packet)| {
                let kind = format!("{:?}", packet.message.message_type()).to_lowercase();
                (format!("packet-{index:02}-{kind}"), packet.encode())
            })
            .collect();
        let binary = ExtendedPayload::sign(
            ExtendedPayloadFields {
                not_after: u64::MAX / 2,
                pnrp_id: sample_cpa().pnrp_id(),
                nonce: [1; 16],
                data: ExtendedData::Binary(BoundedVec::new(vec![0, 1, 2, 0, 255]).unwrap()),
            },
            &key(1),
        );
        let utf8 = ExtendedPayload::sign(
            ExtendedPayloadFields {
                not_after: u64::MAX / 2,
                pnrp_id: sample_cpa().pnrp_id(),
                nonce: [1; 16],
                data: ExtendedData::Text(ExtendedText::utf8("héllo").unwrap()),
            },
            &key(1),
        );
        let buffers = [
            AuthorityBuffer::not_found(),
            full_buffer(0),
            full_buffer(40),
            AuthorityBuffer {
                busy: true,
                extended_payload: Some(binary),
                classifier: Some(Classifier::new("").unwrap()),
                cpa: Some(sample_cpa()),
                ..AuthorityBuffer::not_found()
            },
            AuthorityBuffer {
                extended_payload: Some(utf8),
                classifier: Some(Classifier::new("My.App.café😀").unwrap()),
                ..AuthorityBuffer::not_found()
            },
        ];
        for (index, buffer) in buffers.iter().enumerate() {
            seeds.push((format!("buffer-{index}"), buffer.encode()));
        }
        seeds.push((
            "buffer-flags-only-unpadded".into(),
            AuthorityBuffer::not_found().encode()[..6].to_vec(),
        ));
        seeds
    }

    fn cpa_seeds() -> Vec<(String, Vec<u8>)> {
        let signer = key(1);
        let full = full_buffer(0);
        let with_payload = [
            full.cpa.as_ref().unwrap().as_bytes(),
            full.extended_payload.as_ref().unwrap().as_bytes(),
        ]
        .concat();
        let name: PeerName = "0.myapp".parse().unwrap();
        let mut minimal = CpaFields::for_name(&name, Default::default(), u64::MAX / 2, [3; 16]);
        minimal.service_addresses = BoundedVec::new(vec![crate::wire::Endpoint {
            port: 3540,
            address: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
        }])
        .unwrap();
        let mut utf16 = minimal.clone();
        utf16.friendly_name = crate::wire::FriendlyName::utf16("imprimante ü");
        vec![
            ("secured".into(), sample_cpa().as_bytes().to_vec()),
            ("revoke".into(), revoke_cpa().as_bytes().to_vec()),
            ("with-extended-payload".into(), with_payload),
            (
                "minimal".into(),
                Cpa::sign(minimal, &signer).as_bytes().to_vec(),
            ),
            (
                "friendly-utf16".into(),
                Cpa::sign(utf16, &signer).as_bytes().to_vec(),
            ),
        ]
    }

    /// Reassembly scripts: bounds, then `op` (+ Size as `s` with `s % 0x91E4 + 1` the size, and
    /// a fragment index).
    fn reassembly_seeds() -> Vec<(String, Vec<u8>)> {
        fn frag(op: u8, size: usize, index: u8) -> Vec<u8> {
            let s = (size - 1) as u16;
            vec![op, (s >> 8) as u8, s as u8, index]
        }
        fn script(bounds: [u8; 2], ops: Vec<Vec<u8>>) -> Vec<u8> {
            [bounds.to_vec(), ops.concat()].concat()
        }
        let max = MAX_AUTHORITY_BUFFER;
        vec![
            (
                "in-order".into(),
                script([3, 255], (0..3).map(|i| frag(0x00, 3000, i)).collect()),
            ),
            (
                "interleaved-duplicates".into(),
                script(
                    [7, 255],
                    vec![
                        frag(0x40, 2500, 2),
                        frag(0x90, 5000, 0),
                        frag(0x40, 2500, 0),
                        frag(0x40, 2500, 2),
                        frag(0x90, 5000, 4),
                        frag(0x90, 5000, 1),
                        frag(0x40, 2500, 1),
                        frag(0x90, 5000, 3),
                        frag(0x90, 5000, 2),
                    ],
                ),
            ),
            (
                "conflicting-duplicate".into(),
                script([3, 255], vec![frag(0x00, 3000, 0), frag(0x01, 3000, 0)]),
            ),
            (
                "size-mismatch".into(),
                script([3, 255], vec![frag(0x10, 3000, 0), frag(0x10, 4000, 1)]),
            ),
            (
                "eviction".into(),
                script(
                    [0, 255],
                    vec![
                        frag(0x00, 3000, 0),
                        frag(0x10, 3000, 0),
                        frag(0x00, 3000, 1),
                        frag(0x00, 3000, 2),
                    ],
                ),
            ),
            (
                "byte-budget".into(),
                script([7, 8], vec![frag(0x20, 4000, 0), frag(0x30, 4000, 0)]),
            ),
            (
                "too-large".into(),
                script([7, 0], vec![frag(0x00, 2000, 0)]),
            ),
            (
                "remove".into(),
                script(
                    [3, 255],
                    vec![frag(0x00, 3000, 0), vec![0x0f], frag(0x00, 3000, 1)],
                ),
            ),
            ("whole".into(), script([3, 255], vec![frag(0xc0, 100, 0)])),
            (
                "largest".into(),
                script([3, 255], (0..32).map(|i| frag(0x50, max, i)).collect()),
            ),
        ]
    }

    fn ipc_seeds() -> Vec<(String, Vec<u8>)> {
        let requests = pnrp_shared::samples::requests();
        let responses = pnrp_shared::samples::responses();
        let mut seeds = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            seeds.push((
                format!("request-{index}"),
                ipc::encode_frame(request).unwrap(),
            ));
        }
        for (index, response) in responses.iter().enumerate() {
            seeds.push((
                format!("response-{index:02}"),
                ipc::encode_frame(response).unwrap(),
            ));
        }
        seeds
    }

    fn hostname_seeds() -> Vec<(String, Vec<u8>)> {
        let hex = "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a";
        [
            "0.myapp.pnrp.net".to_string(),
            "0.my.app.pnrp.net".into(),
            format!("{hex}.printer.pnrp.net"),
            format!("{}.printer.pnrp.net", hex.to_uppercase()),
            "0.MyApp.PNRP.Net.".into(),
            "myapp.pnrp.net".into(),
            format!("printer.p{hex}.pnrp.net"),
            format!("lab.printer.P{hex}.pnrp.net"),
            "0.xn--caf-dma.pnrp.net".into(),
            "xn--caf-dma.pnrp.net".into(),
            "0.XN--caf-dma.lab.pnrp.net".into(),
            "0.xn--ihqwcrb4cv8a8dqg056pqjye.pnrp.net".into(),
            "0.pnrp.net".into(),
            "0..pnrp.net".into(),
            "example.com".into(),
            "0.myapp".into(),
            format!("{hex}.printer"),
            "0.café".into(),
            "caf-dma".into(),
            "egbpdaj6bu4bxfgehfvwxn".into(),
            "e28h".into(),
        ]
        .into_iter()
        .enumerate()
        .map(|(index, host)| (format!("host-{index:02}"), host.into_bytes()))
        .collect()
    }

    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        match target {
            "wire_decode" => wire_seeds(),
            "cpa" => cpa_seeds(),
            "reassembly" => reassembly_seeds(),
            "ipc_decode" => ipc_seeds(),
            "hostname" => hostname_seeds(),
            other => unreachable!("{other}"),
        }
    }

    fn corpus_dir(target: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target)
    }

    /// Every seed decodes (so the fuzzer starts from valid input) and passes its target.
    #[test]
    fn seeds_are_valid_and_pass() {
        for (target, run) in TARGETS {
            for (name, data) in seeds(target) {
                run(&data);
                let valid = match target {
                    "wire_decode" => {
                        Packet::decode(&data).is_ok() || AuthorityBuffer::decode(&data).is_ok()
                    }
                    "cpa" => {
                        let end = usize::from(u16::from_le_bytes([data[0], data[1]]));
                        let cpa = Cpa::decode(Reader::new(&data[..end])).unwrap();
                        let payload = (end < data.len())
                            .then(|| ExtendedPayload::decode(Reader::new(&data[end..])).unwrap());
                        let fields = cpa.fields();
                        let check = CpaCheck {
                            pnrp_id: Some(cpa.pnrp_id()),
                            nonce: Some(fields.nonce),
                            revoke: fields.revoke,
                            extended_payload: payload.as_ref(),
                        };
                        cpa.validate(last_valid_instant(&cpa, payload.as_ref()), &check)
                            .is_ok()
                    }
                    "ipc_decode" => {
                        ipc::decode_frame::<ipc::Request>(&data).is_ok()
                            || ipc::decode_frame::<ipc::Response>(&data).is_ok()
                    }
                    _ => true,
                };
                assert!(valid, "{target}/{name}");
            }
        }
    }

    /// Rewrites `fuzz/corpus/<target>/seed-*`.
    #[test]
    #[ignore = "writes fuzz/corpus; run by hand"]
    fn write_fuzz_corpus() {
        for (target, _) in TARGETS {
            let dir = corpus_dir(target);
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path
                    .file_name()
                    .is_some_and(|name| name.to_string_lossy().starts_with("seed-"))
                {
                    std::fs::remove_file(path).unwrap();
                }
            }
            for (name, data) in seeds(target) {
                std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
            }
        }
    }
}
