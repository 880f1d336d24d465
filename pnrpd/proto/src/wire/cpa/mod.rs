//! The Encoded CPA (§2.2.3.1): its fields, building and signing it (§3.2.5.7, §3.2.5.9) and
//! validating it (§3.1.5.7), with the EXTENDED_PAYLOAD it may announce; and the hashes behind
//! the PNRP ID a CPA names (P2P ID, service location).
//!
//! The public key and SIGNATURE structures and the suite (Ed25519 over SHA-1) are `signature`'s;
//! Not After is a FILETIME (`filetime`). RSA CPAs from Windows decode (so their route entries and
//! fields can be read) but do not validate.
//!
//! Split in two so that what a CPA says is apart from what makes it trustworthy:
//! - this file — [`Cpa`]: building and signing, decoding the whole structure, §3.1.5.7
//!   validation ([`CpaCheck`], [`CpaError`]).
//! - `fields` (private, re-exported here) — [`CpaFields`] and [`FriendlyName`], their bytes up to
//!   the Public Key, and the P2P ID and service location hashes.

mod fields;

pub use fields::{
    p2p_id_from_hashes, service_location, service_location_prefix, CpaFields, FriendlyName,
    MAX_APP_ENDPOINTS, MAX_FRIENDLY_NAME_BYTES, MAX_SERVICE_ADDRESSES,
};

use ed25519_dalek::SigningKey;
use pnrp_shared::id::classifier_hash;
use pnrp_shared::PnrpId;

use super::codec::{len16, Reader, Writer};
use super::error::WireError;
use super::extended::{ExtendedPayload, ExtendedPayloadError};
use super::signature::{
    sign_digest, verify_digest, CpaPublicKey, CpaSignature, SignatureError, SIGNATURE_HEADER,
};

/// A signed Encoded CPA. It keeps its exact bytes, so a received CPA is verified, and relayed,
/// as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cpa {
    fields: CpaFields,
    public_key: CpaPublicKey,
    signature: CpaSignature,
    encoded: Vec<u8>,
}

/// What the receiver expects of a CPA (§3.1.5.7).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpaCheck<'a> {
    /// The PNRP ID the CPA must hash to (the ROUTE_ENTRY's, or the one inquired). `None` skips
    /// the comparison (a revoke CPA, whose ID is what the receiver wants to learn).
    pub pnrp_id: Option<PnrpId>,
    /// The nonce sent in the INQUIRE; `None` when none was sent (the publisher then uses zeros).
    pub nonce: Option<[u8; 16]>,
    /// Whether a revoke CPA (R flag) is expected.
    pub revoke: bool,
    /// The EXTENDED_PAYLOAD that came with the CPA, checked when the CPA's X flag is set.
    pub extended_payload: Option<&'a ExtendedPayload>,
}

/// Why a CPA (or the extended payload it announces) is invalid.
///
/// Flat on purpose: the failures of the [`SignatureError`] suite and of the
/// [`ExtendedPayloadError`] checks are mirrored as variants of their own (see the `From`
/// impls), so that a caller matches one enum whichever structure failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpaError {
    /// Not Ed25519 (an RSA CPA from Windows, say).
    #[error("the key or signature is not Ed25519 over SHA-1")]
    UnsupportedAlgorithm,
    /// The 32 key bytes are not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// A CPA that is not a revocation lists no service address (§2.2.3.1.1).
    #[error("a CPA that is not a revocation must list at least one service address")]
    NoServiceAddress,
    /// R flag set where a CPA was expected, or clear where a revocation was.
    #[error("expected a {} CPA", if *expected_revoke { "revoke" } else { "non-revoke" })]
    WrongKind {
        /// Whether a revocation was expected.
        expected_revoke: bool,
    },
    /// A revoke CPA with a nonzero nonce (§2.2.3.1).
    #[error("a revoke CPA's nonce must be zero")]
    RevokeNonce,
    /// BinaryAuthority is not SHA-1 of the CPA's PublicKey Data (certificate chains unsupported).
    #[error("BinaryAuthority is not the SHA-1 of the CPA's public key")]
    AuthorityMismatch,
    /// Now is past Not After.
    #[error("expired: Not After {not_after} is before now {now} (FILETIME)")]
    Expired {
        /// Not After.
        not_after: u64,
        /// The time checked against.
        now: u64,
    },
    /// The nonce is not the one sent.
    #[error("nonce does not match the one sent")]
    NonceMismatch,
    /// The hashes and service location name another PNRP ID.
    #[error("CPA is for PNRP ID {computed}, expected {expected}")]
    PnrpIdMismatch {
        /// What the CPA hashes to.
        computed: PnrpId,
        /// What was expected.
        expected: PnrpId,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// X flag set but no EXTENDED_PAYLOAD supplied.
    #[error("the CPA announces an extended payload that is missing")]
    ExtendedPayloadMissing,
}

impl From<SignatureError> for CpaError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::UnsupportedAlgorithm => CpaError::UnsupportedAlgorithm,
            SignatureError::BadPublicKey => CpaError::BadPublicKey,
            SignatureError::BadSignature => CpaError::BadSignature,
        }
    }
}

impl From<ExtendedPayloadError> for CpaError {
    fn from(error: ExtendedPayloadError) -> Self {
        match error {
            ExtendedPayloadError::Expired { not_after, now } => {
                CpaError::Expired { not_after, now }
            }
            ExtendedPayloadError::PnrpIdMismatch { found, expected } => CpaError::PnrpIdMismatch {
                computed: found,
                expected,
            },
            ExtendedPayloadError::NonceMismatch => CpaError::NonceMismatch,
            ExtendedPayloadError::Signature(error) => error.into(),
        }
    }
}

