//! The signature suite shared by the CPA and EXTENDED_PAYLOAD: the CPA Public Key structure
//! (§2.2.3.1.4), the SIGNATURE structure (§2.2.3.2), and signing and verifying (§3.2.5.9,
//! §3.1.5.9).
//!
//! Suite: Ed25519 over the SHA-1 digest of the signed bytes, where the spec has RSA-1024
//! (RSASSA-PKCS1-v1_5) over the same digest. The key is named by the OID `1.3.101.112` (RFC 8410) in
//! the CPA Public Key's Algorithm ObjId; ALG_ID stays 0x8004 (CALG_SHA1, the digest). RSA keys and
//! signatures from Windows decode (so the structures around them can be read) but never verify.
//!
//! Its own module so that `cpa` and `extended`, which both sign and verify, depend on it and not
//! on each other.

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use sha1::{Digest, Sha1};

use super::codec::{len16, Reader, Writer};
use super::error::{WireError, WireErrorKind};

/// Algorithm ObjId we send: Ed25519 (RFC 8410), in the ASCII dotted form the spec writes
/// rsaEncryption's, NUL-padded to the 20 bytes §2.2.3.1.4 fixes (ObjId Length MUST be 0x0014).
pub const ED25519_OID: &[u8; OID_LEN] = b"1.3.101.112\0\0\0\0\0\0\0\0\0";
/// The spec's rsaEncryption OID (20 ASCII bytes, hence its Length 0x0014).
pub const RSA_OID: &[u8; OID_LEN] = b"1.2.840.113549.1.1.1";
/// Algorithm ObjId Length (§2.2.3.1.4: MUST be 0x0014).
pub const OID_LEN: usize = 0x14;
/// ALG_ID: CALG_SHA1, the digest that is signed.
pub const ALG_ID_SHA1: u32 = 0x0000_8004;

/// Bytes of a CPA Public Key before its ObjId.
const PUBLIC_KEY_HEADER: usize = 9;
/// Bytes of a SIGNATURE before its Signature Data (the CPA needs it to size itself before
/// signing).
pub(crate) const SIGNATURE_HEADER: usize = 8;

/// Why a signature does not vouch for the bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not Ed25519 (an RSA key or signature from Windows, say).
    #[error("the key or signature is not Ed25519 over SHA-1")]
    UnsupportedAlgorithm,
    /// The 32 key bytes are not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// The key in a CPA Public Key structure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CpaPublicKey {
    /// Ours: OID `1.3.101.112`, PublicKey Data = the 32-byte key (RFC 8032 encoding).
    Ed25519([u8; 32]),
    /// The spec's: OID rsaEncryption, PublicKey Data = 140-byte DER RSAPublicKey. Decoded, never
    /// validated.
    Rsa1024(Box<[u8; 140]>),
}

impl CpaPublicKey {
    /// The key of a signing key.
    pub fn of(key: &SigningKey) -> Self {
        CpaPublicKey::Ed25519(key.verifying_key().to_bytes())
    }

    /// The PublicKey Data bytes: what the authority hash and the service location hash cover.
    pub fn data(&self) -> &[u8] {
        match self {
            CpaPublicKey::Ed25519(key) => key,
            CpaPublicKey::Rsa1024(der) => &der[..],
        }
    }

    /// The secured-name authority this key owns: SHA-1 of PublicKey Data (§2.2.3.1).
    pub fn authority_hash(&self) -> [u8; 20] {
        Sha1::digest(self.data()).into()
    }

