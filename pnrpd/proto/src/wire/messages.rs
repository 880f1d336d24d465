//! The PNRP Header (§2.2.1), the eight messages (§2.2.2) and AUTHORITY_BUFFER (§2.2.2.6.1).

use pnrp_shared::{Authority as NameAuthority, PeerName, PeerNameError, PnrpId};

use super::codec::{read_array, write_array, BoundedVec, Reader, Writer};
use super::cpa::Cpa;
use super::error::{WireError, WireErrorKind};
use super::extended::ExtendedPayload;
use super::types::{
    field_id as id, read_optional_route, write_optional_route, Endpoint, RouteEntry, ENDPOINT_LEN,
};

/// PNRP Header Identifier.
pub const IDENTIFIER: u8 = 0x51;
/// Most PNRP IDs in an ADVERTISE or REQUEST. The spec allows NumEntries up to 0x7FFF, but the
/// 16-bit Length caps the array at 2047 and a UDP datagram (65507 bytes) at 2045.
pub const MAX_PNRP_IDS: usize = 2045;
/// Most IPV6_ENDPOINTs in an Already Flooded List or Flagged Path.
pub const MAX_PATH_ENDPOINTS: usize = 22;
/// Largest AUTHORITY_BUFFER (the AUTHORITY Size limit).
pub const MAX_AUTHORITY_BUFFER: usize = 0x91E4;
/// Largest certificate chain we carry: what is left of [`MAX_AUTHORITY_BUFFER`] when every other
/// AUTHORITY_BUFFER field is at its largest (flags 8, classifier 312, extended payload 4316 with an
/// RSA signature, route entry 368, RSA CPA 763, chain header and padding 7).
pub const MAX_CERT_CHAIN: usize = 31_500;

/// MessageType (§2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// 0x01
    Solicit = 0x01,
    /// 0x02
    Advertise = 0x02,
    /// 0x03
    Request = 0x03,
    /// 0x04
    Flood = 0x04,
    /// 0x07
    Inquire = 0x07,
    /// 0x08
    Authority = 0x08,
    /// 0x09
    Ack = 0x09,
    /// 0x0B
    Lookup = 0x0B,
}

impl MessageType {
    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0x01 => MessageType::Solicit,
            0x02 => MessageType::Advertise,
            0x03 => MessageType::Request,
            0x04 => MessageType::Flood,
            0x07 => MessageType::Inquire,
            0x08 => MessageType::Authority,
            0x09 => MessageType::Ack,
            0x0B => MessageType::Lookup,
            _ => return None,
        })
    }
}

/// The PNRP Header: `0x0010 | 0x000C | 0x51 | 4 | 0 | MessageType | Message ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What follows.
    pub message_type: MessageType,
    /// Matches acknowledgments to requests.
    pub message_id: u32,
}

impl Header {
    /// Encoded length.
    pub const LEN: usize = 12;

    /// The 12 header bytes.
    pub fn encode(&self) -> [u8; 12] {
        let id = self.message_id.to_be_bytes();
        [
            0x00,
            0x10,
            0x00,
            0x0C,
            IDENTIFIER,
            4,
            0,
            self.message_type as u8,
            id[0],
            id[1],
            id[2],
            id[3],
        ]
    }

    /// Decodes and checks the header at the start of `bytes` (§3.1.5.2).
    pub fn decode(bytes: &[u8]) -> Result<Header, WireError> {
        Self::read(&mut Reader::new(bytes))
    }

    fn read(r: &mut Reader<'_>) -> Result<Header, WireError> {
        let mut body =
            r.fixed_field(id::PNRP_HEADER, 12, "PNRP_HEADER", "Length must be 0x000C")?;
        let at = body.offset();
        let identifier = body.u8("Identifier")?;
        if identifier != IDENTIFIER {
            return Err(Reader::error_at(
                at,
                WireErrorKind::BadValue {
                    field: "Identifier",
                    found: identifier.into(),
                    rule: "must be 0x51",
                },
            ));
        }
        let major = body.u8("VersionMajor")?;
        let minor = body.u8("VersionMinor")?;
        if (major, minor) != (4, 0) {
            return Err(Reader::error_at(
                at + 1,
                WireErrorKind::BadValue {
                    field: "Version",
                    found: u64::from(major) << 8 | u64::from(minor),
                    rule: "must be 4.0",
                },
            ));
        }
        let kind = body.u8("MessageType")?;
        let message_type = MessageType::from_u8(kind).ok_or_else(|| {
            Reader::error_at(
                at + 3,
                WireErrorKind::BadValue {
                    field: "MessageType",
                    found: kind.into(),
                    rule: "must be 1, 2, 3, 4, 7, 8, 9 or 11",
                },
            )
        })?;
        let message_id = body.u32_be("Message ID")?;
        Ok(Header {
            message_type,
            message_id,
        })
    }
}

