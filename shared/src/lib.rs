//! What crosses pnrp's process boundaries.
//!
//! This crate is linked by the NSS module (loaded into every program on the machine), by `pnrpd` and
//! by `pnrpctl`, so it stays small: no threads, no async runtime, no I/O.
//!
//! Layout:
//! - [`name`] — peer names (`authority.classifier`, [MS-PNRP] §2.2.4) and their validation.
//! - [`id`] — P2P IDs and 256-bit PNRP IDs (§1.3.1.2), circular distance and ordering.
//! - [`hostname`] — host names under `pnrp.net` ↔ peer names, both directions.
//! - [`punycode`] — RFC 3492 for non-ASCII labels in host names.
//! - [`registration`] — what a registration is ([`Registration`], [`ScopedAddr`], [`Protocol`])
//!   and its limits, checked alike by the daemon and `pnrpctl`.
//! - [`ipc`] — the Unix-socket protocol between the NSS module, `pnrpctl` and `pnrpd`.
//! - [`snapshot`] — the file of this machine's registrations that `pnrpd` writes beside its
//!   socket and the NSS module reads instead of asking (format and parser).
//! - `fuzzing` (feature `fuzzing`) — this crate's fuzz targets' entry points.

#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod hostname;
pub mod id;
pub mod ipc;
pub mod name;
pub mod punycode;
pub mod registration;
pub mod snapshot;

pub use hostname::{host_name_of, peer_name_of_host, HostNameError, PNRP_DOMAIN};
pub use id::{P2pId, PnrpId, ServiceLocation};
pub use name::{Authority, PeerName, PeerNameError};
pub use registration::{Protocol, Registration, ScopedAddr};
