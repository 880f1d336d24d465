//! The local socket protocol between the NSS module, `pnrpctl` and `pnrpd`.
//!
//! One request and one response per frame, over a Unix stream socket (default
//! [`DEFAULT_SOCKET_PATH`]). A frame is
//!
//! ```text
//! u32 big-endian length of what follows | u8 protocol version | postcard-encoded body
//! ```
//!
//! The length covers the version byte and the body and is at most [`MAX_FRAME_LEN`]. A peer that
//! receives a frame it cannot decode answers [`Response::Error`] and closes; it never panics or waits
//! for more than the length announced.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::name::PeerName;

/// Where `pnrpd` listens unless configured otherwise (`PNRP_SOCKET` overrides it for clients).
pub const DEFAULT_SOCKET_PATH: &str = "/run/pnrp/pnrpd.sock";

/// The protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 1;

/// Bytes of the frame header: the length.
pub const HEADER_LEN: usize = 4;

/// Most bytes a frame may announce after its header: room for [`MAX_REGISTRATIONS`] full-size
/// registrations in one `List` answer.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;

/// Most names one daemon publishes (so every answer fits in a frame and the state file stays
/// small).
pub const MAX_REGISTRATIONS: usize = 128;

/// Most names one local user other than root may publish.
pub const MAX_REGISTRATIONS_PER_USER: usize = 32;

/// Most addresses one registration may carry.
pub const MAX_ADDRESSES: usize = 128;

/// Most bytes of a registration's payload (the spec's extended payload, §2.2.3.3).
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Most bytes of a registration's comment: the CPA's FriendlyName limit (§2.2.3.1, UTF-8).
pub const MAX_COMMENT_BYTES: usize = 78;

/// Why a frame could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The announced or encoded length is over [`MAX_FRAME_LEN`].
    #[error("frame of {0} bytes is over the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    /// The frame has no version byte.
    #[error("empty frame")]
    Empty,
    /// The frame's version is not ours.
    #[error("protocol version {0} is not supported (this side speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u8),
    /// The body does not decode as the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

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

/// What a client asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// The addresses registered under a peer name.
    Resolve {
        /// The name to resolve.
        name: PeerName,
    },
    /// The peer names known to the daemon that point at an address (reverse lookup).
    ResolveAddress {
        /// The address to look up.
        address: ScopedAddr,
    },
    /// Publish a peer name from this node.
    Register(Registration),
    /// Withdraw a peer name this node publishes.
    Unregister {
        /// The name to withdraw.
        name: PeerName,
    },
    /// Every registration on this node.
    List,
    /// The daemon's state.
    Status,
    /// The clouds this node takes part in.
    Clouds,
    /// Every cloud's route cache.
    Cache,
    /// Resolve a name in every cloud, bypassing the freshness window, and report the hops.
    Traceroute {
        /// The name to resolve.
        name: PeerName,
    },
    /// Make an identity (an Ed25519 key pair) owned by the caller, for secured names: from a new
    /// random key, or from `secret` (an exported identity being restored).
    IdentityCreate {
        /// The 32-byte Ed25519 secret key (RFC 8032 seed) to import, or `None` for a new key.
        secret: Option<[u8; 32]>,
    },
    /// The caller's identities (every identity, for root).
    IdentityList,
    /// One identity, with its secret key when `secret` is set (its owner and root only).
    IdentityExport {
        /// Which identity: its authority, 40 hex digits.
        authority: String,
        /// Whether to include the secret key.
        secret: bool,
    },
    /// Delete an identity (its owner and root only; refused while a name uses it).
    IdentityDelete {
        /// Which identity: its authority, 40 hex digits.
        authority: String,
    },
}

/// An identity: a key pair that owns the secured names `<authority>.<classifier>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    /// SHA-1 of the 32-byte Ed25519 public key, 40 lowercase hex digits: the authority of the
    /// secured names this identity owns.
    pub authority: String,
    /// The Ed25519 public key (RFC 8032 encoding), exactly the bytes the authority hashes.
    pub public_key: [u8; 32],
    /// The local user who owns it.
    pub owner: u32,
    /// Names this node publishes with it.
    pub names: Vec<PeerName>,
}