/// SolicitType (§2.2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SolicitType {
    /// Local and cached route entries.
    Any = 0,
    /// Only locally registered IDs.
    Local = 1,
}

/// SOLICIT (§2.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicit {
    /// SOLICIT_CONTROLS, when present.
    pub solicit_type: Option<SolicitType>,
    /// A route entry for one of the sender's registered IDs.
    pub route_entry: Option<RouteEntry>,
    /// SHA-1 of the conversation's nonce.
    pub hashed_nonce: [u8; 20],
}

/// ADVERTISE (§2.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    /// The SOLICIT's Message ID.
    pub acked_message_id: u32,
    /// PNRP IDs on offer.
    pub ids: BoundedVec<PnrpId, 0, MAX_PNRP_IDS>,
    /// The SOLICIT's HashedNonce.
    pub hashed_nonce: [u8; 20],
}

/// REQUEST (§2.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The conversation's nonce (whose SHA-1 was in the SOLICIT).
    pub nonce: [u8; 16],
    /// PNRP IDs wanted.
    pub ids: BoundedVec<PnrpId, 0, MAX_PNRP_IDS>,
}

/// FLOOD (§2.2.2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flood {
    /// D: don't ACK.
    pub no_ack: bool,
    /// The destination's PNRP ID, or zero.
    pub validate_id: PnrpId,
    /// A revoke CPA (boxed: it is most of a FLOOD's size).
    pub revoke_cpa: Option<Box<Cpa>>,
    /// A route entry being flooded.
    pub route_entry: Option<RouteEntry>,
    /// Nodes that have seen this FLOOD (0 to 22).
    pub already_flooded: BoundedVec<Endpoint, 0, MAX_PATH_ENDPOINTS>,
}

/// INQUIRE (§2.2.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquire {
    /// A: send the CPA.
    pub want_cpa: bool,
    /// X: send the extended payload.
    pub want_extended_payload: bool,
    /// C: send the certificate chain.
    pub want_cert_chain: bool,
    /// The PNRP ID to validate.
    pub validate_id: PnrpId,
    /// Nonce to copy into the CPA.
    pub nonce: Option<[u8; 16]>,
}

/// One AUTHORITY message (§2.2.2.6): a fragment of an [`AuthorityBuffer`]. Built by
/// [`AuthorityBuffer::fragments`] or decoded; its invariants (Size ≤ 0x91E4, Offset a multiple of
/// 1188, 1..=1188 bytes, only the last fragment short, Offset + length ≤ Size) always hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    acked_message_id: u32,
    size: u16,
    offset: u16,
    fragment: Vec<u8>,
}

/// ACK (§2.2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The acknowledged Message ID.
    pub acked_message_id: u32,
    /// The optional flags field: `Some(n)` carries the N (not found) bit.
    pub not_found: Option<bool>,
}

/// ResolveCriteria (§2.2.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolveCriteria {
    /// All 256 bits.
    None = 0x00,
    /// The first 128 bits.
    AnyPeerName = 0x01,
    /// All 256 bits, closest match.
    NearestPeerName = 0x02,
    /// The first 192 bits, closest match.
    Nearest64PeerName = 0x04,
    /// `precision` bits.
    UpperBits = 0x08,
}

/// ResolveReasonCode (§2.2.2.8). Required but ignored by the receiver, so unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResolveReason {
    /// 0x00
    AppRequest,
    /// 0x01
    Registration,
    /// 0x02
    CacheMaintenance,
    /// 0x03
    SplitDetection,
    /// Anything else, as received.
    Other(u8),
}

