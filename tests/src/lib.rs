//! End-to-end test support for pnrp: real `pnrpd` processes, real glibc, namespaces.
//!
//! Layout:
//! - [`attacker`] — the `attacker` program of `pnrp-multicall`: a hostile cloud node.
//! - [`gai`] — the `gai` program of `pnrp-multicall`, a client of glibc's resolver.
//! - [`harness`] — temporary sandboxes (their own `nsswitch.conf`, `/etc/hosts`, `/run`), daemons
//!   started and stopped, and commands run inside mount (and network) namespaces.
//! - `src/bin/multicall.rs`: `pnrp-multicall pnrpd|pnrpctl|gai …`.
//! - `src/bin/flood.rs`: `pnrp-flood`, hostile PNRP datagrams built with pnrpd's wire module.
//! - `tests/`: the suites: `daemon.rs` (the daemon and pnrpctl over the socket), `glibc.rs`
//!   (getent, getaddrinfo, ping6 through the NSS module), `cloud.rs` (six hosts in network
//!   namespaces sharing names through the cloud; the scenario is `scripts/cloud-hosts.sh`),
//!   `hostile.rs` (a million hostile datagrams at one daemon; `scripts/hostile-flood.sh`),
//!   `packaging.rs`.
//!
//! A test that cannot make its namespaces fails with the reason; nothing is skipped.

pub mod attacker;
pub mod gai;
pub mod harness;