/// A cloud, as `pnrpctl clouds` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudInfo {
    /// `Global_` or `LinkLocal_<interface>`.
    pub name: String,
    /// Where this node listens in it.
    pub endpoints: Vec<String>,
    /// Route entries cached.
    pub cached: u32,
    /// PNRP IDs (hex) this node publishes there, with their peer names.
    pub published: Vec<(String, String)>,
    /// Datagrams sent, received, dropped as malformed; CPAs rejected; datagrams dropped by the
    /// per-source rate limit; answers withheld by the anti-amplification budget.
    pub counters: [u64; 6],
}

/// One cached route entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntryInfo {
    /// The cloud.
    pub cloud: String,
    /// PNRP ID in hex.
    pub id: String,
    /// Its endpoints.
    pub endpoints: Vec<String>,
    /// Seconds since it last proved alive.
    pub age_secs: u64,
}

/// What a traceroute found in one cloud.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceInfo {
    /// The cloud.
    pub cloud: String,
    /// Every node asked, in order (LOOKUPs, then INQUIREs).
    pub hops: Vec<String>,
    /// The publishers found.
    pub publishers: Vec<String>,
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

/// One registration of a name, as found by a resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The name resolved.
    pub name: PeerName,
    /// Where it is, IPv4 v4-mapped, link-local with scope id.
    pub addresses: Vec<ScopedAddr>,
    /// Application port, if the publisher gave one.
    pub port: Option<u16>,
    /// Transport of that port.
    pub protocol: Protocol,
    /// The publisher's comment.
    pub comment: Option<String>,
    /// The publisher's extended payload.
    pub payload: Option<Vec<u8>>,
    /// Where the answer came from (`local` for this node's own registrations).
    pub source: String,
}

/// A registration held by this node, as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationInfo {
    /// What was registered.
    pub registration: Registration,
    /// The addresses published now (the machine's own when none were given).
    pub published: Vec<ScopedAddr>,
    /// The local user who registered it; only they or root may change or remove it.
    pub owner: u32,
}

/// The daemon's state, for `pnrpctl status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's version.
    pub version: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Names this node publishes.
    pub registrations: u32,
    /// Where its registrations persist.
    pub state_dir: String,
}

/// Kinds of failure a daemon reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request could not be decoded or breaks a limit.
    BadRequest,
    /// The frame's protocol version is not the daemon's.
    UnsupportedVersion,
    /// The name is not registered on this node.
    NotRegistered,
    /// The daemon could not persist the change; nothing was changed.
    Storage,
    /// The daemon is shutting down or failed internally.
    Unavailable,
    /// The name belongs to another local user.
    NotOwner,
    /// The caller already publishes as many names as one user may.
    Quota,
    /// A secured name needs an identity of the caller's with its authority, and there is none.
    NoIdentity,
}

/// What the daemon answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Registrations found for a name (never empty).
    Resolved(Vec<Record>),
    /// No registration for that name.
    NotFound,
    /// Names pointing at an address (never empty).
    Names(Vec<PeerName>),
    /// The registration is stored and published.
    Registered(RegistrationInfo),
    /// The name is withdrawn.
    Unregistered,
    /// Every registration on this node.
    Registrations(Vec<RegistrationInfo>),
    /// The daemon's state.
    Status(Status),
    /// The clouds.
    Clouds(Vec<CloudInfo>),
    /// Cached route entries of every cloud.
    Cache(Vec<CacheEntryInfo>),
    /// A traceroute's findings, one per cloud.
    Trace(Vec<TraceInfo>),
    /// Identities (for create and export: the one concerned).
    Identities(Vec<IdentityInfo>),
    /// An exported identity with its secret key.
    IdentitySecret {
        /// The identity.
        identity: IdentityInfo,
        /// Its 32-byte Ed25519 secret key.
        secret: [u8; 32],
    },
    /// The identity is deleted.
    IdentityDeleted,
    /// The request failed.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// What went wrong, for people.
        message: String,
    },
}

