//! Test support for pnrp, and its test suites. Never shipped (`publish = false`); the daemon
//! does not depend on it.
//!
//! Layout:
//! - [`sim`] — a deterministic simulated network for many sans-IO nodes: latency models,
//!   loss, partitions, stateful firewalls, side ports.
//! - [`churn`] — continuous churn: Weibull sessions, Poisson arrivals.
//! - [`scenario`] — whole simulated clouds on it: small ones for tests, large ones with figures.
//! - [`attacker`] — a hostile cloud node that tries to take a secured name, and the `attacker`
//!   program that runs it over UDP in the namespace scenario.
//! - [`samples`] — one set of sample messages: PNRP datagrams and socket-protocol frames.
//! - [`fake_daemon`] — a fake `pnrpd` for the NSS module, with the table of hostile answers.
//! - [`nss_buffer`] — glibc's buffers as the NSS module fills them, read back with checks.
//! - [`nss_calls`] — the module's entry points called as glibc calls them; the buffer sweep.
//! - [`harness`] — sandboxes (their own `nsswitch.conf`, `/etc/hosts`, `/run`), real daemons,
//!   commands inside mount and network namespaces, the host scenarios of `scripts/`.
//! - [`dns_client`] — a small DNS client (UDP and TCP) for the DNS front end's tests.
//! - [`gai`] — the `gai` program, a client of glibc's resolver; [`gai_bench`] its benchmarks.
//! - `src/bin/multicall.rs`: `pnrp-multicall pnrpd|pnrpctl|gai|attacker …`.
//! - `src/bin/flood.rs`: `pnrp-flood`, hostile PNRP datagrams.
//! - `examples/simulate.rs`: the simulator's command line (docs/PERFORMANCE.md).
//!
//! Two tiers of tests (README.md): `tests/*.rs` need nothing but Rust and run with
//! `cargo test --workspace`; `system/*.rs` need root or user namespaces and system tools, and run
//! with `tests/system.sh` (the `system` feature). A test that cannot run fails with the reason;
//! nothing is skipped.

pub mod attacker;
pub mod churn;
pub mod dns_client;
pub mod fake_daemon;
pub mod gai;
pub mod gai_bench;
pub mod harness;
pub mod nss_buffer;
pub mod nss_calls;
pub mod samples;
pub mod scenario;
pub mod sim;