impl Cpa {
    /// Builds and signs a CPA (§3.2.5.7, §3.2.5.9). If `fields` has neither BinaryAuthority nor
    /// ClassifierHash (the spec requires one), ClassifierHash is set to SHA-1 of the empty
    /// classifier, which names the same PNRP ID.
    ///
    /// Signed bytes: the whole Encoded CPA up to, not including, the SIGNATURE structure, i.e.
    /// from CPA Length through the end of the CPA Public Key, with CPA Length already holding the
    /// final total (signature included). The Ed25519 signature is over SHA-1 of those bytes.
    pub fn sign(mut fields: CpaFields, key: &SigningKey) -> Cpa {
        if fields.binary_authority.is_none() && fields.classifier_hash.is_none() {
            fields.classifier_hash = Some(classifier_hash(""));
        }
        let public_key = CpaPublicKey::of(key);
        let mut w = Writer::default();
        fields.encode_unsigned(&public_key, &mut w);
        let total = len16(w.buf.len() + SIGNATURE_HEADER + 64).to_le_bytes();
        if let Some(length) = w.buf.get_mut(..2) {
            length.copy_from_slice(&total);
        }
        let signature = sign_digest(key, &w.buf);
        signature.encode(&mut w);
        Cpa {
            fields,
            public_key,
            signature,
            encoded: w.buf,
        }
    }

    /// The fields.
    pub fn fields(&self) -> &CpaFields {
        &self.fields
    }

    /// The public key.
    pub fn public_key(&self) -> &CpaPublicKey {
        &self.public_key
    }

    /// The signature.
    pub fn signature(&self) -> &CpaSignature {
        &self.signature
    }

    /// The exact Encoded CPA bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        let end = self
            .encoded
            .len()
            .saturating_sub(self.signature.encoded_len());
        self.encoded.get(..end).unwrap_or_default()
    }

    /// The PNRP ID this CPA names (see [`CpaFields::pnrp_id`]).
    pub fn pnrp_id(&self) -> PnrpId {
        self.fields.pnrp_id()
    }

    /// §3.1.5.7, in its order. `now` is a FILETIME (see
    /// [`filetime_from_unix`](super::filetime::filetime_from_unix)).
    ///
    /// Certificate chains (delegation) are not supported: a nonzero BinaryAuthority must be SHA-1
    /// of this CPA's PublicKey Data. An absent or all-zero BinaryAuthority (unsecured) accepts any
    /// key, as the spec does.
    pub fn validate(&self, now: u64, check: &CpaCheck<'_>) -> Result<(), CpaError> {
        let fields = &self.fields;
        if fields.revoke != check.revoke {
            return Err(CpaError::WrongKind {
                expected_revoke: check.revoke,
            });
        }
        if fields.revoke && fields.nonce != [0; 16] {
            return Err(CpaError::RevokeNonce);
        }
        if !fields.revoke && fields.service_addresses.is_empty() {
            return Err(CpaError::NoServiceAddress);
        }
        if !matches!(
            (&self.public_key, &self.signature),
            (CpaPublicKey::Ed25519(_), CpaSignature::Ed25519(_))
        ) {
            return Err(CpaError::UnsupportedAlgorithm);
        }
        if let Some(authority) = fields.binary_authority {
            if authority != [0; 20] && authority != self.public_key.authority_hash() {
                return Err(CpaError::AuthorityMismatch);
            }
        }
        if fields.has_extended_payload {
            let payload = check
                .extended_payload
                .ok_or(CpaError::ExtendedPayloadMissing)?;
            payload.validate(now, &self.pnrp_id(), check.nonce, &self.public_key)?;
        }
        if now > fields.not_after {
            return Err(CpaError::Expired {
                not_after: fields.not_after,
                now,
            });
        }
        if let Some(nonce) = check.nonce {
            if nonce != fields.nonce {
                return Err(CpaError::NonceMismatch);
            }
        }
        if let Some(expected) = check.pnrp_id {
            let computed = self.pnrp_id();
            if computed != expected {
                return Err(CpaError::PnrpIdMismatch { computed, expected });
            }
        }
        Ok(verify_digest(
            &self.public_key,
            &self.signature,
            self.signed_bytes(),
        )?)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.encoded);
    }

    /// Decodes an Encoded CPA that fills all of `r` (the body of a VALIDATE_CPA/REVOKE_CPA field).
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Cpa, WireError> {
        let encoded = r.whole_le_length("CPA Length")?;
        let fields = CpaFields::decode(&mut r)?;
        let public_key = CpaPublicKey::decode(&mut r)?;
        let signature = CpaSignature::decode(&mut r)?;
        r.finish_exact()?;
        Ok(Cpa {
            fields,
            public_key,
            signature,
            encoded: encoded.to_vec(),
        })
    }

    /// A CPA from arbitrary parts, signature unchecked: for tests that tamper, the attacker of the
    /// attack tests, and the fuzz target's check that decoded fields re-encode to fields that
    /// decode the same. Never in a release build of the daemon (features `testing`, `fuzzing`).
    #[cfg(any(test, feature = "testing", feature = "fuzzing"))]
    pub fn forge(fields: &CpaFields, key: CpaPublicKey, signature: CpaSignature) -> Cpa {
        let mut w = Writer::default();
        fields.encode_unsigned(&key, &mut w);
        let total = len16(w.buf.len() + signature.encoded_len()).to_le_bytes();
        if let Some(length) = w.buf.get_mut(..2) {
            length.copy_from_slice(&total);
        }
        signature.encode(&mut w);
        Cpa {
            fields: fields.clone(),
            public_key: key,
            signature,
            encoded: w.buf,
        }
    }
}
