//! AUTHORITY (§2.2.2.6): the fragments, their SPLIT_CONTROLS checks and how a buffer is split
//! into them (§3.2.5.10); and the AUTHORITY_BUFFER they carry (§2.2.2.6.1), the logical reply to
//! INQUIRE and LOOKUP. Reassembly is `fragment`'s.

use pnrp_shared::{Authority as NameAuthority, PeerName, PeerNameError};

use super::{read_acked, write_acked};
use crate::wire::codec::{read_array, write_array, BoundedVec, Reader, Writer};
use crate::wire::cpa::Cpa;
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::extended::ExtendedPayload;
use crate::wire::types::{field_id as id, read_optional_route, write_optional_route, RouteEntry};

/// Largest AUTHORITY_BUFFER (the AUTHORITY Size limit).
pub const MAX_AUTHORITY_BUFFER: usize = 0x91E4;
/// Largest certificate chain we carry: what is left of [`MAX_AUTHORITY_BUFFER`] when every other
/// AUTHORITY_BUFFER field is at its largest (flags 8, classifier 312, extended payload 4316 with an
/// RSA signature, route entry 368, RSA CPA 763, chain header and padding 7).
pub const MAX_CERT_CHAIN: usize = 31_500;

/// Every AUTHORITY fragment but the last carries exactly this many AUTHORITY_BUFFER bytes
/// (§3.2.5.10). With the 28 bytes of header, PNRP_HEADER_ACKED and SPLIT_CONTROLS, 8 of UDP and 40
/// of IPv6, a full fragment is a 1264-byte packet: within IPv6's 1280-byte minimum MTU.
pub const FRAGMENT_LEN: usize = 1188;

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

    pub(super) fn encode(&self, w: &mut Writer) {
        write_acked(w, self.acked_message_id);
        w.field(id::SPLIT_CONTROLS, |w| {
            w.u16_be(self.size);
            w.u16_be(self.offset);
        });
        w.bytes(&self.fragment);
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
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

/// A classifier as AUTHORITY_BUFFER carries it: a valid peer-name classifier (≤ 149 UTF-16 units,
/// no NUL), sent as UTF-16LE code units: the bytes its hash covers.
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
            // Little-endian, as its hash (docs/PROTOCOL.md, "Text encodings").
            write_array(&mut w, id::CLASSIFIER, id::WCHAR, 2, &units, |w, unit| {
                w.u16_le(*unit)
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
                units.push(body.u16_le("Classifier")?);
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
    /// [`Packet`](super::Packet) with the same Message ID.
    pub fn fragments(&self, acked_message_id: u32) -> Vec<Authority> {
        split_authority_buffer(acked_message_id, &self.encode())
    }
}
