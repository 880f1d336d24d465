//! The answers without sockets: every record type, the negative answers, EDNS, truncation,
//! letter case, malformed input.

use super::*;
use pnrp_shared::ipc::Source;
use pnrp_shared::ScopedAddr;

const ZONE: Zone = Zone { freshness_secs: 10 };

fn services() -> Services {
    Services::parse("ipp 631/tcp\nhttp 80/tcp www\ndomain 53/udp\n")
}

fn peer(text: &str) -> PeerName {
    text.parse().unwrap()
}

fn address(text: &str) -> ScopedAddr {
    let ip: IpAddr = text.parse().unwrap();
    ScopedAddr {
        ip: match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        },
        scope_id: u32::from(text.starts_with("fe80")),
    }
}

fn record(name: &str, addresses: &[&str], port: Option<u16>, comment: Option<&str>) -> Record {
    Record {
        name: peer(name),
        addresses: addresses.iter().map(|text| address(text)).collect(),
        port,
        protocol: Protocol::Tcp,
        comment: comment.map(Into::into),
        payload: None,
        source: Source::Local,
    }
}

fn printer() -> Found {
    Found::Records {
        records: vec![record(
            "0.printer",
            &["fd00::7", "192.0.2.7", "fe80::7"],
            Some(631),
            Some("lab printer"),
        )],
        ttl: 10,
    }
}

fn ask(name: &str, query_type: RecordType) -> Query {
    match parse(
        &query_bytes(0x1234, name, query_type, Some(1232)),
        &services(),
        ZONE,
    ) {
        Parsed::Ask(query) => query,
        other => panic!("{name} {query_type}: {other:?}"),
    }
}

fn decode(reply: &Reply) -> Message {
    Message::from_vec(&reply.bytes).expect("the answer decodes")
}

fn immediate(bytes: &[u8]) -> Message {
    match parse(bytes, &services(), ZONE) {
        Parsed::Reply(reply) => decode(&reply),
        other => panic!("{other:?}"),
    }
}

/// Whether `name` has exactly the bytes of `text`, letter case included.
fn same_case(name: &Name, text: &str) -> bool {
    let wanted = Name::from_ascii(text).unwrap();
    name.iter().eq(wanted.iter())
}

fn rdata_strings(records: &[DnsRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| match &record.data {
            RData::PTR(PTR(target)) => target.to_ascii(),
            data => data.to_string(),
        })
        .collect()
}

#[test]
fn addresses_of_either_form_with_the_question_case_kept() {
    for host in [
        "0.Printer.PNRP.net",
        "printer.pnrp.NET.",
        "0.printer.pnrp.net",
    ] {
        let query = ask(host, RecordType::AAAA);
        let expected = if host.starts_with("0.P") {
            "0.Printer"
        } else {
            "0.printer"
        };
        assert_eq!(
            query.subject(),
            &Subject::Peer {
                name: peer(expected),
                endpoint: None
            }
        );
        let reply = answer(&query, &printer(), ZONE, 512);
        assert_eq!(reply.outcome, Outcome::Answered);
        let message = decode(&reply);
        assert_eq!(message.metadata.id, 0x1234);
        assert!(message.metadata.authoritative);
        assert!(message.metadata.recursion_desired);
        // Letter case kept: the question and the owner are the bytes asked.
        assert!(same_case(message.queries[0].name(), host));
        assert!(same_case(&message.answers[0].name, host));
        // The link-local address has no place in DNS; the IPv4 one is an A record.
        assert_eq!(rdata_strings(&message.answers), ["fd00::7"]);
        assert_eq!(message.answers[0].ttl, 10);
        assert!(message.edns.is_some(), "EDNS answered with EDNS");
    }
    let reply = answer(
        &ask("0.printer.pnrp.net", RecordType::A),
        &printer(),
        ZONE,
        512,
    );
    assert_eq!(rdata_strings(&decode(&reply).answers), ["192.0.2.7"]);
    let reply = answer(
        &ask("0.printer.pnrp.net", RecordType::ANY),
        &printer(),
        ZONE,
        512,
    );
    assert_eq!(
        rdata_strings(&decode(&reply).answers),
        ["fd00::7", "192.0.2.7", "lab printer"]
    );
}

#[test]
fn ttls_never_exceed_the_window() {
    let found = Found::Records {
        records: vec![record("0.a", &["fd00::1"], None, None)],
        ttl: 3,
    };
    let reply = answer(&ask("0.a.pnrp.net", RecordType::AAAA), &found, ZONE, 512);
    assert_eq!(decode(&reply).answers[0].ttl, 3);
    let long = Found::Records {
        records: vec![record("0.a", &["fd00::1"], None, None)],
        ttl: 3600,
    };
    let reply = answer(&ask("0.a.pnrp.net", RecordType::AAAA), &long, ZONE, 512);
    assert_eq!(decode(&reply).answers[0].ttl, 10);
}