    fn oid(&self) -> &'static [u8; OID_LEN] {
        match self {
            CpaPublicKey::Ed25519(_) => ED25519_OID,
            CpaPublicKey::Rsa1024(_) => RSA_OID,
        }
    }

    fn encoded_len(&self) -> usize {
        PUBLIC_KEY_HEADER + self.oid().len() + self.data().len()
    }

    /// `Field Length | ObjId Length | Reserved | cbData | Unused | ObjId | Data`, lengths LE.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u16_le(len16(self.encoded_len()));
        w.u16_le(len16(self.oid().len()));
        w.u16_le(0);
        w.u16_le(len16(self.data().len()));
        w.u8(0);
        w.bytes(self.oid());
        w.bytes(self.data());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let at = r.offset();
        let field_length = r.u16_le("CPA Public Key Field Length")?;
        let oid_length = r.u16_le("CPA Public Key Algorithm ObjId Length")?;
        let _reserved = r.u16_le("CPA Public Key Reserved")?;
        let data_length = r.u16_le("CPA Public Key cbData")?;
        let _unused = r.u8("CPA Public Key Unused")?;
        if usize::from(field_length)
            != PUBLIC_KEY_HEADER + usize::from(oid_length) + usize::from(data_length)
        {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "CPA Public Key",
                    rule: "Field Length must be 9 + ObjId Length + cbData",
                },
            ));
        }
        if usize::from(oid_length) != OID_LEN {
            return Err(Reader::error_at(
                at + 2,
                WireErrorKind::BadValue {
                    field: "CPA Public Key Algorithm ObjId Length",
                    found: oid_length.into(),
                    rule: "must be 0x14",
                },
            ));
        }
        let oid_at = r.offset();
        let oid = r.bytes(oid_length.into(), "CPA Public Key Algorithm ObjId")?;
        let data = r.bytes(data_length.into(), "CPA Public Key Data")?;
        let key = if oid == ED25519_OID {
            <[u8; 32]>::try_from(data).ok().map(CpaPublicKey::Ed25519)
        } else if oid == RSA_OID {
            <[u8; 140]>::try_from(data)
                .ok()
                .map(|der| CpaPublicKey::Rsa1024(Box::new(der)))
        } else {
            return Err(Reader::error_at(
                oid_at,
                WireErrorKind::BadValue {
                    field: "CPA Public Key Algorithm ObjId",
                    found: oid_length.into(),
                    rule: "must be 1.3.101.112 (Ed25519, NUL-padded) or 1.2.840.113549.1.1.1 \
                           (rsaEncryption)",
                },
            ));
        };
        key.ok_or_else(|| {
            Reader::error_at(
                at + 6,
                WireErrorKind::BadValue {
                    field: "CPA Public Key cbData",
                    found: data_length.into(),
                    rule: "must be 32 for Ed25519, 0x8C for RSA",
                },
            )
        })
    }
}

/// The Signature Data of a SIGNATURE structure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CpaSignature {
    /// Ed25519 over SHA-1(signed bytes): 64 bytes.
    Ed25519([u8; 64]),
    /// RSASSA-PKCS1-v1_5 over SHA-1(signed bytes): 128 bytes. Decoded, never verified.
    Rsa1024(Box<[u8; 128]>),
}

impl CpaSignature {
    fn data(&self) -> &[u8] {
        match self {
            CpaSignature::Ed25519(sig) => sig,
            CpaSignature::Rsa1024(sig) => &sig[..],
        }
    }

    pub(crate) fn encoded_len(&self) -> usize {
        SIGNATURE_HEADER + self.data().len()
    }

