//! FieldIDs and the small structures shared by several messages: IPV6_ENDPOINT (§2.2.3.6),
//! IPV6_APP_ENDPOINT (§2.2.3.1.3) and ROUTE_ENTRY (§2.2.3.4).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use pnrp_shared::PnrpId;

use super::codec::{BoundedVec, Reader, Writer};
use super::error::{WireError, WireErrorKind};

/// FieldIDs (§2.2).
pub mod field_id {
    #![allow(missing_docs)]
    pub const PNRP_HEADER: u16 = 0x0010;
    pub const PNRP_HEADER_ACKED: u16 = 0x0018;
    pub const PNRP_ID: u16 = 0x0030;
    pub const TARGET_PNRP_ID: u16 = 0x0038;
    pub const VALIDATE_PNRP_ID: u16 = 0x0039;
    pub const FLAGS_FIELD: u16 = 0x0040;
    pub const FLOOD_CONTROLS: u16 = 0x0043;
    pub const SOLICIT_CONTROLS: u16 = 0x0044;
    pub const LOOKUP_CONTROLS: u16 = 0x0045;
    pub const EXTENDED_PAYLOAD: u16 = 0x005A;
    pub const PNRP_ID_ARRAY: u16 = 0x0060;
    pub const CERT_CHAIN: u16 = 0x0080;
    pub const WCHAR: u16 = 0x0084;
    pub const CLASSIFIER: u16 = 0x0085;
    pub const HASHED_NONCE: u16 = 0x0092;
    pub const NONCE: u16 = 0x0093;
    pub const SPLIT_CONTROLS: u16 = 0x0098;
    pub const ROUTING_ENTRY: u16 = 0x009A;
    pub const VALIDATE_CPA: u16 = 0x009B;
    pub const REVOKE_CPA: u16 = 0x009C;
    pub const IPV6_ENDPOINT: u16 = 0x009D;
    pub const IPV6_ENDPOINT_ARRAY: u16 = 0x009E;
}

/// Bytes in an IPV6_ENDPOINT.
pub const ENDPOINT_LEN: u16 = 18;
/// Most addresses in a ROUTE_ENTRY (§2.2.3.4).
pub const MAX_ROUTE_ADDRESSES: usize = 20;

/// The address form PNRP carries: IPv4 as v4-mapped IPv6 (`::ffff:a.b.c.d`).
pub fn to_wire_ip(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// IPV6_ENDPOINT (§2.2.3.6): `Port (2, network order) | Address (16)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// UDP port. The spec requires > 1024; §3.1.5.11 says what to do otherwise, so decoding keeps it.
    pub port: u16,
    /// IPv6 address (IPv4 v4-mapped).
    pub address: Ipv6Addr,
}

impl Endpoint {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let port = r.u16_be("IPV6_ENDPOINT Port")?;
        let address = Ipv6Addr::from(r.array::<16>("IPV6_ENDPOINT Address")?);
        Ok(Endpoint { port, address })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u16_be(self.port);
        w.bytes(&self.address.octets());
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint {
            port: addr.port(),
            address: to_wire_ip(addr.ip()),
        }
    }
}

/// IPV6_APP_ENDPOINT (§2.2.3.1.3): `sin6_addr (16) | sin6_port (2) | Protocol (2, little-endian)`.
///
/// The spec gives `sin6_port` no byte order; we use network order, as in a `sockaddr_in6` and per
/// §2.2's default (Wireshark 1.x read it little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppEndpoint {
    /// Application address (IPv4 v4-mapped).
    pub address: Ipv6Addr,
    /// Application port.
    pub port: u16,
    /// IANA protocol number (6 TCP, 17 UDP…).
    pub protocol: u16,
}

