//! What an Encoded CPA says (§2.2.3.1): [`CpaFields`] with its FriendlyName, Service Address List
//! (§2.2.3.1.1) and PAYLOAD (§2.2.3.1.2), their encoding and decoding up to the Public Key; and
//! the hashes behind the PNRP ID a CPA names (P2P ID, service location).

use std::net::Ipv6Addr;

use pnrp_shared::id::classifier_hash;
use pnrp_shared::{P2pId, PeerName, PnrpId, ServiceLocation};
use sha1::{Digest, Sha1};

use crate::wire::codec::{len16, BoundedVec, Reader, Writer};
use crate::wire::error::{WireError, WireErrorKind};
use crate::wire::signature::CpaPublicKey;
use crate::wire::types::{AppEndpoint, Endpoint, ENDPOINT_LEN};

/// Most bytes of a FriendlyName (§2.2.3.1).
pub const MAX_FRIENDLY_NAME_BYTES: usize = 78;
/// Most Service Address List entries (§2.2.3.1.1).
pub const MAX_SERVICE_ADDRESSES: usize = 4;
/// Most IPV6_APP_ENDPOINTs in a PAYLOAD: DataLength ≤ 200 (§2.2.3.1.2).
pub const MAX_APP_ENDPOINTS: usize = 10;

const FLAG_X: u8 = 0x20;
const FLAG_F: u8 = 0x10;
const FLAG_C: u8 = 0x08;
const FLAG_A: u8 = 0x04;
const FLAG_U: u8 = 0x02;
const FLAG_R: u8 = 0x01;
const PAYLOAD_TYPE_ENDPOINTS: u32 = 1;

/// A FriendlyName (the CPA "comment"): 1 to 78 bytes of UTF-8 (U flag set) or UTF-16LE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FriendlyName {
    text: String,
    utf8: bool,
}

impl FriendlyName {
    /// `text` cut to 78 UTF-8 bytes at a character boundary; `None` if that leaves nothing.
    pub fn utf8(text: &str) -> Option<Self> {
        let mut end = text.len().min(MAX_FRIENDLY_NAME_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text.get(..end).unwrap_or_default();
        (!text.is_empty()).then(|| FriendlyName {
            text: text.to_owned(),
            utf8: true,
        })
    }

    /// `text` cut to 39 UTF-16 code units at a character boundary; `None` if that leaves nothing.
    pub fn utf16(text: &str) -> Option<Self> {
        let mut units = 0;
        let text: String = text
            .chars()
            .take_while(|c| {
                units += c.len_utf16();
                units * 2 <= MAX_FRIENDLY_NAME_BYTES
            })
            .collect();
        (!text.is_empty()).then_some(FriendlyName { text, utf8: false })
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it travels as UTF-8 (else UTF-16LE).
    pub fn is_utf8(&self) -> bool {
        self.utf8
    }

    fn encoded(&self) -> Vec<u8> {
        if self.utf8 {
            self.text.as_bytes().to_vec()
        } else {
            self.text
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect()
        }
    }
}

/// What a CPA says, as the publisher supplies it to [`Cpa::sign`](super::Cpa::sign).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CpaFields {
    /// R: this CPA revokes a registration.
    pub revoke: bool,
    /// X: an EXTENDED_PAYLOAD accompanies this CPA.
    pub has_extended_payload: bool,
    /// Not After, as a FILETIME (see
    /// [`filetime_from_unix`](crate::wire::filetime::filetime_from_unix)).
    pub not_after: u64,
    /// The registration's service location (our most-significant-first layout; the wire
    /// reverses it).
    pub service_location: ServiceLocation,
    /// The INQUIRE's nonce (zero for a revoke CPA).
    pub nonce: [u8; 16],
    /// BinaryAuthority: the authority hash in peer-name order (`Authority::binary`); present
    /// only for secured names (A flag). The wire reverses it.
    pub binary_authority: Option<[u8; 20]>,
    /// ClassifierHash: SHA-1 of the classifier (C flag), digest order.
    pub classifier_hash: Option<[u8; 20]>,
    /// FriendlyName (F and U flags).
    pub friendly_name: Option<FriendlyName>,
    /// Service Address List: where this node's PNRP listens (0 to 4).
    pub service_addresses: BoundedVec<Endpoint, 0, MAX_SERVICE_ADDRESSES>,
    /// The PAYLOAD of application endpoints (NumPayloads = 1 when present).
    pub app_endpoints: Option<BoundedVec<AppEndpoint, 1, MAX_APP_ENDPOINTS>>,
}

impl CpaFields {
    /// The fields for `name`: BinaryAuthority when secured, ClassifierHash always; no revoke, no
    /// extended payload, no friendly name, no addresses.
    pub fn for_name(
        name: &PeerName,
        service_location: ServiceLocation,
        not_after: u64,
        nonce: [u8; 16],
    ) -> Self {
        CpaFields {
            revoke: false,
            has_extended_payload: false,
            not_after,
            service_location,
            nonce,
            binary_authority: name.is_secured().then(|| name.authority().binary()),
            classifier_hash: Some(classifier_hash(name.classifier())),
            friendly_name: None,
            service_addresses: BoundedVec::empty(),
            app_endpoints: None,
        }
    }

