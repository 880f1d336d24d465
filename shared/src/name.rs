//! Peer names per [MS-PNRP] §2.2.4: `authority "." classifier`.
//!
//! The authority is `0` (unsecured) or 40 lowercase hex digits (secured: the SHA-1 of the owner's
//! public key). The classifier is 0 to 149 UTF-16 code units of any Unicode but NUL, compared
//! case-sensitively.

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most UTF-16 code units a classifier may have (150 counting the terminating NUL, §1.3.1.1).
pub const MAX_CLASSIFIER_UTF16: usize = 149;

/// Hex digits in a secured authority.
pub const SECURED_AUTHORITY_HEX_LEN: usize = 40;

/// Who vouches for a peer name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Authority {
    /// Authority `0`: anyone may publish the name.
    Unsecured,
    /// 40 hex digits: SHA-1 of the owner's public key; only its holder may publish the name.
    Secured([u8; 20]),
}

impl Authority {
    /// The 160-bit value hashed into the P2P ID: the authority hash, or zeros when unsecured (§1.3.1.2).
    pub fn binary(&self) -> [u8; 20] {
        match self {
            Authority::Unsecured => [0; 20],
            Authority::Secured(hash) => *hash,
        }
    }

    /// Parses the authority part of a peer name exactly as §2.2.4 writes it (lowercase hex only).
    pub fn parse(text: &str) -> Result<Self, PeerNameError> {
        if text == "0" {
            return Ok(Authority::Unsecured);
        }
        if text.len() != SECURED_AUTHORITY_HEX_LEN {
            return Err(PeerNameError::BadAuthority(text.into()));
        }
        let mut hash = [0u8; 20];
        for (index, pair) in text.as_bytes().chunks(2).enumerate() {
            let high = lower_hex_value(pair[0]);
            let low = lower_hex_value(pair[1]);
            match (high, low) {
                (Some(high), Some(low)) => hash[index] = high << 4 | low,
                _ => return Err(PeerNameError::BadAuthority(text.into())),
            }
        }
        Ok(Authority::Secured(hash))
    }
}

fn lower_hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl Authority {
    /// The authority as §2.2.4 writes it, into `buffer`: `0` or 40 lowercase hex digits.
    fn text<'b>(&self, buffer: &'b mut [u8; SECURED_AUTHORITY_HEX_LEN]) -> &'b str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        match self {
            Authority::Unsecured => "0",
            Authority::Secured(hash) => {
                for (pair, byte) in buffer.chunks_exact_mut(2).zip(hash) {
                    pair[0] = DIGITS[usize::from(byte >> 4)];
                    pair[1] = DIGITS[usize::from(byte & 0xf)];
                }
                // Hex digits only: always UTF-8.
                std::str::from_utf8(buffer).unwrap_or_default()
            }
        }
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Written whole (not a write! per byte): the NSS module prints one per lookup.
        f.write_str(self.text(&mut [0; SECURED_AUTHORITY_HEX_LEN]))
    }
}

/// Why a string is not a peer name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerNameError {
    /// No `.` between authority and classifier.
    #[error("a peer name is authority.classifier, and {0:?} has no '.'")]
    MissingDot(String),
    /// The authority is neither `0` nor 40 lowercase hex digits.
    #[error("authority {0:?} must be \"0\" (unsecured) or 40 lowercase hex digits (secured)")]
    BadAuthority(String),
    /// The classifier is longer than 149 UTF-16 code units.
    #[error("classifier is {0} UTF-16 code units long; at most 149 are allowed")]
    ClassifierTooLong(usize),
    /// The classifier contains a NUL character.
    #[error("classifier must not contain NUL")]
    ClassifierHasNul,
}

/// A validated peer name. Case-sensitive: `0.MyApp` and `0.myapp` are different names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerName {
    authority: Authority,
    classifier: String,
}

impl PeerName {
    /// Builds a peer name from its parts, validating the classifier.
    pub fn new(authority: Authority, classifier: &str) -> Result<Self, PeerNameError> {
        validate_classifier(classifier)?;
        Ok(PeerName {
            authority,
            classifier: classifier.to_owned(),
        })
    }

    /// The authority part.
    pub fn authority(&self) -> Authority {
        self.authority
    }

    /// The classifier part, as the application wrote it.
    pub fn classifier(&self) -> &str {
        &self.classifier
    }

    /// Whether only the holder of a key may publish this name.
    pub fn is_secured(&self) -> bool {
        matches!(self.authority, Authority::Secured(_))
    }
}