/// Encodes a message as a whole frame (header included).
pub fn encode_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0; HEADER_LEN];
    frame.push(PROTOCOL_VERSION);
    let mut frame = postcard::to_extend(message, frame)
        .map_err(|error| FrameError::Malformed(error.to_string()))?;
    let length = frame.len() - HEADER_LEN;
    if length > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(length));
    }
    frame[..HEADER_LEN].copy_from_slice(&(length as u32).to_be_bytes());
    Ok(frame)
}

/// Reads the header: how many bytes follow it. Rejects empty and oversized frames before any
/// allocation.
pub fn frame_length(header: [u8; HEADER_LEN]) -> Result<usize, FrameError> {
    let length = u32::from_be_bytes(header) as usize;
    match length {
        0 => Err(FrameError::Empty),
        length if length > MAX_FRAME_LEN => Err(FrameError::TooLarge(length)),
        length => Ok(length),
    }
}

/// Decodes what follows the header: the version byte and the body, which must be used up whole.
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (&version, payload) = body.split_first().ok_or(FrameError::Empty)?;
    if version != PROTOCOL_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let (message, rest) = postcard::take_from_bytes(payload)
        .map_err(|error| FrameError::Malformed(error.to_string()))?;
    if !rest.is_empty() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(message)
}

/// Decodes a whole frame held in one buffer (header included).
pub fn decode_frame<T: DeserializeOwned>(frame: &[u8]) -> Result<T, FrameError> {
    let header: [u8; HEADER_LEN] = frame
        .get(..HEADER_LEN)
        .and_then(|header| header.try_into().ok())
        .ok_or(FrameError::Empty)?;
    let length = frame_length(header)?;
    let body = &frame[HEADER_LEN..];
    if body.len() != length {
        return Err(FrameError::Malformed(format!(
            "frame announces {length} bytes but holds {}",
            body.len()
        )));
    }
    decode_body(body)
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
    fn round_trips_every_message() {
        for request in crate::samples::requests() {
            let frame = encode_frame(&request).unwrap();
            assert_eq!(decode_frame::<Request>(&frame).unwrap(), request);
        }
        for response in crate::samples::responses() {
            let frame = encode_frame(&response).unwrap();
            assert_eq!(decode_frame::<Response>(&frame).unwrap(), response);
        }
    }

    #[test]
    fn rejects_malformed_frames() {
        assert_eq!(frame_length([0; 4]), Err(FrameError::Empty));
        assert_eq!(
            frame_length([0xff; 4]),
            Err(FrameError::TooLarge(u32::MAX as usize))
        );
        assert_eq!(
            frame_length((MAX_FRAME_LEN as u32).to_be_bytes()),
            Ok(MAX_FRAME_LEN)
        );

        let mut frame = encode_frame(&Request::List).unwrap();
        frame[HEADER_LEN] = 9;
        assert_eq!(
            decode_frame::<Request>(&frame),
            Err(FrameError::UnsupportedVersion(9))
        );

        let frame = encode_frame(&Request::Status).unwrap();
        let mut trailing = frame.clone();
        trailing.push(0);
        assert!(matches!(
            decode_frame::<Request>(&trailing),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            decode_frame::<Request>(&frame[..3]),
            Err(FrameError::Empty)
        ));

        // A bad peer name inside an otherwise well-formed frame.
        let mut bad = postcard::to_extend("9.nope", vec![0, 0, 0, 0, PROTOCOL_VERSION, 0]).unwrap();
        let length = (bad.len() - HEADER_LEN) as u32;
        bad[..4].copy_from_slice(&length.to_be_bytes());
        assert!(matches!(
            decode_frame::<Request>(&bad),
            Err(FrameError::Malformed(_))
        ));

        // A huge announced vector length must fail without allocating it.
        let body = [PROTOCOL_VERSION, 2, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(
            decode_body::<Request>(&body),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn every_truncation_and_byte_flip_is_an_error_or_a_value() {
        let frame = encode_frame(&Request::Register(registration())).unwrap();
        for cut in 0..frame.len() {
            assert!(decode_frame::<Request>(&frame[..cut]).is_err());
        }
        for index in 0..frame.len() {
            for value in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut mutated = frame.clone();
                mutated[index] = value;
                let _ = decode_frame::<Request>(&mutated);
            }
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
