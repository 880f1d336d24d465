//! EXTENDED_PAYLOAD (§2.2.3.3): application data signed apart from the CPA, with the same key
//! and suite (`signature`), and its checks (§3.2.5.8, §3.1.5.8).
//!
//! It knows nothing of the CPA: the CPA that announces it passes in its key, PNRP ID and nonce,
//! and turns an [`ExtendedPayloadError`] into its own `CpaError`.

use ed25519_dalek::SigningKey;
use pnrp_shared::PnrpId;

use super::codec::{len16, BoundedVec, Reader, Writer};
use super::error::{WireError, WireErrorKind};
use super::signature::{sign_digest, verify_digest, CpaPublicKey, CpaSignature, SignatureError};

/// Most bytes of a binary payload, and of a string payload's text plus terminator.
pub const MAX_EXTENDED_DATA: usize = 4096;
const PAYLOAD_STRING: u32 = 0x8000_0002;
const PAYLOAD_BINARY: u32 = 0x8000_0003;
/// Bytes before the payload: Length … Payload Length.
const FIXED: usize = 74;

/// A NUL-terminated string payload, UTF-8 (String Type 1) or UTF-16LE (String Type 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedText {
    text: String,
    utf8: bool,
}

impl ExtendedText {
    /// `text` up to its first NUL, cut to fit 4096 bytes with the terminator; `None` if shorter
    /// than the spec's minimum (Payload Length ≥ 6, so at least 3 bytes of text).
    pub fn utf8(text: &str) -> Option<Self> {
        let text = text.split('\0').next().unwrap_or_default();
        let mut end = text.len().min(MAX_EXTENDED_DATA - 1);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text.get(..end).unwrap_or_default();
        (text.len() >= 3).then(|| ExtendedText {
            text: text.to_owned(),
            utf8: true,
        })
    }

    /// `text` up to its first NUL, cut to 2047 UTF-16 units; `None` if empty.
    pub fn utf16(text: &str) -> Option<Self> {
        let mut units = 0;
        let text: String = text
            .split('\0')
            .next()
            .unwrap_or_default()
            .chars()
            .take_while(|c| {
                units += c.len_utf16();
                units * 2 + 2 <= MAX_EXTENDED_DATA
            })
            .collect();
        (!text.is_empty()).then_some(ExtendedText { text, utf8: false })
    }

    /// The text, without terminator.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it travels as UTF-8.
    pub fn is_utf8(&self) -> bool {
        self.utf8
    }

    fn encoded(&self) -> Vec<u8> {
        if self.utf8 {
            let mut bytes = self.text.as_bytes().to_vec();
            bytes.push(0);
            bytes
        } else {
            self.text
                .encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect()
        }
    }
}

/// The payload of an EXTENDED_PAYLOAD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExtendedData {
    /// Payload Type 0x80000003: 1 to 4096 bytes.
    Binary(BoundedVec<u8, 1, MAX_EXTENDED_DATA>),
    /// Payload Type 0x80000002.
    Text(ExtendedText),
}

/// What an EXTENDED_PAYLOAD says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedPayloadFields {
    /// Not After (FILETIME).
    pub not_after: u64,
    /// The PNRP ID it belongs to (sent least significant byte first, as §2.2.3.3 says).
    pub pnrp_id: PnrpId,
    /// The INQUIRE's nonce.
    pub nonce: [u8; 16],
    /// The data.
    pub data: ExtendedData,
}

/// Why an EXTENDED_PAYLOAD is invalid for the CPA it came with (§3.1.5.8).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtendedPayloadError {
    /// Now is past its Not After.
    #[error("extended payload expired: Not After {not_after} is before now {now} (FILETIME)")]
    Expired {
        /// Not After.
        not_after: u64,
        /// The time checked against.
        now: u64,
    },
    /// It carries another PNRP ID than its CPA's.
    #[error("extended payload is for PNRP ID {found}, expected {expected}")]
    PnrpIdMismatch {
        /// The PNRP ID it carries.
        found: PnrpId,
        /// Its CPA's.
        expected: PnrpId,
    },
    /// Its nonce is not the one sent.
    #[error("extended payload nonce does not match the one sent")]
    NonceMismatch,
    /// Its signature is not one by the CPA's key.
    #[error("extended payload: {0}")]
    Signature(#[from] SignatureError),
}