impl AppEndpoint {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, WireError> {
        let address = Ipv6Addr::from(r.array::<16>("IPV6_APP_ENDPOINT sin6_addr")?);
        let port = r.u16_be("IPV6_APP_ENDPOINT sin6_port")?;
        let protocol = r.u16_le("IPV6_APP_ENDPOINT Protocol")?;
        Ok(AppEndpoint {
            address,
            port,
            protocol,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.address.octets());
        w.u16_be(self.port);
        w.u16_le(self.protocol);
    }
}

/// ROUTE_ENTRY (§2.2.3.4): a node's PNRP ID and the addresses and port its PNRP listens on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouteEntry {
    /// The PNRP ID, most significant byte first (the spec states no byte order here).
    pub pnrp_id: PnrpId,
    /// UDP port. Kept as received; §3.1.5.11 ignores entries with ports below 1024.
    pub port: u16,
    /// 1 to 20 addresses.
    pub addresses: BoundedVec<Ipv6Addr, 1, MAX_ROUTE_ADDRESSES>,
}

impl RouteEntry {
    /// Decodes the body of a ROUTING_ENTRY field (all of it).
    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Self, WireError> {
        let pnrp_id = PnrpId(r.array("ROUTE_ENTRY PNRP ID")?);
        let at = r.offset();
        let major = r.u8("ROUTE_ENTRY PNRP Major Version")?;
        let minor = r.u8("ROUTE_ENTRY PNRP Minor Version")?;
        if (major, minor) != (4, 0) {
            return Err(Reader::error_at(
                at,
                WireErrorKind::BadValue {
                    field: "ROUTE_ENTRY PNRP Version",
                    found: u64::from(major) << 8 | u64::from(minor),
                    rule: "must be 4.0",
                },
            ));
        }
        let port = r.u16_be("ROUTE_ENTRY Port Number")?;
        let _flags = r.u8("ROUTE_ENTRY Flags")?;
        let at = r.offset();
        let count = r.u8("ROUTE_ENTRY Address Count")?;
        if !(1..=MAX_ROUTE_ADDRESSES).contains(&usize::from(count)) {
            return Err(Reader::error_at(
                at,
                WireErrorKind::CountOutOfRange {
                    field: "ROUTE_ENTRY Address Count",
                    found: count.into(),
                    min: 1,
                    max: MAX_ROUTE_ADDRESSES as u64,
                },
            ));
        }
        if r.remaining() != usize::from(count) * 16 {
            return Err(Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "ROUTE_ENTRY",
                    rule: "Length must be 4 + 40 + 16 × Address Count",
                },
            ));
        }
        let mut addresses = Vec::with_capacity(count.into());
        for _ in 0..count {
            addresses.push(Ipv6Addr::from(r.array::<16>("ROUTE_ENTRY IPv6 Address")?));
        }
        let addresses = BoundedVec::new(addresses).map_err(|_| {
            Reader::error_at(
                at,
                WireErrorKind::Inconsistent {
                    field: "ROUTE_ENTRY",
                    rule: "address count",
                },
            )
        })?;
        r.finish_exact()?;
        Ok(RouteEntry {
            pnrp_id,
            port,
            addresses,
        })
    }

    /// Encodes the body of a ROUTING_ENTRY field.
    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.pnrp_id.0);
        w.u8(4);
        w.u8(0);
        w.u16_be(self.port);
        w.u8(0);
        w.u8(self.addresses.len() as u8);
        for address in self.addresses.iter() {
            w.bytes(&address.octets());
        }
    }
}

/// Reads an optional ROUTING_ENTRY field.
pub(crate) fn read_optional_route(r: &mut Reader<'_>) -> Result<Option<RouteEntry>, WireError> {
    if r.peek_field() == Some(field_id::ROUTING_ENTRY) {
        let body = r.field(field_id::ROUTING_ENTRY, "ROUTING_ENTRY")?;
        Ok(Some(RouteEntry::decode(body)?))
    } else {
        Ok(None)
    }
}

/// Writes an optional ROUTING_ENTRY field.
pub(crate) fn write_optional_route(w: &mut Writer, route: &Option<RouteEntry>) {
    if let Some(route) = route {
        w.field(field_id::ROUTING_ENTRY, |w| route.encode(w));
    }
}
