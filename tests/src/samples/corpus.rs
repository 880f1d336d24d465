//! The fuzzers' seed corpus (`fuzz/corpus/<target>/seed-*`), built from the sample messages:
//! `cargo run -p pnrp-tests --example write_fuzz_corpus` rewrites it, and `tests/fuzz_corpus.rs`
//! checks that the committed files are these.

use std::net::Ipv4Addr;

use pnrp_proto::fuzzing::EntryPoint;
use pnrp_proto::wire::{
    AuthorityBuffer, BoundedVec, Classifier, Cpa, CpaFields, Endpoint, ExtendedData,
    ExtendedPayload, ExtendedPayloadFields, ExtendedText, FriendlyName, MAX_AUTHORITY_BUFFER,
};
use pnrp_shared::{ipc, snapshot, PeerName, ScopedAddr};

use super::ipc::{requests, responses};
use super::wire::{full_buffer, key, packets, revoke_cpa, sample_cpa};

/// Every fuzz target (its name, its directory under `fuzz/corpus/`, and its entry point): the
/// protocol crate's, the shared crate's and the DNS front end's.
pub fn targets() -> Vec<(&'static str, EntryPoint)> {
    pnrp_proto::fuzzing::TARGETS
        .iter()
        .chain(pnrp_shared::fuzzing::TARGETS)
        .chain(pnrpd::dns::fuzzing::TARGETS)
        .copied()
        .collect()
}

/// Every target's seeds: (target, seed name, bytes).
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    targets()
        .into_iter()
        .flat_map(|(target, _)| {
            seeds(target)
                .into_iter()
                .map(move |(name, bytes)| (target, name, bytes))
        })
        .collect()
}

fn wire_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<(String, Vec<u8>)> = packets()
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
    minimal.service_addresses = BoundedVec::new(vec![Endpoint {
        port: 3540,
        address: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
    }])
    .unwrap();
    let mut utf16 = minimal.clone();
    utf16.friendly_name = FriendlyName::utf16("imprimante ü");
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
    let requests = requests();
    let responses = responses();
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

/// Local-names snapshots as pnrpd writes them: none, one, several with IPv4, link-local and
/// the longest name, the most addresses a name carries.
fn snapshot_seeds() -> Vec<(String, Vec<u8>)> {
    let address = |text: &str, scope_id: u32| ScopedAddr {
        ip: text.parse().unwrap(),
        scope_id,
    };
    let name = |text: &str| -> PeerName { text.parse().unwrap() };
    let web = name("0.web");
    let printer = name("0.printer.café");
    let longest = name(&format!("{}.{}", "a".repeat(40), "€".repeat(149)));
    let one = [address("fd00::1", 0)];
    let mixed = [
        address("fd00::7", 0),
        address("fe80::7", 2),
        address("::ffff:192.0.2.7", 0),
    ];
    let many: Vec<ScopedAddr> = (0..ipc::MAX_ADDRESSES as u16)
        .map(|index| address(&format!("fd00::{index:x}"), 0))
        .collect();
    vec![
        ("empty".into(), snapshot::encode([])),
        ("one".into(), snapshot::encode([(&web, &one[..])])),
        (
            "several".into(),
            snapshot::encode([
                (&web, &one[..]),
                (&printer, &mixed[..]),
                (&longest, &mixed[1..2]),
            ]),
        ),
        (
            "many-addresses".into(),
            snapshot::encode([(&web, &many[..])]),
        ),
    ]
}

/// The seeds of a fuzz target, by name (without the `seed-` prefix of their files).
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "wire_decode" => wire_seeds(),
        "cpa" => cpa_seeds(),
        "reassembly" => reassembly_seeds(),
        "ipc_decode" => ipc_seeds(),
        "hostname" => hostname_seeds(),
        "snapshot" => snapshot_seeds(),
        "dns" => dns_seeds(),
        other => unreachable!("{other}"),
    }
}

/// DNS queries of every kind the front end answers (EDNS or not), a pointer loop, and a
/// response (which it drops).
fn dns_seeds() -> Vec<(String, Vec<u8>)> {
    use hickory_proto::rr::RecordType;
    use pnrpd::dns::answer::query_bytes;
    let mut seeds: Vec<(String, Vec<u8>)> = [
        ("aaaa", "0.myapp.pnrp.net", RecordType::AAAA, None),
        (
            "a-windows-form",
            "MyApp.pnrp.net.",
            RecordType::A,
            Some(1232),
        ),
        (
            "srv",
            "_ipp._tcp.0.printer.pnrp.net",
            RecordType::SRV,
            Some(1232),
        ),
        (
            "srv-port",
            "_631._tcp.0.printer.pnrp.net",
            RecordType::SRV,
            None,
        ),
        ("txt", "0.printer.pnrp.net", RecordType::TXT, Some(512)),
        (
            "any-punycode",
            "0.xn--caf-dma.pnrp.net",
            RecordType::ANY,
            Some(4096),
        ),
        ("ptr-v4", "7.2.0.192.in-addr.arpa", RecordType::PTR, None),
        (
            "ptr-v6",
            "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
            RecordType::PTR,
            Some(1232),
        ),
        ("soa-apex", "pnrp.net", RecordType::SOA, None),
        ("refused", "example.com", RecordType::A, None),
    ]
    .into_iter()
    .map(|(name, host, query_type, edns)| {
        (
            format!("query-{name}"),
            query_bytes(7, host, query_type, edns),
        )
    })
    .collect();
    let mut looped = seeds[0].1[..12].to_vec();
    looped.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1]);
    seeds.push(("pointer-loop".into(), looped));
    let mut response = seeds[0].1.clone();
    response[2] |= 0x80;
    seeds.push(("response".into(), response));
    seeds
}
