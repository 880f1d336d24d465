//! `pnrpd`, the PNRP daemon, and `pnrpctl`, its command-line tool.
//!
//! Layout:
//! - [`node`] — the sans-IO protocol core. It owns registrations and answers resolves; it is fed
//!   `now` and inputs through `handle_*` and drained through `poll_*`, and never touches sockets,
//!   clocks or randomness.
//! - [`daemon`] — the tokio driver: the Unix socket server, timers, persistence, shutdown.
//! - [`store`] — registrations persisted atomically in the state directory.
//! - [`config`] — `/etc/pnrp/pnrpd.toml`.
//! - [`interfaces`] — the machine's own addresses.
//! - [`notify`] — sd_notify readiness.
//! - [`wire`] — the PNRP wire codec ([MS-PNRP] §2): messages, CPAs and their Ed25519 signatures,
//!   AUTHORITY fragmentation; the one place untrusted UDP bytes are decoded.
//! - [`client`] — the blocking socket client used by `pnrpctl`.
//! - [`cli`] — the command lines of `pnrpd` and `pnrpctl`, the only places errors become messages;
//!   `src/bin/` holds their one-line `main`s.

pub mod cli;
pub mod client;
pub mod cloud;
pub mod config;
pub mod daemon;
pub mod interfaces;
pub mod node;
pub mod notify;
pub mod store;
pub mod wire;