#[test]
fn secured_names_and_punycode_labels() {
    let authority = "4c".repeat(20);
    let query = ask(&format!("{authority}.Web.pnrp.net"), RecordType::AAAA);
    assert_eq!(
        query.subject(),
        &Subject::Peer {
            name: peer(&format!("{authority}.Web")),
            endpoint: None
        }
    );
    let query = ask(
        &format!("web.p{}.pnrp.net", authority.to_uppercase()),
        RecordType::A,
    );
    assert_eq!(
        query.subject(),
        &Subject::Peer {
            name: peer(&format!("{authority}.web")),
            endpoint: None
        }
    );
    let query = ask("0.xn--caf-dma.pnrp.net", RecordType::AAAA);
    assert_eq!(
        query.subject(),
        &Subject::Peer {
            name: peer("0.café"),
            endpoint: None
        }
    );
    assert_eq!(
        dns_name_of(&peer("0.café")).unwrap().to_ascii(),
        "0.xn--caf-dma.pnrp.net."
    );
    assert_eq!(
        dns_name_of(&peer("0.xn--a")).unwrap().to_ascii(),
        "0.xn--xn--a-.pnrp.net."
    );
    assert!(dns_name_of(&peer(&format!("0.{}", "a".repeat(64)))).is_none());
}

#[test]
fn srv_for_the_application_endpoint() {
    for host in [
        "_ipp._tcp.0.printer.pnrp.net",
        "_631._TCP.0.printer.pnrp.net",
        "_IPP._tcp.printer.pnrp.net",
    ] {
        let query = ask(host, RecordType::SRV);
        assert_eq!(
            query.subject(),
            &Subject::Peer {
                name: peer("0.printer"),
                endpoint: Some(Endpoint {
                    port: 631,
                    protocol: Protocol::Tcp
                })
            },
            "{host}"
        );
        let message = decode(&answer(&query, &printer(), ZONE, 512));
        let target = Name::from_ascii(host)
            .unwrap()
            .trim_to(usize::from(Name::from_ascii(host).unwrap().num_labels()) - 2);
        assert_eq!(
            rdata_strings(&message.answers),
            [format!("0 0 631 {target}")],
            "{host}"
        );
        // The target's addresses come along.
        assert_eq!(
            rdata_strings(&message.additionals),
            ["fd00::7", "192.0.2.7"]
        );
        // The SRV name has no addresses of its own.
        let message = decode(&answer(&ask(host, RecordType::AAAA), &printer(), ZONE, 512));
        assert_eq!(message.metadata.response_code, ResponseCode::NoError);
        assert!(message.answers.is_empty());
    }
    // Another endpoint than the one registered: no such name.
    let message = decode(&answer(
        &ask("_http._tcp.0.printer.pnrp.net", RecordType::SRV),
        &printer(),
        ZONE,
        512,
    ));
    assert_eq!(message.metadata.response_code, ResponseCode::NXDomain);
    let message = decode(&answer(
        &ask("_631._udp.0.printer.pnrp.net", RecordType::SRV),
        &printer(),
        ZONE,
        512,
    ));
    assert_eq!(message.metadata.response_code, ResponseCode::NXDomain);
    // A service /etc/services does not name, or a transport that is neither: answered at once.
    for host in [
        "_nope._tcp.0.printer.pnrp.net",
        "_ipp._sctp.0.printer.pnrp.net",
        "_0._tcp.0.printer.pnrp.net",
    ] {
        let message = immediate(&query_bytes(7, host, RecordType::SRV, None));
        assert_eq!(
            message.metadata.response_code,
            ResponseCode::NXDomain,
            "{host}"
        );
        assert_eq!(message.authorities[0].record_type(), RecordType::SOA);
    }
}

#[test]
fn txt_carries_the_comment() {
    let message = decode(&answer(
        &ask("0.printer.pnrp.net", RecordType::TXT),
        &printer(),
        ZONE,
        512,
    ));
    assert_eq!(rdata_strings(&message.answers), ["lab printer"]);
}

