//! Host names under `pnrp.net` ↔ peer names.
//!
//! Two forms are accepted on input; the direct form is what we print:
//!
//! | form | host name | peer name |
//! |---|---|---|
//! | direct | `0.myapp.pnrp.net` | `0.myapp` |
//! | direct | `0.my.app.pnrp.net` | `0.my.app` (the classifier keeps its dots) |
//! | direct | `<40 hex>.printer.pnrp.net` | `<40 hex>.printer` |
//! | Windows | `myapp.pnrp.net` | `0.myapp` |
//! | Windows | `myapp.p<40 hex>.pnrp.net` | `<40 hex>.myapp` |
//!
//! The host name is direct when its first label is `0` or 40 hex digits and more labels follow;
//! otherwise it is the Windows form. The `pnrp.net` suffix may be in any letter case and followed by
//! one trailing dot; hex authorities may be in any case; the classifier keeps its case. Labels
//! written `xn--…` are punycode and are decoded (programs applying IDNA send those).

use std::borrow::Cow;

use crate::name::{Authority, PeerName, PeerNameError, SECURED_AUTHORITY_HEX_LEN};
use crate::punycode;

/// The reserved domain under which peer names appear as host names.
pub const PNRP_DOMAIN: &str = "pnrp.net";

/// `.pnrp.net`, the suffix every peer host name ends with (before an optional trailing dot).
const DOT_DOMAIN: &str = ".pnrp.net";
const SUFFIX: &[u8] = DOT_DOMAIN.as_bytes();

/// Why a host name does not name a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostNameError {
    /// The name is not under `pnrp.net`.
    #[error("{0:?} is not under .pnrp.net")]
    NotPnrp(String),
    /// Nothing precedes `.pnrp.net`.
    #[error("no peer name before .pnrp.net")]
    Empty,
    /// A label starting with `xn--` is not valid punycode.
    #[error("label {0:?} is not valid punycode")]
    BadPunycode(String),
    /// The mapped peer name is invalid.
    #[error(transparent)]
    PeerName(#[from] PeerNameError),
}

/// Whether a host name ends in `.pnrp.net` (any case, one optional trailing dot).
///
/// Cheap and allocation-free: the NSS module calls it on every host lookup on the machine.
pub fn is_pnrp_host(host: &[u8]) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    host.len() > SUFFIX.len() && host[host.len() - SUFFIX.len()..].eq_ignore_ascii_case(SUFFIX)
}

/// The direct-form host name of a peer name: `<authority>.<classifier>.pnrp.net`.
///
/// A classifier label that itself starts with `xn--` is written in punycode (`xn--` + its
/// encoding), since [`peer_name_of_host`] decodes such labels: so the host name always maps back
/// to the same peer name (`0.xn--a` ↔ `0.xn--xn--a-.pnrp.net`). Other labels are written as they are.
pub fn host_name_of(name: &PeerName) -> String {
    // The usual case, on every lookup the NSS module answers: one allocation.
    if !name.classifier().split('.').any(has_ace_prefix) {
        let mut host = String::new();
        name.push_to(&mut host, DOT_DOMAIN);
        return host;
    }
    let mut host = name.authority().to_string();
    for label in name.classifier().split('.') {
        host.push('.');
        if has_ace_prefix(label) {
            host.push_str("xn--");
            host.push_str(&punycode::encode(label));
        } else {
            host.push_str(label);
        }
    }
    host.push('.');
    host.push_str(PNRP_DOMAIN);
    host
}

/// Whether a label starts with `xn--` in any case, as punycode labels do.
pub fn has_ace_prefix(label: &str) -> bool {
    label
        .get(..4)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("xn--"))
}