    /// The PNRP ID these fields name (§3.1.4.4.1): an absent BinaryAuthority counts as 20 zero
    /// bytes (unsecured) and an absent ClassifierHash as SHA-1 of the empty classifier.
    pub fn pnrp_id(&self) -> PnrpId {
        let classifier = self.classifier_hash.unwrap_or_else(|| classifier_hash(""));
        let authority = self.binary_authority.unwrap_or([0; 20]);
        PnrpId::new(
            p2p_id_from_hashes(&classifier, &authority),
            self.service_location,
        )
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.has_extended_payload {
            flags |= FLAG_X;
        }
        if let Some(name) = &self.friendly_name {
            flags |= FLAG_F;
            if name.utf8 {
                flags |= FLAG_U;
            }
        }
        if self.classifier_hash.is_some() {
            flags |= FLAG_C;
        }
        if self.binary_authority.is_some() {
            flags |= FLAG_A;
        }
        if self.revoke {
            flags |= FLAG_R;
        }
        flags
    }

    /// Everything up to and including the Public Key; the CPA Length field is patched by the caller.
    pub(super) fn encode_unsigned(&self, key: &CpaPublicKey, w: &mut Writer) {
        w.u16_le(0);
        w.u8(0); // CPA minor
        w.u8(2); // CPA major
        w.u8(0); // PNRP minor
        w.u8(4); // PNRP major
        w.u8(self.flags());
        w.u8(0);
        w.u64_le(self.not_after);
        w.bytes(&reversed(self.service_location.0));
        w.bytes(&self.nonce);
        if let Some(authority) = self.binary_authority {
            w.bytes(&reversed(authority));
        }
        if let Some(hash) = self.classifier_hash {
            w.bytes(&hash);
        }
        if let Some(name) = &self.friendly_name {
            let bytes = name.encoded();
            w.u16_le(len16(bytes.len()));
            w.bytes(&bytes);
        }
        w.u16_le(len16(self.service_addresses.len()));
        w.u16_le(ENDPOINT_LEN);
        for endpoint in self.service_addresses.iter() {
            endpoint.encode(w);
        }
        match &self.app_endpoints {
            None => {
                w.u16_le(0);
                w.u16_le(4);
            }
            Some(endpoints) => {
                let data = endpoints.len() * 20;
                w.u16_le(1);
                w.u16_le(len16(10 + data));
                w.u32_le(PAYLOAD_TYPE_ENDPOINTS);
                w.u16_le(len16(data));
                for endpoint in endpoints.iter() {
                    endpoint.encode(w);
                }
            }
        }
        key.encode(w);
    }

