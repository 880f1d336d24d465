//! The requests an AUTHORITY answers: INQUIRE (§2.2.2.5), which asks a node for the CPA (and
//! more) of one of its registered IDs, and LOOKUP (§2.2.2.8), one hop of a resolve, with its
//! ResolveCriteria and ResolveReasonCode.

use pnrp_shared::PnrpId;

use super::{
    count_error, read_endpoints, read_id, read_nonce, write_endpoints, MAX_PATH_ENDPOINTS,
};
use crate::wire::codec::{BoundedVec, Reader, Writer};
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::types::{
    field_id as id, read_optional_route, write_optional_route, Endpoint, RouteEntry,
};

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

const INQUIRE_A: u16 = 0x0010;
const INQUIRE_X: u16 = 0x0008;
const INQUIRE_C: u16 = 0x0004;

impl Inquire {
    pub(super) fn encode(&self, w: &mut Writer) {
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

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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

impl Lookup {
    pub(super) fn encode(&self, w: &mut Writer) {
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

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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
