//! The DNS front end's fuzz entry point (feature `fuzzing`; `fuzz/fuzz_targets/dns.rs`, replayed
//! on stable by `tests/tests/fuzz_corpus.rs`): a datagram through [`answer::parse`] and, when it
//! asks something, [`answer::answer`] for every kind of finding at several size limits.

use pnrp_shared::ipc::{Record, Source};
use pnrp_shared::{PeerName, Protocol, ScopedAddr};

use super::answer::{self, Found, Parsed, Reply, Zone};
use super::services::Services;

/// A fuzz target's entry point.
pub type EntryPoint = fn(&[u8]);

/// Every fuzz target of this crate by name.
pub const TARGETS: &[(&str, EntryPoint)] = &[("dns", front_end)];

const ZONE: Zone = Zone { freshness_secs: 10 };

/// Invariants, for any bytes: no panic; every answer decodes, carries the query's ID, repeats
/// its question byte for byte (letter case kept), stays within its limit unless it is a bare
/// header and question (TC); a truncation fits its limit or is not sent.
pub fn front_end(data: &[u8]) {
    let services = Services::parse("ipp 631/tcp\nhttp 80/tcp www\n");
    match answer::parse(data, &services, ZONE) {
        Parsed::Drop => {}
        Parsed::Reply(reply) => check(data, &reply, usize::MAX),
        Parsed::Ask(query) => {
            let name: PeerName = "0.printer".parse().expect("a peer name");
            let records = vec![Record {
                name: name.clone(),
                addresses: ["fd00::7", "::ffff:192.0.2.7", "fe80::7"]
                    .iter()
                    .map(|ip| ScopedAddr {
                        ip: ip.parse().expect("an address"),
                        scope_id: 0,
                    })
                    .collect(),
                port: Some(631),
                protocol: Protocol::Tcp,
                comment: Some("lab printer".into()),
                payload: None,
                source: Source::Local,
            }];
            let findings = [
                Found::Records { records, ttl: 99 },
                Found::Names {
                    names: vec![name, "0.café".parse().expect("a peer name")],
                    ttl: 3,
                },
                Found::NotFound,
                Found::Failed,
            ];
            for found in &findings {
                for limit in [query.udp_limit(), 3 * data.len(), answer::TCP_PAYLOAD] {
                    let reply = answer::answer(&query, found, ZONE, limit);
                    check(data, &reply, limit);
                    let cut = answer::truncate(&reply, 3 * data.len());
                    assert!(cut.bytes.len() <= 3 * data.len());
                    if !cut.bytes.is_empty() {
                        check(data, &cut, 3 * data.len());
                    }
                }
            }
        }
    }
}

fn check(query: &[u8], reply: &Reply, limit: usize) {
    use hickory_proto::op::Message;
    let message = Message::from_vec(&reply.bytes).expect("every answer decodes");
    assert_eq!(
        message.metadata.id,
        u16::from_be_bytes([query[0], query[1]])
    );
    assert!(reply.bytes.len() <= limit || reply.truncated);
    assert_eq!(reply.truncated, message.metadata.truncation);
    if reply.truncated {
        assert!(message.answers.is_empty() && message.authorities.is_empty());
    }
    if let Some(question) = message.queries.first() {
        let asked = Message::from_vec(query).expect("a query answered with its question decodes");
        let asked = &asked.queries[0];
        assert!(
            question.name().iter().eq(asked.name().iter()),
            "letter case kept"
        );
        assert_eq!(question.query_type(), asked.query_type());
        for record in message.answers.iter().chain(&message.authorities) {
            assert!(
                record.ttl <= ZONE.freshness_secs,
                "no TTL beyond the window"
            );
        }
    }
}