/// Maps a host name under `pnrp.net` (either form) to the peer name it stands for.
pub fn peer_name_of_host(host: &str) -> Result<PeerName, HostNameError> {
    if !is_pnrp_host(host.as_bytes()) {
        return Err(HostNameError::NotPnrp(host.into()));
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    let labels_text = &host[..host.len() - SUFFIX.len()];
    if !labels_text.split('.').any(has_ace_prefix) {
        return plain_peer_name(labels_text);
    }
    decoded_peer_name(labels_text)
}

/// [`peer_name_of_host`] of the labels before `.pnrp.net`, punycode labels decoded.
fn decoded_peer_name(labels_text: &str) -> Result<PeerName, HostNameError> {
    let labels = labels_text
        .split('.')
        .map(decode_label)
        .collect::<Result<Vec<Cow<'_, str>>, _>>()?;
    let (first, rest) = labels.split_first().ok_or(HostNameError::Empty)?;
    if !rest.is_empty() {
        if let Some(authority) = parse_authority_label(first) {
            return Ok(PeerName::new(authority, &rest.join("."))?);
        }
    }
    // Windows form: an optional trailing `p<40 hex>` label carries a secured authority.
    if let Some((last, classifier)) = labels.split_last() {
        if !classifier.is_empty() {
            if let Some(authority) = last
                .strip_prefix(['p', 'P'])
                .filter(|hex| hex.len() == SECURED_AUTHORITY_HEX_LEN)
                .and_then(parse_authority_label)
            {
                return Ok(PeerName::new(authority, &classifier.join("."))?);
            }
        }
    }
    Ok(PeerName::new(Authority::Unsecured, &labels.join("."))?)
}

/// [`peer_name_of_host`] of labels none of which is punycode, the usual case (the NSS module
/// maps a name on every lookup): the classifier is a slice of them, and nothing is allocated
/// but the name. The same rules as the general case.
fn plain_peer_name(labels: &str) -> Result<PeerName, HostNameError> {
    if let Some((first, rest)) = labels.split_once('.') {
        if let Some(authority) = parse_authority_label(first) {
            return Ok(PeerName::new(authority, rest)?);
        }
    }
    if let Some((classifier, last)) = labels.rsplit_once('.') {
        if let Some(authority) = last
            .strip_prefix(['p', 'P'])
            .filter(|hex| hex.len() == SECURED_AUTHORITY_HEX_LEN)
            .and_then(parse_authority_label)
        {
            return Ok(PeerName::new(authority, classifier)?);
        }
    }
    Ok(PeerName::new(Authority::Unsecured, labels)?)
}

/// A label as the peer name has it: punycode decoded, any other borrowed as it is.
fn decode_label(label: &str) -> Result<Cow<'_, str>, HostNameError> {
    if has_ace_prefix(label) {
        punycode::decode(&label[4..])
            .map(Cow::Owned)
            .map_err(|_| HostNameError::BadPunycode(label.into()))
    } else {
        Ok(Cow::Borrowed(label))
    }
}

