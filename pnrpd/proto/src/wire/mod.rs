//! The PNRP wire format ([MS-PNRP] v4.0 §2): where untrusted UDP bytes become typed values.
//!
//! Sans-IO: no sockets, clocks or randomness; callers pass `now` (as a FILETIME) and random bytes.
//! Decoding never panics and allocates only after checking that the bytes are there; it rejects
//! what §2 forbids (wrong FieldID or fixed Length, counts out of range, lengths that disagree,
//! unknown message types…) with a [`WireError`] naming the field and byte offset. Encoding cannot
//! fail: limits live in the types ([`BoundedVec`], clamping constructors).
//!
//! Layout, each module using only modules above it (no cycles; the files inside `cpa/` and
//! `messages/` never use each other, only their `mod.rs`'s items):
//! - [`error`] — [`WireError`] and its kinds.
//! - `codec` (private) — the bounded `Reader`, the `Writer`, array fields, [`BoundedVec`].
//! - [`types`] — FieldIDs, IPV6_ENDPOINT ([`Endpoint`]), IPV6_APP_ENDPOINT ([`AppEndpoint`]),
//!   ROUTE_ENTRY ([`RouteEntry`]).
//! - [`filetime`] — FILETIME (the Not After format) from and to Unix seconds.
//! - [`signature`] — the suite the CPA and EXTENDED_PAYLOAD share: the CPA Public Key
//!   ([`CpaPublicKey`]), SIGNATURE ([`CpaSignature`]), Ed25519 over SHA-1, [`SignatureError`].
//! - [`extended`] — EXTENDED_PAYLOAD ([`ExtendedPayload`]) and its §3.1.5.8 checks.
//! - [`cpa`] — the Encoded CPA ([`Cpa`]): signing and §3.1.5.7 validation ([`CpaError`]) in
//!   `cpa/mod.rs`; its fields ([`CpaFields`]), P2P ID and service location hashes in
//!   `cpa/fields.rs`.
//! - [`messages`] — `messages/mod.rs`: the header, [`Message`], [`Packet`] and the shared field
//!   readers; `cache.rs`: SOLICIT, ADVERTISE, REQUEST, FLOOD, ACK; `resolve.rs`: INQUIRE,
//!   LOOKUP; `authority.rs`: AUTHORITY fragments, [`AuthorityBuffer`].
//! - [`fragment`] — AUTHORITY reassembly with bounded memory ([`Reassembly`]).
//!
//! Byte order: integers are big-endian unless §2 says little-endian (inside the CPA, its public
//! key, SIGNATURE and EXTENDED_PAYLOAD). PNRP IDs travel most significant byte first, our
//! [`PnrpId`](pnrp_shared::PnrpId) layout; the spec states no order for them except in
//! EXTENDED_PAYLOAD (reversed), and the CPA's Service Location and BinaryAuthority are reversed as
//! §2.2.3.1 says. docs/PROTOCOL.md records every choice and deviation.

pub(crate) mod codec;
pub mod cpa;
pub mod error;
pub mod extended;
pub mod filetime;
pub mod fragment;
pub mod messages;
pub mod signature;
pub mod types;

pub use codec::BoundedVec;
pub use cpa::{
    p2p_id_from_hashes, service_location, service_location_prefix, Cpa, CpaCheck, CpaError,
    CpaFields, FriendlyName,
};
pub use error::{BoundsError, WireError, WireErrorKind};
pub use extended::{
    ExtendedData, ExtendedPayload, ExtendedPayloadError, ExtendedPayloadFields, ExtendedText,
};
pub use filetime::{filetime_from_unix, unix_from_filetime};
pub use fragment::{Reassembly, ReassemblyError};
pub use messages::{
    split_authority_buffer, Ack, Advertise, Authority, AuthorityBuffer, Classifier, Flood, Header,
    Inquire, Lookup, Message, MessageType, Packet, Request, ResolveCriteria, ResolveReason,
    Solicit, SolicitType, FRAGMENT_LEN, MAX_AUTHORITY_BUFFER, MAX_PATH_ENDPOINTS,
};
pub use signature::{CpaPublicKey, CpaSignature, SignatureError};
pub use types::{AppEndpoint, Endpoint, RouteEntry};
