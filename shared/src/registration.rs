//! What a registration is: a peer name with the addresses, port, comment and payload published
//! under it. The daemon stores and publishes it, `pnrpctl` builds it, and both check it with
//! [`Registration::checked`], so they cannot disagree about what is allowed.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::name::PeerName;

/// Most addresses one registration may carry.
pub const MAX_ADDRESSES: usize = 128;

/// Most bytes of a registration's payload (the spec's extended payload, §2.2.3.3).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Most bytes of a registration's comment: the CPA's FriendlyName limit (§2.2.3.1, UTF-8).
pub const MAX_COMMENT_BYTES: usize = 78;

/// An IPv6 address with its scope (interface index; 0 when not link-local). IPv4 addresses are
/// carried v4-mapped (`::ffff:a.b.c.d`), as PNRP carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScopedAddr {
    /// The address.
    pub ip: Ipv6Addr,
    /// Interface index for link-local addresses, else 0.
    pub scope_id: u32,
}

impl ScopedAddr {
    /// The IPv4 address this one carries, if it is v4-mapped.
    pub fn ipv4(&self) -> Option<Ipv4Addr> {
        self.ip.to_ipv4_mapped()
    }

    /// Whether the address is IPv6 link-local (fe80::/10), whose scope id matters.
    pub fn is_link_local(&self) -> bool {
        self.ip.is_unicast_link_local()
    }
}

/// The transport of an application endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// TCP (IP protocol 6).
    #[default]
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }

    /// The protocol of an IP protocol number we know.
    pub fn from_number(number: u16) -> Option<Protocol> {
        match number {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            _ => None,
        }
    }
}

/// A peer name published by this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The name.
    pub name: PeerName,
    /// The addresses to publish; empty means the machine's current non-loopback addresses,
    /// followed as they change.
    pub addresses: Vec<ScopedAddr>,
    /// Application port published with every address.
    pub port: Option<u16>,
    /// Transport of that port (published as the IP protocol number of each endpoint).
    #[serde(default)]
    pub protocol: Protocol,
    /// Free text shown to resolvers (the spec's friendly name).
    pub comment: Option<String>,
    /// Opaque bytes resolvers may fetch with the name (the spec's extended payload).
    #[serde(default)]
    pub payload: Option<Vec<u8>>,
}

impl Registration {
    /// The registration as a daemon stores it, or what is wrong with it. Both `pnrpctl` and the
    /// daemon call this, so they cannot disagree: scope ids are kept only on link-local
    /// addresses (which need one), and addresses nobody can reach are refused.
    pub fn checked(mut self) -> Result<Registration, String> {
        for address in &mut self.addresses {
            if !address.is_link_local() {
                address.scope_id = 0;
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks the limits a daemon enforces; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(label) = self
            .name
            .classifier()
            .split('.')
            .find(|label| crate::hostname::has_ace_prefix(label))
        {
            return Err(format!(
                "classifier label {label:?} starts with xn--, which host names read as punycode; \
                 write the name in Unicode instead"
            ));
        }
        for address in &self.addresses {
            let ip = address.ip;
            let v4 = address.ipv4();
            if ip.is_unspecified() || v4.is_some_and(|v4| v4.is_unspecified()) {
                return Err(format!("{ip} is the unspecified address"));
            }
            if ip.is_multicast() || v4.is_some_and(|v4| v4.is_multicast() || v4.is_broadcast()) {
                return Err(format!(
                    "{} is not a unicast address",
                    v4.map_or(ip.to_string(), |v4| v4.to_string())
                ));
            }
            if address.is_link_local() && address.scope_id == 0 {
                return Err(format!("link-local {ip} needs its interface: {ip}%eth0"));
            }
        }
        if let Some(payload) = &self.payload {
            if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
                return Err(format!(
                    "payload is {} bytes; it must hold 1 to {MAX_PAYLOAD_BYTES}",
                    payload.len()
                ));
            }
        }
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(format!(
                "{} addresses given; at most {MAX_ADDRESSES} are allowed",
                self.addresses.len()
            ));
        }
        if let Some(comment) = &self.comment {
            if comment.len() > MAX_COMMENT_BYTES {
                return Err(format!(
                    "comment is {} bytes of UTF-8; PNRP's friendly name holds at most \
                     {MAX_COMMENT_BYTES}",
                    comment.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> Registration {
        Registration {
            name: "0.myapp".parse().unwrap(),
            addresses: vec![
                ScopedAddr {
                    ip: "fe80::1".parse().unwrap(),
                    scope_id: 2,
                },
                ScopedAddr {
                    ip: Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped(),
                    scope_id: 0,
                },
            ],
            port: Some(8080),
            protocol: Default::default(),
            comment: Some("the lab printer".into()),
            payload: None,
        }
    }

    #[test]
    fn scoped_addr_helpers() {
        let link_local = ScopedAddr {
            ip: "fe80::1".parse().unwrap(),
            scope_id: 3,
        };
        assert!(link_local.is_link_local());
        let mapped = ScopedAddr {
            ip: Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped(),
            scope_id: 0,
        };
        assert_eq!(mapped.ipv4(), Some(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(!mapped.is_link_local());
    }

    #[test]
    fn registration_limits() {
        let mut too_many = registration();
        too_many.addresses = vec![too_many.addresses[0]; MAX_ADDRESSES + 1];
        assert!(too_many.validate().is_err());
        let mut long_comment = registration();
        long_comment.comment = Some("x".repeat(MAX_COMMENT_BYTES + 1));
        assert!(long_comment.validate().unwrap_err().contains("at most 78"));
        assert!(registration().validate().is_ok());

        let with = |text: &str, scope_id| {
            let mut changed = registration();
            changed.addresses = vec![ScopedAddr {
                ip: text.parse().unwrap(),
                scope_id,
            }];
            changed.checked()
        };
        assert!(with("fe80::9", 0)
            .unwrap_err()
            .contains("needs its interface"));
        assert!(with("::", 0).unwrap_err().contains("unspecified"));
        assert!(with("ff02::1", 3).unwrap_err().contains("not a unicast"));
        assert!(with("::ffff:224.0.0.1", 0)
            .unwrap_err()
            .contains("224.0.0.1"));
        assert_eq!(
            with("2001:db8::1", 7).unwrap().addresses[0].scope_id,
            0,
            "scope dropped"
        );
        assert_eq!(
            with("fe80::1", 7).unwrap().addresses[0].scope_id,
            7,
            "scope kept"
        );
        let mut punycode = registration();
        punycode.name = "0.xn--caf-dma".parse().unwrap();
        assert!(punycode.validate().unwrap_err().contains("xn--"));
    }
}
