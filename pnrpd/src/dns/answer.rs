//! The DNS answers, as pure functions (no socket, no clock): [`parse`] turns a query's bytes into
//! what must be looked up (a [`Query`] and its [`Subject`]) or into an answer at once (errors,
//! names outside `pnrp.net`); [`answer`] turns what the daemon found into the answer's bytes,
//! within a size limit (TC set, records left out, when it does not fit).
//!
//! The message format is hickory-proto's. Before it decodes anything, the header's counts are
//! checked (one question, nothing in the answer and authority sections, at most two additional
//! records), so that no datagram makes the decoder reserve room for thousands of records.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query as Question, ResponseCode};
use hickory_proto::rr::domain::Label;
use hickory_proto::rr::rdata::{A, AAAA, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record as DnsRecord, RecordType};
use pnrp_shared::hostname::{has_ace_prefix, peer_name_of_host, PNRP_DOMAIN};
use pnrp_shared::ipc::Record;
use pnrp_shared::{punycode, PeerName, Protocol};

use super::services::Services;

/// The largest UDP answer this front end offers with EDNS(0) (the DNS flag day 2020 value: no
/// fragmentation on any usual path).
pub const UDP_PAYLOAD: u16 = 1232;
/// The largest UDP answer to a query without EDNS (RFC 1035).
pub const CLASSIC_UDP_PAYLOAD: usize = 512;
/// The largest answer over TCP (its two-byte length).
pub const TCP_PAYLOAD: usize = 65535;
/// How long a resolver may remember that a name does not resolve (the SOA's minimum): short,
/// since a name published elsewhere resolves at once through the NSS path.
pub const NEGATIVE_TTL_SECS: u32 = 2;
/// Bytes of a DNS header.
const HEADER_LEN: usize = 12;
/// Most additional records a query may carry (OPT, and a TSIG or SIG(0) we ignore).
const MAX_QUERY_ADDITIONALS: u16 = 2;

/// The zone's timing: what the daemon is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// The freshness window, in seconds: no answer's TTL exceeds it.
    pub freshness_secs: u32,
}

impl Zone {
    fn negative_ttl(self) -> u32 {
        NEGATIVE_TTL_SECS.min(self.freshness_secs)
    }
}

/// An application endpoint asked for by an SRV name (`_ipp._tcp.…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The port.
    pub port: u16,
    /// Its transport.
    pub protocol: Protocol,
}

/// What a query is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A peer name (for an SRV name, the name after `_service._proto.`).
    Peer {
        /// The peer name the host name stands for.
        name: PeerName,
        /// The endpoint an SRV name asks for.
        endpoint: Option<Endpoint>,
    },
    /// The addresses' names: a PTR query under `in-addr.arpa` or `ip6.arpa`.
    Address(IpAddr),
}

/// A query that needs something looked up.
#[derive(Debug, Clone)]
pub struct Query {
    request: Message,
    subject: Subject,
    /// The client's EDNS payload size, if it sent EDNS.
    payload: Option<u16>,
}

impl Query {
    /// What must be looked up.
    pub fn subject(&self) -> &Subject {
        &self.subject
    }

    /// The largest UDP answer the client takes.
    pub fn udp_limit(&self) -> usize {
        match self.payload {
            Some(payload) => usize::from(payload.clamp(512, UDP_PAYLOAD)),
            None => CLASSIC_UDP_PAYLOAD,
        }
    }
}

/// What became of a query, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// NOERROR, with records or without.
    Answered,
    /// NXDOMAIN.
    NxDomain,
    /// REFUSED.
    Refused,
    /// SERVFAIL.
    Failed,
    /// FORMERR, NOTIMP or BADVERS.
    Malformed,
}

/// An answer ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The message.
    pub bytes: Vec<u8>,
    /// Its kind.
    pub outcome: Outcome,
    /// Whether records were left out for size (TC set).
    pub truncated: bool,
}

