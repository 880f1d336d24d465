//! The messages that fill and keep route caches: SOLICIT (§2.2.2.1), ADVERTISE (§2.2.2.2) and
//! REQUEST (§2.2.2.3), the exchange by which a node offers and hands over cache entries; FLOOD
//! (§2.2.2.4), which pushes a route entry or a revocation to neighbours; and ACK (§2.2.2.7), the
//! reply to a REQUEST or a FLOOD.

use pnrp_shared::PnrpId;

use super::{
    count_error, read_acked, read_endpoints, read_id, read_nonce, write_acked, write_endpoints,
    MAX_PATH_ENDPOINTS,
};
use crate::wire::codec::{read_array, write_array, BoundedVec, Reader, Writer};
use crate::wire::cpa::Cpa;
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::types::{
    field_id as id, read_optional_route, write_optional_route, Endpoint, RouteEntry,
};

/// Most PNRP IDs in an ADVERTISE or REQUEST. The spec allows NumEntries up to 0x7FFF, but the
/// 16-bit Length caps the array at 2047 and a UDP datagram (65507 bytes) at 2045.
pub const MAX_PNRP_IDS: usize = 2045;

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

/// ACK (§2.2.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// The acknowledged Message ID.
    pub acked_message_id: u32,
    /// The optional flags field: `Some(n)` carries the N (not found) bit.
    pub not_found: Option<bool>,
}

impl Solicit {
    pub(super) fn encode(&self, w: &mut Writer) {
        if let Some(kind) = self.solicit_type {
            w.field(id::SOLICIT_CONTROLS, |w| {
                w.u8(0);
                w.u8(kind as u8);
            });
        }
        write_optional_route(w, &self.route_entry);
        w.field(id::HASHED_NONCE, |w| w.bytes(&self.hashed_nonce));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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
    pub(super) fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        write_ids(w, &self.ids);
        w.field(id::HASHED_NONCE, |w| w.bytes(&self.hashed_nonce));
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Advertise {
            acked_message_id: read_acked(r)?,
            ids: read_ids(r)?,
            hashed_nonce: read_hashed_nonce(r)?,
        })
    }
}

impl Request {
    pub(super) fn encode(&self, w: &mut Writer) {
        w.field(id::NONCE, |w| w.bytes(&self.nonce));
        write_ids(w, &self.ids);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        Ok(Request {
            nonce: read_nonce(r)?,
            ids: read_ids(r)?,
        })
    }
}

impl Flood {
    pub(super) fn encode(&self, w: &mut Writer) {
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

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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

impl Ack {
    pub(super) fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        if let Some(not_found) = self.not_found {
            w.field(id::FLAGS_FIELD, |w| w.u16_be(u16::from(not_found)));
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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

fn read_hashed_nonce(r: &mut Reader<'_>) -> Result<[u8; 20], WireError> {
    r.fixed_field(
        id::HASHED_NONCE,
        24,
        "HASHED_NONCE",
        "Length must be 0x0018",
    )?
    .array("HashedNonce")
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
