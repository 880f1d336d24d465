//! `pnrpd`, the PNRP daemon, and `pnrpctl`, its command-line tool. The protocol itself is the
//! sans-IO crate `pnrp-proto`; this crate gives it sockets, a clock, a state directory and a
//! command line.
//!
//! Layout:
//! - [`daemon`] — the daemon: the run loop, the Unix-socket server, the cloud's sockets, and the
//!   synchronous service that handles each request (ownership, quotas, identities, persistence).
//! - [`dns`] — the DNS front end: `pnrp.net` over UDP and TCP for programs that do not use
//!   glibc, answered from the same view and run loop as the Unix socket.
//! - [`store`] — registrations (with owners), the node key and remembered cloud nodes in the
//!   state directory.
//! - [`identity`] — the Ed25519 key pairs that own secured names, kept per user in the state
//!   directory.
//! - [`config`] — `/etc/pnrp/pnrpd.toml`.
//! - [`interfaces`] — the machine's own addresses.
//! - [`notify`] — sd_notify: readiness, reloads, the watchdog.
//! - [`udp`] — the cloud socket's `recvmsg`/`sendmsg` with `IPV6_PKTINFO`: replies leave from
//!   the address the question reached.
//! - [`client`] — the blocking socket client used by `pnrpctl`.
//! - [`cli`] — the command lines of `pnrpd` and `pnrpctl`, the only places errors become messages;
//!   `src/bin/` holds their one-line `main`s.

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod dns;
pub mod identity;
pub mod interfaces;
pub mod notify;
pub mod store;
pub mod udp;