/// `0`, or 40 hex digits in any case.
fn parse_authority_label(label: &str) -> Option<Authority> {
    if label == "0" {
        return Some(Authority::Unsecured);
    }
    if label.len() != SECURED_AUTHORITY_HEX_LEN {
        return None;
    }
    Authority::parse(&label.to_ascii_lowercase()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a";

    fn peer(host: &str) -> String {
        peer_name_of_host(host).unwrap().to_string()
    }

    #[test]
    fn direct_form() {
        assert_eq!(peer("0.myapp.pnrp.net"), "0.myapp");
        assert_eq!(peer("0.my.app.pnrp.net"), "0.my.app");
        assert_eq!(
            peer(&format!("{AUTH}.printer.pnrp.net")),
            format!("{AUTH}.printer")
        );
        assert_eq!(
            peer(&format!("{}.printer.pnrp.net", AUTH.to_uppercase())),
            format!("{AUTH}.printer")
        );
        assert_eq!(peer("0.MyApp.PNRP.Net."), "0.MyApp");
    }

    #[test]
    fn windows_form() {
        assert_eq!(peer("myapp.pnrp.net"), "0.myapp");
        assert_eq!(peer("MyApp.pnrp.net."), "0.MyApp");
        assert_eq!(
            peer(&format!("printer.p{AUTH}.pnrp.net")),
            format!("{AUTH}.printer")
        );
        assert_eq!(
            peer(&format!("lab.printer.P{AUTH}.pnrp.net")),
            format!("{AUTH}.lab.printer")
        );
        assert_eq!(peer("0.pnrp.net"), "0.0");
        assert_eq!(peer("xn--caf-dma.pnrp.net"), "0.café");
    }

    #[test]
    fn punycode_labels_in_direct_form() {
        assert_eq!(peer("0.xn--caf-dma.lab.pnrp.net"), "0.café.lab");
        assert_eq!(peer("0.XN--caf-dma.pnrp.net"), "0.café");
        assert!(matches!(
            peer_name_of_host("0.xn--ab-!.pnrp.net"),
            Err(HostNameError::BadPunycode(_))
        ));
    }

    #[test]
    fn round_trips() {
        let long = "l".repeat(149);
        for name in [
            "0.myapp".to_string(),
            "0.My.App".to_string(),
            format!("{AUTH}.printer"),
            "0.café".to_string(),
            "0.日本語".to_string(),
            format!("0.{long}"),
        ] {
            let peer_name: PeerName = name.parse().unwrap();
            let host = host_name_of(&peer_name);
            assert!(host.ends_with(".pnrp.net"));
            assert_eq!(peer_name_of_host(&host).unwrap(), peer_name, "{host}");
        }
    }

    /// Found by the `hostname` fuzz target (fuzz/regressions/hostname/): a classifier label
    /// starting with `xn--` was printed as is, and the host name then decoded it as punycode into
    /// another peer name.
    #[test]
    fn classifier_labels_that_look_like_punycode_round_trip() {
        for name in [
            "0.xn--caf-dma.pnrp.net",
            "0.XN--a",
            "0.lab.xn--",
            "0.xn--é.x",
        ] {
            let peer_name: PeerName = name.parse().unwrap();
            let host = host_name_of(&peer_name);
            assert_eq!(peer_name_of_host(&host).unwrap(), peer_name, "{host}");
        }
        let peer_name: PeerName = "0.xn--caf-dma".parse().unwrap();
        assert_eq!(host_name_of(&peer_name), "0.xn--xn--caf-dma-.pnrp.net");
    }

    #[test]
    fn the_plain_path_maps_as_the_general_one() {
        let secured = "4c1e8f3d2b9a0716e5d4c3b2a1908f7e6d5c4b3a";
        let upper = secured.to_uppercase();
        for labels in [
            "0".to_string(),
            "0.a".into(),
            "0.a.b".into(),
            "a".into(),
            "a.b".into(),
            ".".into(),
            "..".into(),
            "0.".into(),
            ".0".into(),
            format!("{secured}.printer"),
            format!("{upper}.lab.printer"),
            format!("printer.p{secured}"),
            format!("lab.printer.P{upper}"),
            format!("p{secured}"),
            secured.to_string(),
            format!("0.p{secured}"),
            format!("x.p{}", &secured[1..]),
            format!("0.{}", "a".repeat(150)),
        ] {
            assert_eq!(
                plain_peer_name(&labels),
                decoded_peer_name(&labels),
                "{labels:?}"
            );
        }
    }

    #[test]
    fn rejects() {
        assert!(matches!(
            peer_name_of_host("example.com"),
            Err(HostNameError::NotPnrp(_))
        ));
        assert!(matches!(
            peer_name_of_host("pnrp.net"),
            Err(HostNameError::NotPnrp(_))
        ));
        assert!(matches!(
            peer_name_of_host("0.myapp.pnrp.net.."),
            Err(HostNameError::NotPnrp(_))
        ));
        assert!(matches!(
            peer_name_of_host("xpnrp.net"),
            Err(HostNameError::NotPnrp(_))
        ));
        assert!(matches!(
            peer_name_of_host(&format!("0.{}.pnrp.net", "a".repeat(150))),
            Err(HostNameError::PeerName(PeerNameError::ClassifierTooLong(
                150
            )))
        ));
        assert!(!is_pnrp_host(b".pnrp.net"));
        assert!(is_pnrp_host(b"a.PNRP.NET."));
        assert!(!is_pnrp_host(b"a.pnrp.network"));
    }
}
