//! The PNRP Header (§2.2.1), [`Message`] and [`Packet`] (a whole datagram), and the field readers
//! and writers shared by messages of more than one file. The messages themselves (§2.2.2), grouped
//! by what they are for:
//! - `cache` — SOLICIT, ADVERTISE, REQUEST, FLOOD and ACK: filling and keeping route caches.
//! - `resolve` — INQUIRE and LOOKUP: the requests an AUTHORITY answers.
//! - `authority` — AUTHORITY fragments and the AUTHORITY_BUFFER they carry (§2.2.2.6, §3.2.5.10).
//!
//! Those files are private and re-exported here, so each item keeps one path,
//! `wire::messages::X`. Their messages' `encode`/`decode` are `pub(super)`: only [`Packet`] calls
//! them, as the header decides which applies.

mod authority;
mod cache;
mod resolve;

pub use authority::{
    split_authority_buffer, Authority, AuthorityBuffer, Classifier, FRAGMENT_LEN,
    MAX_AUTHORITY_BUFFER, MAX_CERT_CHAIN,
};
pub use cache::{Ack, Advertise, Flood, Request, Solicit, SolicitType, MAX_PNRP_IDS};
pub use resolve::{Inquire, Lookup, ResolveCriteria, ResolveReason};

use pnrp_shared::PnrpId;

use super::codec::{read_array, write_array, Reader, Writer};
use super::error::{WireError, WireErrorKind};
use super::types::{field_id as id, Endpoint, ENDPOINT_LEN};

/// PNRP Header Identifier.
pub const IDENTIFIER: u8 = 0x51;
/// Most IPV6_ENDPOINTs in an Already Flooded List or Flagged Path.
pub const MAX_PATH_ENDPOINTS: usize = 22;

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

// Fields that messages of more than one child module read or write.

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
