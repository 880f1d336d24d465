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

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::name::PeerName;
pub use crate::registration::{
    Protocol, Registration, ScopedAddr, MAX_ADDRESSES, MAX_COMMENT_BYTES, MAX_PAYLOAD_BYTES,
};

/// Where `pnrpd` listens unless configured otherwise (`PNRP_SOCKET` overrides it for clients).
pub const DEFAULT_SOCKET_PATH: &str = "/run/pnrp/pnrpd.sock";

/// The protocol version carried in every frame.
pub const PROTOCOL_VERSION: u8 = 3;

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
    /// What passed through it.
    pub counters: CloudCounters,
    /// How many nodes the cloud holds, estimated from the distance to this node's nearest
    /// neighbours; `None` until a neighbour is known on each side.
    pub estimated_size: Option<u64>,
    /// Whether other nodes can reach this one there unsolicited.
    pub reachability: Reachability,
}

/// Whether other nodes of a cloud can reach this node unsolicited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reachability {
    /// Not known yet.
    #[default]
    Unknown,
    /// Nodes this one had not talked to reached it: it serves as a route for others.
    Reachable,
    /// Nobody this node had not talked to first reached it (a stateful firewall drops what it
    /// did not ask for): it resolves, but its names are published on its links only.
    Firewalled,
}

/// A cloud's traffic counters since the daemon started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloudCounters {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received that decoded.
    pub received: u64,
    /// Datagrams dropped as malformed.
    pub malformed: u64,
    /// CPAs that failed validation.
    pub bad_cpas: u64,
    /// Datagrams dropped undecoded: their source exceeded its rate.
    pub rate_limited: u64,
    /// Answers not sent: they would have exceeded an unproven source's amplification budget.
    pub withheld: u64,
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
    /// Where the answer came from.
    pub source: Source,
}

/// Where a [`Record`] came from. Displayed as `local`, or `<cloud> via <publisher>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// This node's own registration.
    Local,
    /// A publisher in a cloud.
    Cloud {
        /// The cloud (`Global_`, `LinkLocal_<interface>`).
        cloud: String,
        /// The publisher's PNRP endpoint, `[address%scope]:port`.
        publisher: String,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Local => f.write_str("local"),
            Source::Cloud { cloud, publisher } => write!(f, "{cloud} via {publisher}"),
        }
    }
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
    /// The clouds in which no other node can reach this one unsolicited.
    pub firewalled_clouds: Vec<String>,
    /// The DNS front end's listeners (none when `dns_listen` is empty).
    pub dns: Vec<DnsListener>,
    /// The seeds in effect, as configured (a reload changes them).
    pub seeds: Vec<String>,
    /// The log filter in effect (a reload changes it).
    pub log_level: String,
}

/// One socket of the DNS front end, as `pnrpctl status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsListener {
    /// The address it is bound to, `127.0.0.1:3553` or `[::1]:3553`.
    pub address: String,
    /// UDP or TCP.
    pub transport: DnsTransport,
    /// What it answered since the daemon started.
    pub counters: DnsCounters,
}

/// The transport of a [`DnsListener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsTransport {
    /// Datagrams.
    Udp,
    /// Streams (RFC 7766), where a truncated UDP answer is asked again.
    Tcp,
}

/// A DNS listener's counters since the daemon started. Every query received lands in exactly
/// one of `answered`, `nxdomain`, `refused`, `failed`, `malformed`, `rate_limited` and `denied`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCounters {
    /// Queries received (datagrams, or messages on a stream).
    pub queries: u64,
    /// Answered NOERROR (with records, or none of the type asked).
    pub answered: u64,
    /// Answered NXDOMAIN: a name under pnrp.net that does not resolve.
    pub nxdomain: u64,
    /// Answered REFUSED: not a name this front end serves.
    pub refused: u64,
    /// Answered SERVFAIL: the daemon could not resolve (busy, or stopping).
    pub failed: u64,
    /// Answered FORMERR or NOTIMP, or dropped as undecodable.
    pub malformed: u64,
    /// Dropped: the source sent more than its rate.
    pub rate_limited: u64,
    /// Dropped: the source is neither loopback nor in `dns_allow`.
    pub denied: u64,
    /// Answers sent truncated (TC): too large for the datagram, or for an unproven source.
    pub truncated: u64,
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
}