impl ResolveReason {
    fn to_u8(self) -> u8 {
        match self {
            ResolveReason::AppRequest => 0,
            ResolveReason::Registration => 1,
            ResolveReason::CacheMaintenance => 2,
            ResolveReason::SplitDetection => 3,
            ResolveReason::Other(value) => value,
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => ResolveReason::AppRequest,
            1 => ResolveReason::Registration,
            2 => ResolveReason::CacheMaintenance,
            3 => ResolveReason::SplitDetection,
            other => ResolveReason::Other(other),
        }
    }
}

/// LOOKUP (§2.2.2.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// A: accept nodes not closer than the Validate PNRP ID.
    pub accept_not_closer: bool,
    /// Significant bits for [`ResolveCriteria::UpperBits`].
    pub precision: u16,
    /// How IDs match.
    pub criteria: ResolveCriteria,
    /// Why.
    pub reason: ResolveReason,
    /// The ID sought.
    pub target: PnrpId,
    /// A PNRP ID of the destination.
    pub validate_id: PnrpId,
    /// Best match so far.
    pub route_entry: Option<RouteEntry>,
    /// Nodes that have seen this LOOKUP (1 to 22).
    pub flagged_path: BoundedVec<Endpoint, 1, MAX_PATH_ENDPOINTS>,
}

/// A classifier as AUTHORITY_BUFFER carries it: a valid peer-name classifier (≤ 149 UTF-16 units,
/// no NUL), sent as UTF-16 code units in network byte order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Classifier(String);

impl Classifier {
    /// Validates `text` as a classifier.
    pub fn new(text: &str) -> Result<Self, PeerNameError> {
        PeerName::new(NameAuthority::Unsecured, text).map(|_| Classifier(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// AUTHORITY_BUFFER (§2.2.2.6.1): the logical reply to INQUIRE and LOOKUP, carried in AUTHORITY
/// fragments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityBuffer {
    /// L: the target would be in the sender's leaf set.
    pub leaf_set: bool,
    /// B: too busy for the LOOKUP.
    pub busy: bool,
    /// N: the Validate PNRP ID is not registered here.
    pub not_found: bool,
    /// The certificate chain, carried opaque (we use no X.509).
    pub cert_chain: Option<BoundedVec<u8, 1, MAX_CERT_CHAIN>>,
    /// The classifier of the peer name.
    pub classifier: Option<Classifier>,
    /// The extended payload.
    pub extended_payload: Option<ExtendedPayload>,
    /// A route entry (the closest match, for a LOOKUP).
    pub route_entry: Option<RouteEntry>,
    /// The CPA (VALIDATE_CPA).
    pub cpa: Option<Cpa>,
}

/// A PNRP message body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Message {
    Solicit(Solicit),
    Advertise(Advertise),
    Request(Request),
    Flood(Flood),
    Inquire(Inquire),
    Authority(Authority),
    Ack(Ack),
    Lookup(Lookup),
}

/// A whole UDP payload: header and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header's Message ID.
    pub message_id: u32,
    /// The message.
    pub message: Message,
}

impl Message {
    /// The header's MessageType for this message.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Solicit(_) => MessageType::Solicit,
            Message::Advertise(_) => MessageType::Advertise,
            Message::Request(_) => MessageType::Request,
            Message::Flood(_) => MessageType::Flood,
            Message::Inquire(_) => MessageType::Inquire,
            Message::Authority(_) => MessageType::Authority,
            Message::Ack(_) => MessageType::Ack,
            Message::Lookup(_) => MessageType::Lookup,
        }
    }
}

impl Packet {
    /// The datagram.
    pub fn encode(&self) -> Vec<u8> {
        let header = Header {
            message_type: self.message.message_type(),
            message_id: self.message_id,
        };
        let mut w = Writer::default();
        w.bytes(&header.encode());
        match &self.message {
            Message::Solicit(m) => m.encode(&mut w),
            Message::Advertise(m) => m.encode(&mut w),
            Message::Request(m) => m.encode(&mut w),
            Message::Flood(m) => m.encode(&mut w),
            Message::Inquire(m) => m.encode(&mut w),
            Message::Authority(m) => m.encode(&mut w),
            Message::Ack(m) => m.encode(&mut w),
            Message::Lookup(m) => m.encode(&mut w),
        }
        w.buf
    }