    /// Reads what follows CPA Length up to the Public Key, which the caller reads next.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<CpaFields, WireError> {
        let at = r.offset();
        let versions = r.array::<4>("CPA versions")?;
        if versions != [0, 2, 0, 4] {
            return Err(Reader::error_at(
                at,
                WireErrorKind::BadValue {
                    field: "CPA versions",
                    found: u32::from_be_bytes(versions).into(),
                    rule: "CPA must be 2.0 and PNRP 4.0 (bytes 00 02 00 04)",
                },
            ));
        }
        let at = r.offset();
        let flags = r.u8("CPA flags")?;
        let _reserved = r.u8("CPA Reserved")?;
        if flags & (FLAG_A | FLAG_C) == 0 {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "CPA flags",
                    rule: "A or C must be set",
                },
            ));
        }
        if flags & FLAG_U != 0 && flags & FLAG_F == 0 {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "CPA flags",
                    rule: "U must be clear when F is",
                },
            ));
        }
        let not_after = r.u64_le("CPA Not After")?;
        let service_location = ServiceLocation(reversed(r.array("CPA Service Location")?));
        let nonce = r.array("CPA Nonce")?;
        let binary_authority = if flags & FLAG_A != 0 {
            Some(reversed(r.array("CPA BinaryAuthority")?))
        } else {
            None
        };
        let classifier_hash = if flags & FLAG_C != 0 {
            Some(r.array("CPA ClassifierHash")?)
        } else {
            None
        };
        let friendly_name = if flags & FLAG_F != 0 {
            Some(decode_friendly_name(r, flags & FLAG_U != 0)?)
        } else {
            None
        };
        let service_addresses = decode_service_addresses(r)?;
        let app_endpoints = decode_payload(r)?;
        Ok(CpaFields {
            revoke: flags & FLAG_R != 0,
            has_extended_payload: flags & FLAG_X != 0,
            not_after,
            service_location,
            nonce,
            binary_authority,
            classifier_hash,
            friendly_name,
            service_addresses,
            app_endpoints,
        })
    }
}

/// `first 16 bytes of SHA-1(ClassifierHash | BinaryAuthority | ClassifierHash | "PNRP")`, the
/// P2P ID from the hashes a CPA carries (`P2pId::of` starts from the name instead).
pub fn p2p_id_from_hashes(classifier_hash: &[u8; 20], binary_authority: &[u8; 20]) -> P2pId {
    let mut hasher = Sha1::new();
    hasher.update(classifier_hash);
    hasher.update(binary_authority);
    hasher.update(classifier_hash);
    hasher.update(b"PNRP");
    let digest: [u8; 20] = hasher.finalize().into();
    let mut id = [0; 16];
    id.iter_mut()
        .zip(digest)
        .for_each(|(out, byte)| *out = byte);
    P2pId(id)
}

/// §1.3.1.2's service location: `prefix` (SL upper: the first 64 bits of the service's IPv6
/// address, see [`service_location_prefix`], or an application hint) then the first 64 bits of
/// `SHA-1(PublicKey Data | each service address as its 18-byte IPV6_ENDPOINT | random)`.
pub fn service_location(
    prefix: [u8; 8],
    public_key: &CpaPublicKey,
    service_addresses: &[Endpoint],
    random: u8,
) -> ServiceLocation {
    let mut w = Writer::default();
    for endpoint in service_addresses {
        endpoint.encode(&mut w);
    }
    let mut hasher = Sha1::new();
    hasher.update(public_key.data());
    hasher.update(&w.buf);
    hasher.update([random]);
    let digest: [u8; 20] = hasher.finalize().into();
    let mut location = [0; 16];
    location
        .iter_mut()
        .zip(prefix.iter().chain(digest.iter()))
        .for_each(|(out, byte)| *out = *byte);
    ServiceLocation(location)
}

/// The upper 64 bits of `address`, the default SL upper.
pub fn service_location_prefix(address: &Ipv6Addr) -> [u8; 8] {
    let mut prefix = [0; 8];
    prefix
        .iter_mut()
        .zip(address.octets())
        .for_each(|(out, byte)| *out = byte);
    prefix
}

fn reversed<const N: usize>(mut bytes: [u8; N]) -> [u8; N] {
    bytes.reverse();
    bytes
}

