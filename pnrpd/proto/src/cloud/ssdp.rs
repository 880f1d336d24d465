//! SSDP cloud discovery ([MS-PNRP] §3.1.4.2.2, §3.1.5.1, §3.2.4.1): a node looking for its cloud
//! multicasts an M-SEARCH to `[ff02::c]:1900` with the search target
//! `urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:<Scope>`; a node that publishes
//! at least one name answers with its PNRP endpoint in the `AL` header, and the searcher starts a
//! synchronization conversation (SOLICIT) with it.
//!
//! Only the text is here; the driver owns the socket. Parsing is bounded and never panics.

use std::net::{Ipv6Addr, SocketAddrV6};

/// The SSDP multicast group (link scope).
pub const GROUP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xc);
/// The SSDP port.
pub const PORT: u16 = 1900;
/// Largest SSDP datagram we read.
const MAX_LEN: usize = 2048;
const TARGET_PREFIX: &str = "urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:";

/// The scope a search asks for: the last word of the search target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SsdpScope {
    /// Global addresses.
    Global,
    /// Site-local addresses (deprecated by IPv6, kept by the spec; we never search it).
    SiteLocal,
    /// Link-local addresses.
    LinkLocal,
}

impl SsdpScope {
    /// The word the search target ends with.
    pub fn as_str(self) -> &'static str {
        match self {
            SsdpScope::Global => "Global",
            SsdpScope::SiteLocal => "SiteLocal",
            SsdpScope::LinkLocal => "LinkLocal",
        }
    }

    fn parse(text: &str) -> Option<SsdpScope> {
        [
            SsdpScope::Global,
            SsdpScope::SiteLocal,
            SsdpScope::LinkLocal,
        ]
        .into_iter()
        .find(|scope| scope.as_str() == text)
    }
}

/// The search target of a cloud scope.
pub fn search_target(scope: SsdpScope) -> String {
    format!("{TARGET_PREFIX}{}", scope.as_str())
}

/// An SSDP message that concerns PNRP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsdpMessage {
    /// Someone looks for a cloud of this scope.
    Search {
        /// The scope searched.
        scope: SsdpScope,
    },
    /// A node of a cloud of this scope listens at `al` (no scope id: the receiver adds its own).
    Response {
        /// The scope.
        scope: SsdpScope,
        /// The PNRP endpoint from the `AL` header.
        al: SocketAddrV6,
    },
}

/// The M-SEARCH for a scope.
pub fn search(scope: SsdpScope) -> Vec<u8> {
    format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: [FF02::C]:1900\r\nST: {}\r\nMAN: \"ssdp:discover\"\r\nMX: 3\r\n\r\n",
        search_target(scope)
    )
    .into_bytes()
}

/// The answer to a search: this node listens at `endpoint`.
pub fn response(scope: SsdpScope, endpoint: SocketAddrV6) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nST: {}\r\nAL: [{}]:{}\r\nUSN: uuid:pnrp-{}\r\n\r\n",
        search_target(scope),
        endpoint.ip(),
        endpoint.port(),
        endpoint.ip()
    )
    .into_bytes()
}

/// Reads an SSDP datagram; `None` for anything that is not a PNRP search or answer.
pub fn parse(bytes: &[u8]) -> Option<SsdpMessage> {
    if bytes.len() > MAX_LEN {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut lines = text.split("\r\n");
    let start = lines.next()?;
    let header = |name: &str| {
        text.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    };
    let scope = SsdpScope::parse(header("ST")?.strip_prefix(TARGET_PREFIX)?)?;
    if start.starts_with("M-SEARCH ") {
        return Some(SsdpMessage::Search { scope });
    }
    if start.starts_with("HTTP/1.1 200") {
        let al = header("AL")?;
        let (ip, port) = al.strip_prefix('[')?.split_once("]:")?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port: u16 = port.parse().ok()?;
        if port <= 1024 {
            return None;
        }
        return Some(SsdpMessage::Response {
            scope,
            al: SocketAddrV6::new(ip, port, 0, 0),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(
            parse(&search(SsdpScope::LinkLocal)),
            Some(SsdpMessage::Search {
                scope: SsdpScope::LinkLocal
            })
        );
        let endpoint: SocketAddrV6 = "[fe80::1]:3540".parse().unwrap();
        assert_eq!(
            parse(&response(SsdpScope::LinkLocal, endpoint)),
            Some(SsdpMessage::Response {
                scope: SsdpScope::LinkLocal,
                al: endpoint
            })
        );
        let text = String::from_utf8(search(SsdpScope::Global)).unwrap();
        assert!(text.contains(
            "ST: urn:Microsoft Windows Peer Name Resolution Protocol: V4:IPV6:Global\r\n"
        ));
    }

    #[test]
    fn ignores_other_ssdp_and_garbage() {
        let other = b"M-SEARCH * HTTP/1.1\r\nST: ssdp:all\r\nMAN: \"ssdp:discover\"\r\n\r\n";
        assert_eq!(parse(other), None);
        assert_eq!(parse(b"\xff\xfe"), None);
        assert_eq!(parse(&[b'a'; 4096]), None);
        let bad_port = response(SsdpScope::Global, "[fd00::1]:80".parse().unwrap());
        assert_eq!(parse(&bad_port), None);
        let bad_scope = String::from_utf8(search(SsdpScope::Global))
            .unwrap()
            .replace("Global", "Mars");
        assert_eq!(parse(bad_scope.as_bytes()), None);
    }
}