    /// Decodes a datagram, rejecting anything the spec's syntax forbids and any bytes after the
    /// last field (other than up to 3 bytes of alignment padding).
    pub fn decode(bytes: &[u8]) -> Result<Packet, WireError> {
        let mut r = Reader::new(bytes);
        let header = Header::read(&mut r)?;
        let message = match header.message_type {
            MessageType::Solicit => Message::Solicit(Solicit::decode(&mut r)?),
            MessageType::Advertise => Message::Advertise(Advertise::decode(&mut r)?),
            MessageType::Request => Message::Request(Request::decode(&mut r)?),
            MessageType::Flood => Message::Flood(Flood::decode(&mut r)?),
            MessageType::Inquire => Message::Inquire(Inquire::decode(&mut r)?),
            MessageType::Authority => Message::Authority(Authority::decode(&mut r)?),
            MessageType::Ack => Message::Ack(Ack::decode(&mut r)?),
            MessageType::Lookup => Message::Lookup(Lookup::decode(&mut r)?),
        };
        r.finish()?;
        Ok(Packet {
            message_id: header.message_id,
            message,
        })
    }
}

fn read_acked(r: &mut Reader<'_>) -> Result<u32, WireError> {
    r.fixed_field(
        id::PNRP_HEADER_ACKED,
        8,
        "PNRP_HEADER_ACKED",
        "Length must be 0x0008",
    )?
    .u32_be("Acked Message ID")
}

fn write_acked(w: &mut Writer, acked: u32) {
    w.field(id::PNRP_HEADER_ACKED, |w| w.u32_be(acked));
}

fn read_hashed_nonce(r: &mut Reader<'_>) -> Result<[u8; 20], WireError> {
    r.fixed_field(
        id::HASHED_NONCE,
        24,
        "HASHED_NONCE",
        "Length must be 0x0018",
    )?
    .array("HashedNonce")
}

fn read_nonce(r: &mut Reader<'_>) -> Result<[u8; 16], WireError> {
    r.fixed_field(id::NONCE, 20, "NONCE", "Length must be 0x0014")?
        .array("Nonce")
}

fn read_id(r: &mut Reader<'_>, field_id: u16, field: &'static str) -> Result<PnrpId, WireError> {
    Ok(PnrpId(
        r.fixed_field(field_id, 36, field, "Length must be 0x0024")?
            .array(field)?,
    ))
}

fn read_ids(r: &mut Reader<'_>) -> Result<BoundedVec<PnrpId, 0, MAX_PNRP_IDS>, WireError> {
    let (mut body, count) = read_array(
        r,
        id::PNRP_ID_ARRAY,
        "PNRP_ID_ARRAY",
        id::PNRP_ID,
        32,
        0,
        MAX_PNRP_IDS as u16,
    )?;
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(PnrpId(body.array("PNRP ID")?));
    }
    Ok(BoundedVec::truncating(ids).unwrap_or_else(BoundedVec::empty))
}

fn write_ids(w: &mut Writer, ids: &[PnrpId]) {
    write_array(w, id::PNRP_ID_ARRAY, id::PNRP_ID, 32, ids, |w, pnrp_id| {
        w.bytes(&pnrp_id.0)
    });
}

fn read_endpoints(r: &mut Reader<'_>, min: u16) -> Result<(Vec<Endpoint>, usize), WireError> {
    let at = r.offset();
    let (mut body, count) = read_array(
        r,
        id::IPV6_ENDPOINT_ARRAY,
        "IPV6_ENDPOINT_ARRAY",
        id::IPV6_ENDPOINT,
        ENDPOINT_LEN,
        min,
        MAX_PATH_ENDPOINTS as u16,
    )?;
    let mut endpoints = Vec::with_capacity(count);
    for _ in 0..count {
        endpoints.push(Endpoint::decode(&mut body)?);
    }
    Ok((endpoints, at))
}

fn write_endpoints(w: &mut Writer, endpoints: &[Endpoint]) {
    write_array(
        w,
        id::IPV6_ENDPOINT_ARRAY,
        id::IPV6_ENDPOINT,
        ENDPOINT_LEN,
        endpoints,
        |w, endpoint| endpoint.encode(w),
    );
}

fn count_error(at: usize) -> WireError {
    Reader::error_at(
        at,
        WireErrorKind::Inconsistent {
            field: "IPV6_ENDPOINT_ARRAY",
            rule: "NumEntries out of range",
        },
    )
}