/// A signed EXTENDED_PAYLOAD, keeping its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExtendedPayload {
    fields: ExtendedPayloadFields,
    signature: CpaSignature,
    encoded: Vec<u8>,
}

impl ExtendedPayload {
    /// Builds and signs. Signed bytes: the structure from Length up to Signature Offset (Length
    /// holding the final total); Ed25519 over their SHA-1, as for the CPA.
    pub fn sign(fields: ExtendedPayloadFields, key: &SigningKey) -> Self {
        let mut w = Writer::default();
        encode_unsigned(&fields, 8 + 64, &mut w);
        let signature = sign_digest(key, &w.buf);
        signature.encode(&mut w);
        ExtendedPayload {
            fields,
            signature,
            encoded: w.buf,
        }
    }

    /// The fields.
    pub fn fields(&self) -> &ExtendedPayloadFields {
        &self.fields
    }

    /// The exact bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// §3.1.5.8 with the CPA's key: not expired at `now` (FILETIME), for `pnrp_id`, carrying
    /// `nonce` when one was sent, and signed by `key`.
    pub fn validate(
        &self,
        now: u64,
        pnrp_id: &PnrpId,
        nonce: Option<[u8; 16]>,
        key: &CpaPublicKey,
    ) -> Result<(), ExtendedPayloadError> {
        if now > self.fields.not_after {
            return Err(ExtendedPayloadError::Expired {
                not_after: self.fields.not_after,
                now,
            });
        }
        if self.fields.pnrp_id != *pnrp_id {
            return Err(ExtendedPayloadError::PnrpIdMismatch {
                found: self.fields.pnrp_id,
                expected: *pnrp_id,
            });
        }
        if nonce.is_some_and(|nonce| nonce != self.fields.nonce) {
            return Err(ExtendedPayloadError::NonceMismatch);
        }
        let end = self
            .encoded
            .len()
            .saturating_sub(self.signature.encoded_len());
        Ok(verify_digest(
            key,
            &self.signature,
            self.encoded.get(..end).unwrap_or_default(),
        )?)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.encoded);
    }

    /// Decodes an EXTENDED_PAYLOAD that fills all of `r`.
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, WireError> {
        let encoded = r.whole_le_length("EXTENDED_PAYLOAD Length")?;
        let version_at = r.offset();
        let version = r.array::<2>("EXTENDED_PAYLOAD version")?;
        if version != [0, 2] {
            return Err(Reader::error_at(
                version_at,
                WireErrorKind::BadValue {
                    field: "EXTENDED_PAYLOAD version",
                    found: u16::from_be_bytes(version).into(),
                    rule: "must be 2.0 (bytes 00 02)",
                },
            ));
        }
        let _reserved = r.u16_le("EXTENDED_PAYLOAD Reserved")?;
        let signature_offset = r.u16_le("EXTENDED_PAYLOAD Signature Offset")?;
        let not_after = r.u64_le("EXTENDED_PAYLOAD Not After")?;
        let mut id: [u8; 32] = r.array("EXTENDED_PAYLOAD PNRP ID")?;
        id.reverse();
        let nonce = r.array("EXTENDED_PAYLOAD Nonce")?;
        let count_at = r.offset();
        let count = r.u16_le("EXTENDED_PAYLOAD Number of Payloads")?;
        if count != 1 {
            return Err(Reader::error_at(
                count_at,
                WireErrorKind::BadValue {
                    field: "EXTENDED_PAYLOAD Number of Payloads",
                    found: count.into(),
                    rule: "must be 1",
                },
            ));
        }
        let total = r.u16_le("EXTENDED_PAYLOAD Total Payload Bytes")?;
        let kind = r.u32_le("EXTENDED_PAYLOAD Payload Type")?;
        let payload_length = r.u16_le("EXTENDED_PAYLOAD Payload Length")?;
        let range = match kind {
            PAYLOAD_BINARY => 1..=MAX_EXTENDED_DATA,
            PAYLOAD_STRING => 6..=MAX_EXTENDED_DATA + 2,
            _ => {
                return Err(Reader::error_at(
                    count_at + 4,
                    WireErrorKind::BadValue {
                        field: "EXTENDED_PAYLOAD Payload Type",
                        found: kind.into(),
                        rule: "must be 0x80000002 (string) or 0x80000003 (binary)",
                    },
                ))
            }
        };
        if !range.contains(&usize::from(payload_length)) {
            return Err(Reader::error_at(
                count_at + 8,
                WireErrorKind::CountOutOfRange {
                    field: "EXTENDED_PAYLOAD Payload Length",
                    found: payload_length.into(),
                    min: *range.start() as u64,
                    max: *range.end() as u64,
                },
            ));
        }
        if usize::from(total) != 10 + usize::from(payload_length)
            || usize::from(signature_offset) != FIXED + usize::from(payload_length)
        {
            return Err(Reader::error_at(
                count_at + 2,
                WireErrorKind::Inconsistent {
                    field: "EXTENDED_PAYLOAD",
                    rule: "Total Payload Bytes must be 10 + Payload Length and Signature Offset 74 + Payload Length",
                },
            ));
        }
        let data_at = r.offset();
        let data = if kind == PAYLOAD_BINARY {
            let bytes = r.bytes(payload_length.into(), "EXTENDED_PAYLOAD Payload")?;
            ExtendedData::Binary(BoundedVec::truncating(bytes.to_vec()).ok_or_else(|| {
                Reader::error_at(
                    data_at,
                    WireErrorKind::Inconsistent {
                        field: "EXTENDED_PAYLOAD Payload",
                        rule: "empty",
                    },
                )
            })?)
        } else {
            let string_type = r.u16_le("EXTENDED_PAYLOAD String Type")?;
            let bytes = r.bytes(usize::from(payload_length) - 2, "EXTENDED_PAYLOAD Payload")?;
            ExtendedData::Text(decode_text(string_type, bytes).ok_or_else(|| {
                Reader::error_at(
                    data_at,
                    WireErrorKind::BadText {
                        field: "EXTENDED_PAYLOAD Payload",
                    },
                )
            })?)
        };
        let signature = CpaSignature::decode(&mut r)?;
        r.finish_exact()?;
        Ok(ExtendedPayload {
            fields: ExtendedPayloadFields {
                not_after,
                pnrp_id: PnrpId(id),
                nonce,
                data,
            },
            signature,
            encoded: encoded.to_vec(),
        })
    }
}