    /// `Field Length | Signature Length | ALG_ID | Signature Data`, all LE.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u16_le(len16(self.encoded_len()));
        w.u16_le(len16(self.data().len()));
        w.u32_le(ALG_ID_SHA1);
        w.bytes(self.data());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let at = r.offset();
        let field_length = r.u16_le("SIGNATURE Field Length")?;
        let length = r.u16_le("SIGNATURE Signature Length")?;
        let alg = r.u32_le("SIGNATURE ALG_ID")?;
        if usize::from(field_length) != SIGNATURE_HEADER + usize::from(length) {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "SIGNATURE",
                    rule: "Field Length must be 8 + Signature Length",
                },
            ));
        }
        if alg != ALG_ID_SHA1 {
            return Err(Reader::error_at(
                at + 4,
                WireErrorKind::BadValue {
                    field: "SIGNATURE ALG_ID",
                    found: alg.into(),
                    rule: "must be 0x8004 (SHA-1)",
                },
            ));
        }
        let data = r.bytes(length.into(), "SIGNATURE Signature Data")?;
        if let Ok(sig) = <[u8; 64]>::try_from(data) {
            Ok(CpaSignature::Ed25519(sig))
        } else if let Ok(sig) = <[u8; 128]>::try_from(data) {
            Ok(CpaSignature::Rsa1024(Box::new(sig)))
        } else {
            Err(Reader::error_at(
                at + 2,
                WireErrorKind::BadValue {
                    field: "SIGNATURE Signature Length",
                    found: length.into(),
                    rule: "must be 64 (Ed25519) or 0x80 (RSA-1024)",
                },
            ))
        }
    }
}

/// Signs `signed` the way §3.2.5.9 does, with Ed25519 in RSA's place: the signature is over the
/// 20-byte SHA-1 digest of `signed`.
pub(crate) fn sign_digest(key: &SigningKey, signed: &[u8]) -> CpaSignature {
    let digest: [u8; 20] = Sha1::digest(signed).into();
    CpaSignature::Ed25519(key.sign(&digest).to_bytes())
}

/// §3.1.5.9 for our suite: `signature` is Ed25519 by `key` over SHA-1(`signed`).
///
/// Cofactorless verification with the recomputed R compared as bytes, and weak (small-order)
/// keys refused. Not `verify_strict`: its one further check, a small-order R, costs a point
/// decompression per signature (a few per cent of a simulated cloud's CPU) and only stops a
/// key's holder from making a second signature of the same message, which nothing here relies
/// on (docs/PROTOCOL.md).
pub(crate) fn verify_digest(
    key: &CpaPublicKey,
    signature: &CpaSignature,
    signed: &[u8],
) -> Result<(), SignatureError> {
    let (CpaPublicKey::Ed25519(key), CpaSignature::Ed25519(signature)) = (key, signature) else {
        return Err(SignatureError::UnsupportedAlgorithm);
    };
    let key = VerifyingKey::from_bytes(key).map_err(|_| SignatureError::BadPublicKey)?;
    if key.is_weak() {
        return Err(SignatureError::BadPublicKey);
    }
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    let digest: [u8; 20] = Sha1::digest(signed).into();
    key.verify(&digest, &signature)
        .map_err(|_| SignatureError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weak_key_verifies_nothing() {
        // The identity point as a key, and S = 1 with R = the base point: [S]B − [k]A = B = R
        // for every message, so without the weak-key check this "signature" would verify.
        let mut identity = [0; 32];
        identity[0] = 1;
        let mut forged = [0x66; 64];
        forged[0] = 0x58;
        forged[32..].fill(0);
        forged[32] = 1;
        let message = b"any message at all";
        let digest: [u8; 20] = Sha1::digest(message).into();
        let weak = VerifyingKey::from_bytes(&identity).expect("the identity decodes");
        assert!(weak
            .verify(&digest, &ed25519_dalek::Signature::from_bytes(&forged))
            .is_ok());
        assert!(matches!(
            verify_digest(
                &CpaPublicKey::Ed25519(identity),
                &CpaSignature::Ed25519(forged),
                message
            ),
            Err(SignatureError::BadPublicKey)
        ));
    }

    #[test]
    fn a_signature_verifies_only_its_message() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = CpaPublicKey::Ed25519(key.verifying_key().to_bytes());
        let signature = sign_digest(&key, b"signed");
        assert!(verify_digest(&public, &signature, b"signed").is_ok());
        assert!(matches!(
            verify_digest(&public, &signature, b"other"),
            Err(SignatureError::BadSignature)
        ));
    }
}