impl Solicit {
    fn encode(&self, w: &mut Writer) {
        if let Some(kind) = self.solicit_type {
            w.field(id::SOLICIT_CONTROLS, |w| {
                w.u8(0);
                w.u8(kind as u8);
            });
        }
        write_optional_route(w, &self.route_entry);
        w.field(id::HASHED_NONCE, |w| w.bytes(&self.hashed_nonce));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let solicit_type = if r.peek_field() == Some(id::SOLICIT_CONTROLS) {
            let mut body = r.fixed_field(
                id::SOLICIT_CONTROLS,
                6,
                "SOLICIT_CONTROLS",
                "Length must be 0x0006",
            )?;
            let _reserved = body.u8("SOLICIT_CONTROLS Reserved")?;
            let at = body.offset();
            Some(match body.u8("SolicitType")? {
                0 => SolicitType::Any,
                1 => SolicitType::Local,
                other => {
                    return Err(Reader::error_at(
                        at,
                        WireErrorKind::BadValue {
                            field: "SolicitType",
                            found: other.into(),
                            rule: "must be 0 (any) or 1 (local)",
                        },
                    ))
                }
            })
        } else {
            None
        };
        let route_entry = read_optional_route(r)?;
        let hashed_nonce = read_hashed_nonce(r)?;
        Ok(Solicit {
            solicit_type,
            route_entry,
            hashed_nonce,
        })
    }
}

impl Advertise {
    fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        write_ids(w, &self.ids);
        w.field(id::HASHED_NONCE, |w| w.bytes(&self.hashed_nonce));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Advertise {
            acked_message_id: read_acked(r)?,
            ids: read_ids(r)?,
            hashed_nonce: read_hashed_nonce(r)?,
        })
    }
}

impl Request {
    fn encode(&self, w: &mut Writer) {
        w.field(id::NONCE, |w| w.bytes(&self.nonce));
        write_ids(w, &self.ids);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Request {
            nonce: read_nonce(r)?,
            ids: read_ids(r)?,
        })
    }
}

impl Flood {
    fn encode(&self, w: &mut Writer) {
        w.field(id::FLOOD_CONTROLS, |w| {
            w.u16_be(u16::from(self.no_ack));
            w.u8(0);
        });
        w.field(id::VALIDATE_PNRP_ID, |w| w.bytes(&self.validate_id.0));
        if let Some(cpa) = &self.revoke_cpa {
            w.field(id::REVOKE_CPA, |w| cpa.encode(w));
        }
        write_optional_route(w, &self.route_entry);
        write_endpoints(w, &self.already_flooded);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let flags = r
            .fixed_field(
                id::FLOOD_CONTROLS,
                7,
                "FLOOD_CONTROLS",
                "Length must be 0x0007",
            )?
            .u16_be("FLOOD_CONTROLS flags")?;
        let validate_id = read_id(r, id::VALIDATE_PNRP_ID, "Validate PNRP ID")?;
        let revoke_cpa = if r.peek_field() == Some(id::REVOKE_CPA) {
            Some(Box::new(Cpa::decode(
                r.field(id::REVOKE_CPA, "REVOKE_CPA")?,
            )?))
        } else {
            None
        };
        let route_entry = read_optional_route(r)?;
        let (endpoints, at) = read_endpoints(r, 0)?;
        Ok(Flood {
            no_ack: flags & 0x0001 != 0,
            validate_id,
            revoke_cpa,
            route_entry,
            already_flooded: BoundedVec::new(endpoints).map_err(|_| count_error(at))?,
        })
    }
}

const INQUIRE_A: u16 = 0x0010;
const INQUIRE_X: u16 = 0x0008;
const INQUIRE_C: u16 = 0x0004;

