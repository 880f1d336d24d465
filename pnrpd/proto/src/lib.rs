//! `pnrp-proto`: the Peer Name Resolution Protocol ([MS-PNRP] v4.0) as sans-IO state, in the
//! manner of quinn-proto. Nothing here opens a socket, reads a clock or draws an unseeded random
//! number: callers feed bytes and `now` in through `handle_*` and take datagrams, timers and
//! events out through `poll_*`, so one process can run thousands of nodes in virtual time, and a
//! seed makes a whole run reproducible. The daemon (`pnrpd`) gives it sockets and a clock.
//!
//! Layout, from the bytes up:
//! - [`wire`] — the PNRP wire format (§2): the one place datagram bytes are parsed; CPAs and
//!   extended payloads signed and validated (Ed25519); AUTHORITY fragmentation and bounded
//!   reassembly.
//! - [`cloud`] — one PNRP cloud (§3), the distributed hash table: [`cloud::Cloud`] is this
//!   node's part in it (joining, caching, answering, resolving, publishing, maintenance), with
//!   its route cache, its defences against hostile senders and SSDP discovery.
//! - [`engine`] — [`engine::Engine`]: this machine's registrations published in each of its
//!   clouds (`Global_`, `LinkLocal_<interface>`), and resolves merged over them.
//! - `fuzzing` (feature `fuzzing`) — the entry points of the fuzz targets in `fuzz/`.
//!
//! Words: a *node* is one participant of a cloud (one [`cloud::Cloud`] value, ours or a peer's);
//! a *registration* is a name this machine publishes; a *resolve* is one search for a name.
//!
//! [MS-PNRP]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-pnrp/

pub mod cloud;
pub mod engine;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod wire;
