//! `pnrpd`, the PNRP daemon, and `pnrpctl`, its command-line tool.
//!
//! Layout:
//! - [`node`] — the sans-IO core of the daemon: this machine's registrations (and their owners)
//!   and its clouds; fed `now` and inputs through `handle_*`, drained through `poll_*`, it never
//!   touches sockets or clocks.
//! - [`cloud`] — one PNRP cloud as a sans-IO state machine ([MS-PNRP] §3), its cache, SSDP
//!   discovery, and the simulated network that runs thousands of them.
//! - [`daemon`] — the tokio driver: the Unix socket server, the UDP and SSDP sockets, timers,
//!   persistence, shutdown.
//! - [`store`] — registrations (with owners), the node key and remembered cloud nodes in the
//!   state directory.
//! - [`identity`] — the Ed25519 key pairs that own secured names, kept per user in the state
//!   directory.
//! - [`config`] — `/etc/pnrp/pnrpd.toml`.
//! - [`interfaces`] — the machine's own addresses.
//! - [`notify`] — sd_notify readiness.
//! - [`udp`] — the cloud socket's `recvmsg`/`sendmsg` with `IPV6_PKTINFO`: replies leave from
//!   the address the question reached.
//! - [`wire`] — the PNRP wire codec ([MS-PNRP] §2): messages, CPAs and their Ed25519 signatures,
//!   AUTHORITY fragmentation; the one place untrusted UDP bytes are decoded.
//! - [`client`] — the blocking socket client used by `pnrpctl`.
//! - `fuzzing` (hidden) — the entry points of the fuzz targets in `fuzz/`, replayed on the
//!   committed corpus by `tests/fuzz_corpus.rs`.
//! - [`cli`] — the command lines of `pnrpd` and `pnrpctl`, the only places errors become messages;
//!   `src/bin/` holds their one-line `main`s.

pub mod cli;
pub mod client;
pub mod cloud;
pub mod config;
pub mod daemon;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod interfaces;
pub mod node;
pub mod notify;
pub mod store;
pub mod udp;
pub mod wire;