/// What [`parse`] made of a datagram.
#[derive(Debug)]
pub enum Parsed {
    /// Not answered (not a query, or too broken to answer).
    Drop,
    /// Answered at once.
    Reply(Reply),
    /// Needs a lookup, then [`answer`].
    Ask(Query),
}

/// What the daemon found for a [`Subject`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A peer name's records (never empty), fresh for `ttl` more seconds.
    Records {
        /// The records, as the socket protocol gives them.
        records: Vec<Record>,
        /// Seconds they stay fresh.
        ttl: u32,
    },
    /// The names at an address, fresh for `ttl` more seconds (empty: none known).
    Names {
        /// The names.
        names: Vec<PeerName>,
        /// Seconds they stay fresh.
        ttl: u32,
    },
    /// The name does not resolve.
    NotFound,
    /// The daemon could not say (busy or stopping).
    Failed,
}

/// Reads a query. Answers at once what needs no lookup; never panics, whatever the bytes.
pub fn parse(bytes: &[u8], services: &Services, zone: Zone) -> Parsed {
    let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
        return Parsed::Drop;
    };
    let id = u16::from_be_bytes([header[0], header[1]]);
    // A response is never answered (no loops between two servers).
    if header[2] & 0x80 != 0 {
        return Parsed::Drop;
    }
    let op_code = OpCode::from_u8((header[2] >> 3) & 0x0f);
    let count = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
    let (questions, answers, authorities, additionals) = (count(4), count(6), count(8), count(10));
    if op_code != OpCode::Query {
        return Parsed::Reply(bare(id, op_code, ResponseCode::NotImp));
    }
    if questions != 1 || answers != 0 || authorities != 0 || additionals > MAX_QUERY_ADDITIONALS {
        return Parsed::Reply(bare(id, op_code, ResponseCode::FormErr));
    }
    let Ok(request) = Message::from_vec(bytes) else {
        return Parsed::Reply(bare(id, op_code, ResponseCode::FormErr));
    };
    let Some(question) = request.queries.first() else {
        return Parsed::Reply(bare(id, op_code, ResponseCode::FormErr));
    };
    let payload = request.edns.as_ref().map(Edns::max_payload);
    if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
        let mut reply = response(&request);
        reply.metadata.response_code = ResponseCode::BADVERS;
        return Parsed::Reply(finish(reply, Outcome::Malformed, CLASSIC_UDP_PAYLOAD));
    }
    let refuse = |request: &Message| {
        let mut reply = response(request);
        reply.metadata.response_code = ResponseCode::Refused;
        Parsed::Reply(finish(reply, Outcome::Refused, CLASSIC_UDP_PAYLOAD))
    };
    if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY) {
        return refuse(&request);
    }
    let name = question.name();
    let subject = if let Some(address) = arpa_address(name) {
        if question.query_type() != RecordType::PTR {
            return refuse(&request);
        }
        Subject::Address(address)
    } else if !in_zone(name) {
        return refuse(&request);
    } else if usize::from(name.num_labels()) == 2 {
        // pnrp.net itself: its SOA, nothing else.
        let mut reply = authoritative(&request);
        let soa = soa_record(name, zone);
        if matches!(question.query_type(), RecordType::SOA | RecordType::ANY) {
            reply.answers.push(soa);
        } else {
            reply.authorities.push(soa);
        }
        return Parsed::Reply(finish(reply, Outcome::Answered, udp_limit(&request)));
    } else {
        match peer_subject(name, services) {
            Some(subject) => subject,
            None => {
                let mut reply = authoritative(&request);
                reply.metadata.response_code = ResponseCode::NXDomain;
                reply.authorities.push(soa_record(name, zone));
                return Parsed::Reply(finish(reply, Outcome::NxDomain, udp_limit(&request)));
            }
        }
    };
    Parsed::Ask(Query {
        request,
        subject,
        payload,
    })
}