impl Inquire {
    fn encode(&self, w: &mut Writer) {
        let mut flags = 0;
        if self.want_cpa {
            flags |= INQUIRE_A;
        }
        if self.want_extended_payload {
            flags |= INQUIRE_X;
        }
        if self.want_cert_chain {
            flags |= INQUIRE_C;
        }
        w.field(id::FLAGS_FIELD, |w| w.u16_be(flags));
        w.field(id::VALIDATE_PNRP_ID, |w| w.bytes(&self.validate_id.0));
        if let Some(nonce) = &self.nonce {
            w.field(id::NONCE, |w| w.bytes(nonce));
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let flags = r
            .fixed_field(id::FLAGS_FIELD, 6, "FLAGS_FIELD", "Length must be 0x0006")?
            .u16_be("INQUIRE flags")?;
        let validate_id = read_id(r, id::VALIDATE_PNRP_ID, "Validate PNRP ID")?;
        let nonce = if r.peek_field() == Some(id::NONCE) {
            Some(read_nonce(r)?)
        } else {
            None
        };
        Ok(Inquire {
            want_cpa: flags & INQUIRE_A != 0,
            want_extended_payload: flags & INQUIRE_X != 0,
            want_cert_chain: flags & INQUIRE_C != 0,
            validate_id,
            nonce,
        })
    }
}

/// Every AUTHORITY fragment but the last carries exactly this many AUTHORITY_BUFFER bytes
/// (§3.2.5.10). With the 28 bytes of header, PNRP_HEADER_ACKED and SPLIT_CONTROLS, 8 of UDP and 40
/// of IPv6, a full fragment is a 1264-byte packet: within IPv6's 1280-byte minimum MTU.
pub const FRAGMENT_LEN: usize = 1188;

impl Authority {
    /// The Message ID of the INQUIRE or LOOKUP answered.
    pub fn acked_message_id(&self) -> u32 {
        self.acked_message_id
    }

    /// Size of the whole AUTHORITY_BUFFER.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Where this fragment goes in it.
    pub fn offset(&self) -> u16 {
        self.offset
    }

    /// This fragment's bytes.
    pub fn fragment(&self) -> &[u8] {
        &self.fragment
    }

    /// Whether this one message holds the whole buffer.
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.fragment.len() == usize::from(self.size)
    }

    fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        w.field(id::SPLIT_CONTROLS, |w| {
            w.u16_be(self.size);
            w.u16_be(self.offset);
        });
        w.bytes(&self.fragment);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let acked_message_id = read_acked(r)?;
        let mut split = r.fixed_field(
            id::SPLIT_CONTROLS,
            8,
            "SPLIT_CONTROLS",
            "Length must be 0x0008",
        )?;
        let at = split.offset();
        let size = split.u16_be("SPLIT_CONTROLS Size")?;
        let offset = split.u16_be("SPLIT_CONTROLS Offset")?;
        if usize::from(size) > MAX_AUTHORITY_BUFFER || size == 0 {
            return Err(Reader::error_at(
                at,
                WireErrorKind::CountOutOfRange {
                    field: "SPLIT_CONTROLS Size",
                    found: size.into(),
                    min: 1,
                    max: MAX_AUTHORITY_BUFFER as u64,
                },
            ));
        }
        if usize::from(offset) % FRAGMENT_LEN != 0 {
            return Err(Reader::error_at(
                at + 2,
                WireErrorKind::BadValue {
                    field: "SPLIT_CONTROLS Offset",
                    found: offset.into(),
                    rule: "must be a multiple of 1188",
                },
            ));
        }
        let length = r.remaining();
        let expected = usize::from(size)
            .checked_sub(usize::from(offset))
            .map(|rest| rest.min(FRAGMENT_LEN));
        if expected != Some(length) || length == 0 {
            return Err(Reader::error_at(
                r.offset(),
                WireErrorKind::Inconsistent {
                    field: "AUTHORITY Buffer",
                    rule: "each fragment must hold min(1188, Size - Offset) bytes",
                },
            ));
        }
        let fragment = r.bytes(length, "AUTHORITY Buffer")?.to_vec();
        Ok(Authority {
            acked_message_id,
            size,
            offset,
            fragment,
        })
    }
}

impl Ack {
    fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        if let Some(not_found) = self.not_found {
            w.field(id::FLAGS_FIELD, |w| w.u16_be(u16::from(not_found)));
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let acked_message_id = read_acked(r)?;
        let not_found = if r.peek_field() == Some(id::FLAGS_FIELD) {
            let flags = r
                .fixed_field(id::FLAGS_FIELD, 6, "FLAGS_FIELD", "Length must be 0x0006")?
                .u16_be("ACK flags")?;
            Some(flags & 0x0001 != 0)
        } else {
            None
        };
        Ok(Ack {
            acked_message_id,
            not_found,
        })
    }
}