#[test]
fn nodata_and_nxdomain_carry_the_soa() {
    let found = Found::Records {
        records: vec![record("0.a", &["fd00::1"], None, None)],
        ttl: 10,
    };
    for query_type in [
        RecordType::A,
        RecordType::TXT,
        RecordType::MX,
        RecordType::SRV,
    ] {
        let reply = answer(&ask("0.a.pnrp.net", query_type), &found, ZONE, 512);
        assert_eq!(reply.outcome, Outcome::Answered);
        let message = decode(&reply);
        assert_eq!(
            message.metadata.response_code,
            ResponseCode::NoError,
            "{query_type}"
        );
        assert!(message.answers.is_empty(), "{query_type}");
        assert_eq!(message.authorities[0].record_type(), RecordType::SOA);
    }
    let reply = answer(
        &ask("0.Gone.pnrp.net", RecordType::AAAA),
        &Found::NotFound,
        ZONE,
        512,
    );
    assert_eq!(reply.outcome, Outcome::NxDomain);
    let message = decode(&reply);
    assert_eq!(message.metadata.response_code, ResponseCode::NXDomain);
    let soa = &message.authorities[0];
    assert!(same_case(&soa.name, "pnrp.net."));
    assert_eq!(soa.ttl, NEGATIVE_TTL_SECS);
    let RData::SOA(soa) = &soa.data else { panic!() };
    assert_eq!(soa.minimum, NEGATIVE_TTL_SECS);
    // A window shorter than the negative TTL bounds it too.
    let short = Zone { freshness_secs: 1 };
    let message = decode(&answer(
        &ask("0.x.pnrp.net", RecordType::AAAA),
        &Found::NotFound,
        short,
        512,
    ));
    assert_eq!(message.authorities[0].ttl, 1);
    // The daemon could not say: SERVFAIL.
    let reply = answer(
        &ask("0.x.pnrp.net", RecordType::AAAA),
        &Found::Failed,
        ZONE,
        512,
    );
    assert_eq!(reply.outcome, Outcome::Failed);
    assert_eq!(
        decode(&reply).metadata.response_code,
        ResponseCode::ServFail
    );
}

#[test]
fn the_apex_has_its_soa() {
    let message = immediate(&query_bytes(1, "PNRP.net", RecordType::SOA, None));
    assert_eq!(message.answers[0].record_type(), RecordType::SOA);
    assert!(same_case(&message.answers[0].name, "PNRP.net."));
    let message = immediate(&query_bytes(1, "pnrp.net", RecordType::A, None));
    assert_eq!(message.metadata.response_code, ResponseCode::NoError);
    assert!(message.answers.is_empty());
    assert_eq!(message.authorities[0].record_type(), RecordType::SOA);
}