/// The answer to `query` from what was `found`, at most `limit` bytes (TC set and records left
/// out when it would not fit).
pub fn answer(query: &Query, found: &Found, zone: Zone, limit: usize) -> Reply {
    let request = &query.request;
    let question = &request.queries[0];
    let name = question.name();
    let query_type = question.query_type();
    match (&query.subject, found) {
        (_, Found::Failed) => {
            let mut reply = response(request);
            reply.metadata.response_code = ResponseCode::ServFail;
            finish(reply, Outcome::Failed, limit)
        }
        (Subject::Address(_), Found::Names { names, ttl }) if !names.is_empty() => {
            let mut reply = authoritative(request);
            for peer in names {
                if let Some(target) = dns_name_of(peer) {
                    reply.answers.push(DnsRecord::from_rdata(
                        name.clone(),
                        (*ttl).min(zone.freshness_secs),
                        RData::PTR(PTR(target)),
                    ));
                }
            }
            finish(reply, Outcome::Answered, limit)
        }
        // An address of no name this node knows: not ours to say.
        (Subject::Address(_), _) => {
            let mut reply = response(request);
            reply.metadata.response_code = ResponseCode::Refused;
            finish(reply, Outcome::Refused, limit)
        }
        (Subject::Peer { endpoint, .. }, Found::Records { records, ttl }) => {
            let ttl = (*ttl).min(zone.freshness_secs);
            let mut reply = authoritative(request);
            match endpoint {
                Some(endpoint) => {
                    let serving: Vec<&Record> = records
                        .iter()
                        .filter(|record| {
                            record.port == Some(endpoint.port)
                                && record.protocol == endpoint.protocol
                        })
                        .collect();
                    if serving.is_empty() {
                        return nxdomain(reply, name, zone, limit);
                    }
                    if matches!(query_type, RecordType::SRV | RecordType::ANY) {
                        // The target is the peer's host name, as the question wrote it.
                        let target = name.trim_to(usize::from(name.num_labels()) - 2);
                        reply.answers.push(DnsRecord::from_rdata(
                            name.clone(),
                            ttl,
                            RData::SRV(SRV::new(0, 0, endpoint.port, target.clone())),
                        ));
                        let mut additionals = Vec::new();
                        address_records(&target, &serving, RecordType::ANY, ttl, &mut additionals);
                        reply.additionals = additionals;
                    }
                }
                None => {
                    let all: Vec<&Record> = records.iter().collect();
                    address_records(name, &all, query_type, ttl, &mut reply.answers);
                    if matches!(query_type, RecordType::TXT | RecordType::ANY) {
                        let comments: BTreeSet<&str> = records
                            .iter()
                            .filter_map(|record| record.comment.as_deref())
                            .collect();
                        for comment in comments {
                            reply.answers.push(DnsRecord::from_rdata(
                                name.clone(),
                                ttl,
                                RData::TXT(TXT::new(vec![comment.to_owned()])),
                            ));
                        }
                    }
                }
            }
            if reply.answers.is_empty() {
                // The name exists, without records of this type.
                reply.authorities.push(soa_record(name, zone));
            }
            finish(reply, Outcome::Answered, limit)
        }
        (Subject::Peer { .. }, _) => nxdomain(authoritative(request), name, zone, limit),
    }
}

fn nxdomain(mut reply: Message, name: &Name, zone: Zone, limit: usize) -> Reply {
    reply.metadata.response_code = ResponseCode::NXDomain;
    reply.answers.clear();
    reply.additionals.clear();
    reply.authorities = vec![soa_record(name, zone)];
    finish(reply, Outcome::NxDomain, limit)
}

/// A, AAAA (or both, for ANY) records of `records`' addresses, each once. Link-local addresses
/// are left out: a DNS answer cannot carry their interface.
fn address_records(
    name: &Name,
    records: &[&Record],
    query_type: RecordType,
    ttl: u32,
    into: &mut Vec<DnsRecord>,
) {
    let want_v4 = matches!(query_type, RecordType::A | RecordType::ANY);
    let want_v6 = matches!(query_type, RecordType::AAAA | RecordType::ANY);
    let mut seen = BTreeSet::new();
    for address in records.iter().flat_map(|record| &record.addresses) {
        if !seen.insert(address.ip) {
            continue;
        }
        let rdata = match address.ip.to_ipv4_mapped() {
            Some(v4) if want_v4 => RData::A(A(v4)),
            None if want_v6 && !is_link_local(address.ip) => RData::AAAA(AAAA(address.ip)),
            _ => continue,
        };
        into.push(DnsRecord::from_rdata(name.clone(), ttl, rdata));
    }
}

fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// Whether `name` is `pnrp.net` or under it (any letter case).
fn in_zone(name: &Name) -> bool {
    let mut labels = name.iter().rev();
    matches!(
        (labels.next(), labels.next()),
        (Some(net), Some(pnrp)) if net.eq_ignore_ascii_case(b"net") && pnrp.eq_ignore_ascii_case(b"pnrp")
    )
}

/// The peer name (and endpoint) a name under `pnrp.net` stands for; `None` when it stands for
/// none (an unknown service, a label that is not text, a name no peer can have).
fn peer_subject(name: &Name, services: &Services) -> Option<Subject> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let mut host = labels.as_slice();
    let mut endpoint = None;
    if let [service, protocol, rest @ ..] = host {
        if let (Some(service), Some(protocol)) =
            (service.strip_prefix(b"_"), protocol.strip_prefix(b"_"))
        {
            let protocol = match protocol.to_ascii_lowercase().as_slice() {
                b"tcp" => Protocol::Tcp,
                b"udp" => Protocol::Udp,
                _ => return None,
            };
            let service = std::str::from_utf8(service).ok()?;
            let port = match service.parse::<u16>() {
                Ok(port) if port > 0 && !service.starts_with('+') => port,
                _ => services.port(service, protocol)?,
            };
            endpoint = Some(Endpoint { port, protocol });
            host = rest;
        }
    }
    // Labels joined by dots must not hide a dot inside a label.
    let mut text = String::with_capacity(name.len());
    for label in host {
        let label = std::str::from_utf8(label).ok()?;
        if label.contains('.') {
            return None;
        }
        text.push_str(label);
        text.push('.');
    }
    text.pop();
    let name = peer_name_of_host(&text).ok()?;
    Some(Subject::Peer { name, endpoint })
}