impl Lookup {
    fn encode(&self, w: &mut Writer) {
        w.field(id::LOOKUP_CONTROLS, |w| {
            w.u16_be(if self.accept_not_closer { 0x0002 } else { 0 });
            w.u16_be(self.precision);
            w.u8(self.criteria as u8);
            w.u8(self.reason.to_u8());
            w.u16_be(0);
        });
        w.field(id::TARGET_PNRP_ID, |w| w.bytes(&self.target.0));
        w.field(id::VALIDATE_PNRP_ID, |w| w.bytes(&self.validate_id.0));
        write_optional_route(w, &self.route_entry);
        write_endpoints(w, &self.flagged_path);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let mut controls = r.fixed_field(
            id::LOOKUP_CONTROLS,
            12,
            "LOOKUP_CONTROLS",
            "Length must be 0x000C",
        )?;
        let flags = controls.u16_be("LOOKUP_CONTROLS flags")?;
        let precision = controls.u16_be("Precision")?;
        let at = controls.offset();
        let criteria = match controls.u8("ResolveCriteria")? {
            0x00 => ResolveCriteria::None,
            0x01 => ResolveCriteria::AnyPeerName,
            0x02 => ResolveCriteria::NearestPeerName,
            0x04 => ResolveCriteria::Nearest64PeerName,
            0x08 => ResolveCriteria::UpperBits,
            other => {
                return Err(Reader::error_at(
                    at,
                    WireErrorKind::BadValue {
                        field: "ResolveCriteria",
                        found: other.into(),
                        rule: "must be 0x00, 0x01, 0x02, 0x04 or 0x08",
                    },
                ))
            }
        };
        let reason = ResolveReason::from_u8(controls.u8("ResolveReasonCode")?);
        let target = read_id(r, id::TARGET_PNRP_ID, "Target PNRP ID")?;
        let validate_id = read_id(r, id::VALIDATE_PNRP_ID, "Validate PNRP ID")?;
        let route_entry = read_optional_route(r)?;
        let (endpoints, at) = read_endpoints(r, 1)?;
        Ok(Lookup {
            accept_not_closer: flags & 0x0002 != 0,
            precision,
            criteria,
            reason,
            target,
            validate_id,
            route_entry,
            flagged_path: BoundedVec::new(endpoints).map_err(|_| count_error(at))?,
        })
    }
}

const BUFFER_L: u16 = 0x0200;
const BUFFER_B: u16 = 0x0008;
const BUFFER_N: u16 = 0x0001;

impl AuthorityBuffer {
    /// A buffer with only flags: the "not found" reply.
    pub fn not_found() -> Self {
        AuthorityBuffer {
            not_found: true,
            ..AuthorityBuffer::answer(None, None)
        }
    }

    /// An answer carrying a route entry and a CPA (either may be absent), no flags, nothing else.
    pub fn answer(route_entry: Option<RouteEntry>, cpa: Option<Cpa>) -> Self {
        AuthorityBuffer {
            leaf_set: false,
            busy: false,
            not_found: false,
            cert_chain: None,
            classifier: None,
            extended_payload: None,
            route_entry,
            cpa,
        }
    }