fn validate_classifier(classifier: &str) -> Result<(), PeerNameError> {
    if classifier.contains('\0') {
        return Err(PeerNameError::ClassifierHasNul);
    }
    let units = classifier.encode_utf16().count();
    if units > MAX_CLASSIFIER_UTF16 {
        return Err(PeerNameError::ClassifierTooLong(units));
    }
    Ok(())
}

impl FromStr for PeerName {
    type Err = PeerNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (authority, classifier) = text
            .split_once('.')
            .ok_or_else(|| PeerNameError::MissingDot(text.into()))?;
        PeerName::new(Authority::parse(authority)?, classifier)
    }
}

impl PeerName {
    /// Appends the name as [`fmt::Display`] prints it, then `suffix`, to `out` (one reservation,
    /// no formatting machinery: the NSS module does this on every lookup it answers).
    pub fn push_to(&self, out: &mut String, suffix: &str) {
        let mut buffer = [0; SECURED_AUTHORITY_HEX_LEN];
        let authority = self.authority.text(&mut buffer);
        out.reserve(authority.len() + 1 + self.classifier.len() + suffix.len());
        out.push_str(authority);
        out.push('.');
        out.push_str(&self.classifier);
        out.push_str(suffix);
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.authority.text(&mut [0; SECURED_AUTHORITY_HEX_LEN]))?;
        f.write_str(".")?;
        f.write_str(&self.classifier)
    }
}

impl TryFrom<String> for PeerName {
    type Error = PeerNameError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<PeerName> for String {
    fn from(name: PeerName) -> Self {
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECURED: &str = "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a";

    #[test]
    fn parses_unsecured_and_secured() {
        let name: PeerName = "0.myapp".parse().unwrap();
        assert_eq!(name.authority(), Authority::Unsecured);
        assert_eq!(name.classifier(), "myapp");
        assert!(!name.is_secured());

        let name: PeerName = format!("{SECURED}.printer").parse().unwrap();
        assert!(name.is_secured());
        assert_eq!(name.to_string(), format!("{SECURED}.printer"));
        assert_eq!(name.authority().binary()[0], 0x4c);
    }

    #[test]
    fn classifier_keeps_dots_case_and_unicode() {
        let name: PeerName = "0.My.App.café".parse().unwrap();
        assert_eq!(name.classifier(), "My.App.café");
        assert_ne!(name, "0.my.app.café".parse::<PeerName>().unwrap());
        assert_eq!("0.".parse::<PeerName>().unwrap().classifier(), "");
    }

    #[test]
    fn rejects_bad_authorities() {
        for bad in [
            "1.x",
            "00.x",
            ".x",
            "A.x",
            &format!("{}.x", SECURED.to_uppercase()),
        ] {
            assert!(
                matches!(bad.parse::<PeerName>(), Err(PeerNameError::BadAuthority(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            format!("{}g.x", &SECURED[..39]).parse::<PeerName>(),
            Err(PeerNameError::BadAuthority(_))
        ));
        assert!(matches!(
            "0myapp".parse::<PeerName>(),
            Err(PeerNameError::MissingDot(_))
        ));
    }

    #[test]
    fn classifier_length_counts_utf16_units() {
        let max = "a".repeat(149);
        assert!(format!("0.{max}").parse::<PeerName>().is_ok());
        let too_long = "a".repeat(150);
        assert_eq!(
            format!("0.{too_long}").parse::<PeerName>(),
            Err(PeerNameError::ClassifierTooLong(150))
        );
        // U+1F600 is two UTF-16 units: 74 of them plus one more unit is 149.
        let emoji = format!("{}a", "😀".repeat(74));
        assert!(format!("0.{emoji}").parse::<PeerName>().is_ok());
        let emoji = "😀".repeat(75);
        assert_eq!(
            format!("0.{emoji}").parse::<PeerName>(),
            Err(PeerNameError::ClassifierTooLong(150))
        );
        assert_eq!(
            "0.a\0b".parse::<PeerName>(),
            Err(PeerNameError::ClassifierHasNul)
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let name: PeerName = "0.myapp".parse().unwrap();
        let bytes = postcard::to_allocvec(&name).unwrap();
        assert_eq!(postcard::from_bytes::<PeerName>(&bytes).unwrap(), name);
        let bad = postcard::to_allocvec("9.nope").unwrap();
        assert!(postcard::from_bytes::<PeerName>(&bad).is_err());
    }
}