/// The address a name under `in-addr.arpa` or `ip6.arpa` stands for (a whole address only).
fn arpa_address(name: &Name) -> Option<IpAddr> {
    let labels: Vec<&[u8]> = name.iter().collect();
    let (arpa, rest) = labels.split_last()?;
    if !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    let (kind, digits) = rest.split_last()?;
    if kind.eq_ignore_ascii_case(b"in-addr") && digits.len() == 4 {
        let mut octets = [0u8; 4];
        for (octet, label) in octets.iter_mut().zip(digits.iter().rev()) {
            let text = std::str::from_utf8(label).ok()?;
            if text.len() > 1 && text.starts_with('0') {
                return None;
            }
            *octet = text.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if kind.eq_ignore_ascii_case(b"ip6") && digits.len() == 32 {
        let mut value: u128 = 0;
        for label in digits.iter().rev() {
            let [nibble] = label else { return None };
            let nibble = char::from(*nibble).to_digit(16)?;
            value = value << 4 | u128::from(nibble);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

/// The DNS name of a peer name: its direct-form host name, each label that is not plain ASCII
/// (or that begins `xn--`) in punycode, as `peer_name_of_host` reads it back. `None` when a
/// label does not fit a DNS label.
pub fn dns_name_of(peer: &PeerName) -> Option<Name> {
    let authority = peer.authority().to_string();
    let mut labels: Vec<Label> = vec![Label::from_raw_bytes(authority.as_bytes()).ok()?];
    for label in peer.classifier().split('.') {
        let label = if label.is_ascii() && !has_ace_prefix(label) {
            Label::from_raw_bytes(label.as_bytes())
        } else {
            Label::from_raw_bytes(format!("xn--{}", punycode::encode(label)).as_bytes())
        };
        labels.push(label.ok()?);
    }
    for label in PNRP_DOMAIN.split('.') {
        labels.push(Label::from_raw_bytes(label.as_bytes()).ok()?);
    }
    let mut name = Name::from_labels(labels).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// The zone's SOA, its owner `pnrp.net` in the question's letter case.
fn soa_record(question: &Name, zone: Zone) -> DnsRecord {
    let apex = question.trim_to(2);
    let host = |label: &str| {
        Name::from_labels([label.as_bytes()])
            .and_then(|prefix| prefix.append_domain(&apex))
            .unwrap_or_else(|_| apex.clone())
    };
    let negative = zone.negative_ttl();
    DnsRecord::from_rdata(
        apex.clone(),
        negative,
        RData::SOA(SOA::new(
            host("pnrpd"),
            host("hostmaster"),
            1,
            i32::try_from(zone.freshness_secs).unwrap_or(i32::MAX),
            i32::try_from(zone.freshness_secs).unwrap_or(i32::MAX),
            i32::try_from(zone.freshness_secs).unwrap_or(i32::MAX),
            negative,
        )),
    )
}

/// The response to `request`: its ID, opcode, RD and question (exactly as asked, letter case
/// kept), EDNS if it had EDNS.
fn response(request: &Message) -> Message {
    let mut reply = Message::new(
        request.metadata.id,
        MessageType::Response,
        request.metadata.op_code,
    );
    reply.metadata.recursion_desired = request.metadata.recursion_desired;
    reply.metadata.checking_disabled = request.metadata.checking_disabled;
    reply.queries = request.queries.clone();
    if request.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        reply.edns = Some(edns);
    }
    reply
}

/// A response for the zone this front end is the authority of.
fn authoritative(request: &Message) -> Message {
    let mut reply = response(request);
    reply.metadata.authoritative = true;
    reply
}

fn udp_limit(request: &Message) -> usize {
    match request.edns.as_ref().map(Edns::max_payload) {
        Some(payload) => usize::from(payload.clamp(512, UDP_PAYLOAD)),
        None => CLASSIC_UDP_PAYLOAD,
    }
}

/// A header-only answer, for a query whose question cannot be read.
fn bare(id: u16, op_code: OpCode, code: ResponseCode) -> Reply {
    let mut reply = Message::new(id, MessageType::Response, op_code);
    reply.metadata.response_code = code;
    finish(reply, Outcome::Malformed, CLASSIC_UDP_PAYLOAD)
}

/// Encodes `reply`; when it is longer than `limit`, sends the header, question and EDNS only,
/// with TC set (the client asks again over TCP).
fn finish(mut reply: Message, outcome: Outcome, limit: usize) -> Reply {
    if let Ok(bytes) = reply.to_vec() {
        if bytes.len() <= limit {
            return Reply {
                bytes,
                outcome,
                truncated: false,
            };
        }
    }
    reply.answers.clear();
    reply.authorities.clear();
    reply.additionals.clear();
    reply.metadata.truncation = true;
    let bytes = reply.to_vec().unwrap_or_default();
    Reply {
        bytes,
        outcome,
        truncated: true,
    }
}

/// `reply` cut to at most `limit` bytes: as it is if it fits, else its header, question and EDNS
/// with TC set; empty (not to be sent) if even that does not fit.
pub fn truncate(reply: &Reply, limit: usize) -> Reply {
    if reply.bytes.len() <= limit {
        return reply.clone();
    }
    let Ok(message) = Message::from_vec(&reply.bytes) else {
        return Reply {
            bytes: Vec::new(),
            ..reply.clone()
        };
    };
    let mut cut = finish(message, reply.outcome, 0);
    if cut.bytes.len() > limit {
        cut.bytes.clear();
    }
    cut
}

/// A question, for tests and tools: `name` of `query_type`, with EDNS when `edns` is given.
pub fn query_bytes(id: u16, name: &str, query_type: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    if let Ok(name) = Name::from_ascii(name) {
        message.queries.push(Question::query(name, query_type));
    }
    if let Some(payload) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(payload);
        message.edns = Some(opt);
    }
    message.to_vec().unwrap_or_default()
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