#[test]
fn other_zones_are_refused() {
    for (name, query_type) in [
        ("example.com", RecordType::A),
        ("pnrp.network", RecordType::A),
        ("net", RecordType::NS),
        (".", RecordType::NS),
        ("7.2.0.192.in-addr.arpa", RecordType::A),
    ] {
        let message = immediate(&query_bytes(9, name, query_type, None));
        assert_eq!(
            message.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
        assert_eq!(message.queries.len(), 1);
    }
}

#[test]
fn ptr_for_known_addresses() {
    let v4 = ask("7.2.0.192.in-addr.arpa", RecordType::PTR);
    assert_eq!(
        v4.subject(),
        &Subject::Address("192.0.2.7".parse().unwrap())
    );
    let nibbles: String = "fd000000000000000000000000000007"
        .chars()
        .rev()
        .map(|nibble| format!("{nibble}."))
        .collect();
    let v6 = ask(&format!("{nibbles}IP6.arpa"), RecordType::PTR);
    assert_eq!(v6.subject(), &Subject::Address("fd00::7".parse().unwrap()));
    let found = Found::Names {
        names: vec![peer("0.printer"), peer("0.café")],
        ttl: 10,
    };
    let message = decode(&answer(&v6, &found, ZONE, 512));
    assert_eq!(
        rdata_strings(&message.answers),
        ["0.printer.pnrp.net.", "0.xn--caf-dma.pnrp.net."]
    );
    let unknown = Found::Names {
        names: Vec::new(),
        ttl: 10,
    };
    let reply = answer(&v4, &unknown, ZONE, 512);
    assert_eq!(reply.outcome, Outcome::Refused);
    // Not a whole address, or not one at all.
    for name in [
        "2.0.192.in-addr.arpa",
        "300.2.0.192.in-addr.arpa",
        "07.2.0.192.in-addr.arpa",
        "x.ip6.arpa",
    ] {
        let message = immediate(&query_bytes(9, name, RecordType::PTR, None));
        assert_eq!(
            message.metadata.response_code,
            ResponseCode::Refused,
            "{name}"
        );
    }
}

#[test]
fn edns_and_truncation() {
    let many: Vec<String> = (1..=60).map(|index| format!("fd00::{index:x}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let found = Found::Records {
        records: vec![record("0.big", &many, None, None)],
        ttl: 10,
    };
    // Without EDNS: 512 bytes at most, so TC.
    let Parsed::Ask(classic) = parse(
        &query_bytes(3, "0.big.pnrp.net", RecordType::AAAA, None),
        &services(),
        ZONE,
    ) else {
        panic!()
    };
    assert_eq!(classic.udp_limit(), 512);
    let reply = answer(&classic, &found, ZONE, classic.udp_limit());
    assert!(reply.truncated && reply.bytes.len() <= 512);
    let message = decode(&reply);
    assert!(message.metadata.truncation);
    assert!(message.answers.is_empty());
    assert_eq!(message.queries.len(), 1);
    // Over TCP, whole.
    let reply = answer(&classic, &found, ZONE, TCP_PAYLOAD);
    assert!(!reply.truncated);
    assert_eq!(decode(&reply).answers.len(), 60);
    // With EDNS, up to 1232 bytes: it fits (60 × 28 bytes = 1680 does not; 40 do).
    let edns = ask("0.big.pnrp.net", RecordType::AAAA);
    assert_eq!(edns.udp_limit(), usize::from(UDP_PAYLOAD));
    let reply = answer(&edns, &found, ZONE, edns.udp_limit());
    assert!(reply.truncated && reply.bytes.len() <= usize::from(UDP_PAYLOAD));
    let smaller = Found::Records {
        records: vec![record("0.big", &many[..30], None, None)],
        ttl: 10,
    };
    let reply = answer(&edns, &smaller, ZONE, edns.udp_limit());
    assert!(!reply.truncated && reply.bytes.len() > 512);
    assert_eq!(
        decode(&reply).edns.as_ref().unwrap().max_payload(),
        UDP_PAYLOAD
    );
    // Cut to three times a query, as for a source that is not loopback.
    let query = query_bytes(3, "0.big.pnrp.net", RecordType::AAAA, Some(4096));
    let cut = truncate(&reply, query.len() * 3);
    assert!(cut.truncated && cut.bytes.len() <= query.len() * 3);
    assert!(decode(&cut).metadata.truncation);
    // An EDNS version this front end does not speak.
    let mut bytes = query_bytes(4, "0.big.pnrp.net", RecordType::AAAA, Some(1232));
    let version = bytes.len() - 11 + 6; // OPT: name, type, class, then rcode_high, version
    bytes[version] = 1;
    let message = immediate(&bytes);
    // BADVERS, 16 (which hickory reads back as BADSIG, the same number).
    assert_eq!(u16::from(message.metadata.response_code), 16);
}

#[test]
fn malformed_queries_get_formerr_or_nothing() {
    let good = query_bytes(0xabcd, "0.a.pnrp.net", RecordType::AAAA, None);
    // Too short for a header, or a response: dropped.
    assert!(matches!(
        parse(&good[..11], &services(), ZONE),
        Parsed::Drop
    ));
    let mut response = good.clone();
    response[2] |= 0x80;
    assert!(matches!(parse(&response, &services(), ZONE), Parsed::Drop));
    // Cut inside the question, two questions, records in the answer section, huge counts.
    let mut two = good.clone();
    two[5] = 2;
    let mut answers = good.clone();
    answers[7] = 1;
    let mut huge = good.clone();
    huge[10] = 0xff;
    huge[11] = 0xff;
    for bytes in [
        &good[..good.len() - 3],
        &good[..12],
        &two[..],
        &answers[..],
        &huge[..],
    ] {
        let message = immediate(bytes);
        assert_eq!(message.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(message.metadata.id, 0xabcd);
    }
    // A compression pointer to itself.
    let mut looped = good[..12].to_vec();
    looped.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1]);
    assert_eq!(
        immediate(&looped).metadata.response_code,
        ResponseCode::FormErr
    );
    // Another opcode.
    let mut update = good.clone();
    update[2] = 5 << 3;
    assert_eq!(
        immediate(&update).metadata.response_code,
        ResponseCode::NotImp
    );
}

#[test]
fn no_bytes_make_it_panic() {
    // Mutations of valid queries and plain noise, through parse and answer.
    let seeds = [
        query_bytes(
            1,
            "_ipp._tcp.0.printer.pnrp.net",
            RecordType::SRV,
            Some(1232),
        ),
        query_bytes(2, "7.2.0.192.in-addr.arpa", RecordType::PTR, None),
        query_bytes(3, "0.xn--caf-dma.pnrp.net", RecordType::ANY, Some(512)),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        match next() % 4 {
            0 => {
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
            }
            1 => bytes.truncate(next() as usize % bytes.len()),
            2 => bytes = (0..next() % 600).map(|_| next() as u8).collect(),
            _ => {
                for _ in 0..8 {
                    let at = next() as usize % bytes.len();
                    bytes[at] = next() as u8;
                }
            }
        }
        if let Parsed::Ask(query) = parse(&bytes, &services(), ZONE) {
            for found in [printer(), Found::NotFound, Found::Failed] {
                let reply = answer(&query, &found, ZONE, 100);
                assert!(reply.bytes.len() <= 100 || reply.bytes.len() <= bytes.len() + 11);
            }
        }
    }
}