fn decode_friendly_name(r: &mut Reader<'_>, utf8: bool) -> Result<FriendlyName, WireError> {
    let at = r.offset();
    let length = r.u16_le("CPA FriendlyName Len")?;
    if !(1..=MAX_FRIENDLY_NAME_BYTES).contains(&usize::from(length)) {
        return Err(Reader::error_at(
            at,
            WireErrorKind::CountOutOfRange {
                field: "CPA FriendlyName Len",
                found: length.into(),
                min: 1,
                max: MAX_FRIENDLY_NAME_BYTES as u64,
            },
        ));
    }
    let bytes = r.bytes(length.into(), "CPA FriendlyName")?;
    let bad = || {
        Reader::error_at(
            at + 2,
            WireErrorKind::BadText {
                field: "CPA FriendlyName",
            },
        )
    };
    let text = if utf8 {
        String::from_utf8(bytes.to_vec()).map_err(|_| bad())?
    } else {
        if bytes.len() % 2 != 0 {
            return Err(bad());
        }
        let units: Vec<u16> = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes(pair.try_into().unwrap_or_default()))
            .collect();
        String::from_utf16(&units).map_err(|_| bad())?
    };
    Ok(FriendlyName { text, utf8 })
}

fn decode_service_addresses(
    r: &mut Reader<'_>,
) -> Result<BoundedVec<Endpoint, 0, MAX_SERVICE_ADDRESSES>, WireError> {
    let at = r.offset();
    let count = r.u16_le("NumServiceAddresses")?;
    let entry = r.u16_le("ServiceAddressLength")?;
    if usize::from(count) > MAX_SERVICE_ADDRESSES {
        return Err(Reader::error_at(
            at,
            WireErrorKind::CountOutOfRange {
                field: "NumServiceAddresses",
                found: count.into(),
                min: 0,
                max: MAX_SERVICE_ADDRESSES as u64,
            },
        ));
    }
    if entry != ENDPOINT_LEN {
        return Err(Reader::error_at(
            at + 2,
            WireErrorKind::BadValue {
                field: "ServiceAddressLength",
                found: entry.into(),
                rule: "must be 0x0012",
            },
        ));
    }
    let mut addresses = Vec::with_capacity(count.into());
    for _ in 0..count {
        addresses.push(Endpoint::decode(r)?);
    }
    Ok(BoundedVec::truncating(addresses).unwrap_or_else(BoundedVec::empty))
}

fn decode_payload(
    r: &mut Reader<'_>,
) -> Result<Option<BoundedVec<AppEndpoint, 1, MAX_APP_ENDPOINTS>>, WireError> {
    let at = r.offset();
    let count = r.u16_le("NumPayloads")?;
    let total = r.u16_le("Total Bytes")?;
    match count {
        0 if total == 4 => return Ok(None),
        0 => {
            return Err(Reader::error_at(
                at + 2,
                WireErrorKind::Inconsistent {
                    field: "Total Bytes",
                    rule: "must be 4 when NumPayloads is 0",
                },
            ))
        }
        1 => {}
        _ => {
            return Err(Reader::error_at(
                at,
                WireErrorKind::CountOutOfRange {
                    field: "NumPayloads",
                    found: count.into(),
                    min: 0,
                    max: 1,
                },
            ))
        }
    }
    let payload_at = r.offset();
    let kind = r.u32_le("PAYLOAD Type")?;
    if kind != PAYLOAD_TYPE_ENDPOINTS {
        return Err(Reader::error_at(
            payload_at,
            WireErrorKind::BadValue {
                field: "PAYLOAD Type",
                found: kind.into(),
                rule: "must be 1 (IPv6 endpoints)",
            },
        ));
    }
    let data = r.u16_le("PAYLOAD DataLength")?;
    if data % 20 != 0 || !(20..=200).contains(&data) {
        return Err(Reader::error_at(
            payload_at + 4,
            WireErrorKind::BadValue {
                field: "PAYLOAD DataLength",
                found: data.into(),
                rule: "must be a multiple of 20 from 20 through 200",
            },
        ));
    }
    if total != data + 10 {
        return Err(Reader::error_at(
            at + 2,
            WireErrorKind::Inconsistent {
                field: "Total Bytes",
                rule: "must be 4 + the PAYLOAD's 6-byte header + DataLength",
            },
        ));
    }
    let mut endpoints = Vec::with_capacity(usize::from(data / 20));
    for _ in 0..data / 20 {
        endpoints.push(AppEndpoint::decode(r)?);
    }
    Ok(BoundedVec::truncating(endpoints))
}