/// A NUL-terminated string with no other NUL, in String Type's encoding.
fn decode_text(string_type: u16, bytes: &[u8]) -> Option<ExtendedText> {
    match string_type {
        1 => {
            let (last, text) = bytes.split_last()?;
            if *last != 0 || text.contains(&0) {
                return None;
            }
            Some(ExtendedText {
                text: String::from_utf8(text.to_vec()).ok()?,
                utf8: true,
            })
        }
        0 => {
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes(pair.try_into().unwrap_or_default()))
                .collect();
            let (last, text) = units.split_last()?;
            if *last != 0 || text.contains(&0) {
                return None;
            }
            Some(ExtendedText {
                text: String::from_utf16(text).ok()?,
                utf8: false,
            })
        }
        _ => None,
    }
}

fn encode_unsigned(fields: &ExtendedPayloadFields, signature_len: usize, w: &mut Writer) {
    let (kind, payload) = match &fields.data {
        ExtendedData::Binary(bytes) => (PAYLOAD_BINARY, bytes.to_vec()),
        ExtendedData::Text(text) => {
            let mut payload = if text.utf8 { vec![1, 0] } else { vec![0, 0] };
            payload.extend(text.encoded());
            (PAYLOAD_STRING, payload)
        }
    };
    let signature_offset = FIXED + payload.len();
    w.u16_le(len16(signature_offset + signature_len));
    w.u8(0);
    w.u8(2);
    w.u16_le(0);
    w.u16_le(len16(signature_offset));
    w.u64_le(fields.not_after);
    let mut id = fields.pnrp_id.0;
    id.reverse();
    w.bytes(&id);
    w.bytes(&fields.nonce);
    w.u16_le(1);
    w.u16_le(len16(10 + payload.len()));
    w.u32_le(kind);
    w.u16_le(len16(payload.len()));
    w.bytes(&payload);
}