    /// The buffer's bytes (at most [`MAX_AUTHORITY_BUFFER`], by the field types' bounds).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        let mut flags = 0;
        if self.leaf_set {
            flags |= BUFFER_L;
        }
        if self.busy {
            flags |= BUFFER_B;
        }
        if self.not_found {
            flags |= BUFFER_N;
        }
        w.field(id::FLAGS_FIELD, |w| w.u16_be(flags));
        // Padding1 is not optional in §2.2.2.6.1, even when nothing follows.
        w.align();
        if let Some(chain) = &self.cert_chain {
            w.field(id::CERT_CHAIN, |w| w.bytes(chain));
        }
        if let Some(classifier) = &self.classifier {
            let units: Vec<u16> = classifier.0.encode_utf16().collect();
            write_array(&mut w, id::CLASSIFIER, id::WCHAR, 2, &units, |w, unit| {
                w.u16_be(*unit)
            });
        }
        if let Some(payload) = &self.extended_payload {
            w.field(id::EXTENDED_PAYLOAD, |w| payload.encode(w));
        }
        write_optional_route(&mut w, &self.route_entry);
        if let Some(cpa) = &self.cpa {
            w.field(id::VALIDATE_CPA, |w| cpa.encode(w));
        }
        debug_assert!(w.buf.len() <= MAX_AUTHORITY_BUFFER);
        w.buf
    }

    /// Decodes a whole (reassembled) AUTHORITY_BUFFER. Offsets in errors count from its start;
    /// alignment is measured from there too, which matches the message's because the buffer
    /// starts at byte 28 of the first AUTHORITY message.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        if bytes.len() > MAX_AUTHORITY_BUFFER {
            return Err(Reader::error_at(
                0,
                WireErrorKind::CountOutOfRange {
                    field: "AUTHORITY_BUFFER size",
                    found: bytes.len() as u64,
                    min: 6,
                    max: MAX_AUTHORITY_BUFFER as u64,
                },
            ));
        }
        let mut r = Reader::new(bytes);
        let flags = r
            .fixed_field(id::FLAGS_FIELD, 6, "FLAGS_FIELD", "Length must be 0x0006")?
            .u16_be("AUTHORITY_BUFFER flags")?;
        let cert_chain = if r.peek_field() == Some(id::CERT_CHAIN) {
            let mut body = r.field(id::CERT_CHAIN, "CERT_CHAIN")?;
            let at = body.offset();
            let bytes = body.bytes(body.remaining(), "Certificate Chain")?;
            Some(BoundedVec::new(bytes.to_vec()).map_err(|e| {
                Reader::error_at(
                    at,
                    WireErrorKind::CountOutOfRange {
                        field: "Certificate Chain length",
                        found: e.len as u64,
                        min: 1,
                        max: MAX_CERT_CHAIN as u64,
                    },
                )
            })?)
        } else {
            None
        };
        let classifier = if r.peek_field() == Some(id::CLASSIFIER) {
            let (mut body, count) = read_array(
                &mut r,
                id::CLASSIFIER,
                "CLASSIFIER",
                id::WCHAR,
                2,
                0,
                0x7FFF,
            )?;
            let at = body.offset();
            let mut units = Vec::with_capacity(count);
            for _ in 0..count {
                units.push(body.u16_be("Classifier")?);
            }
            let bad = || {
                Reader::error_at(
                    at,
                    WireErrorKind::BadText {
                        field: "Classifier",
                    },
                )
            };
            let text = String::from_utf16(&units).map_err(|_| bad())?;
            Some(Classifier::new(&text).map_err(|_| bad())?)
        } else {
            None
        };
        let extended_payload = if r.peek_field() == Some(id::EXTENDED_PAYLOAD) {
            Some(ExtendedPayload::decode(
                r.field(id::EXTENDED_PAYLOAD, "EXTENDED_PAYLOAD")?,
            )?)
        } else {
            None
        };
        let route_entry = read_optional_route(&mut r)?;
        let cpa = if r.peek_field() == Some(id::VALIDATE_CPA) {
            Some(Cpa::decode(r.field(id::VALIDATE_CPA, "VALIDATE_CPA")?)?)
        } else {
            None
        };
        r.finish()?;
        Ok(AuthorityBuffer {
            leaf_set: flags & BUFFER_L != 0,
            busy: flags & BUFFER_B != 0,
            not_found: flags & BUFFER_N != 0,
            cert_chain,
            classifier,
            extended_payload,
            route_entry,
            cpa,
        })
    }

    /// The AUTHORITY messages that carry this buffer (§3.2.5.10): one if it fits in 1188 bytes,
    /// else 1188-byte fragments at offsets 0, 1188, 2376… with a shorter last one. Send each in a
    /// [`Packet`] with the same Message ID.
    pub fn fragments(&self, acked_message_id: u32) -> Vec<Authority> {
        split_authority_buffer(acked_message_id, &self.encode())
    }
}

/// Splits encoded AUTHORITY_BUFFER bytes into AUTHORITY fragments (see
/// [`AuthorityBuffer::fragments`]). Bytes beyond [`MAX_AUTHORITY_BUFFER`] are dropped: the Size
/// field cannot describe them.
pub fn split_authority_buffer(acked_message_id: u32, buffer: &[u8]) -> Vec<Authority> {
    let buffer = buffer.get(..MAX_AUTHORITY_BUFFER).unwrap_or(buffer);
    let size = u16::try_from(buffer.len()).unwrap_or(u16::MAX);
    buffer
        .chunks(FRAGMENT_LEN)
        .enumerate()
        .map(|(index, chunk)| Authority {
            acked_message_id,
            size,
            offset: u16::try_from(index * FRAGMENT_LEN).unwrap_or(u16::MAX),
            fragment: chunk.to_vec(),
        })
        .collect()
}
