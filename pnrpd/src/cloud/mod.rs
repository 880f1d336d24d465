//! The PNRP cloud: the distributed hash table on UDP 3540 ([MS-PNRP] §3), as sans-IO state.
//!
//! Layout:
//! - [`attacker`] — a hostile node that tries to steal a secured name (test scaffolding).
//! - [`cache`] — the multi-level route entry cache and leaf sets.
//! - [`guard`] — per-source rate limits, the anti-amplification budget, return routability.
//! - [`node`] — one cloud's node: joining, caching, resolving, publishing (§3).
//! - [`scenario`] — a whole simulated cloud: joins, churn, lookups, figures.
//! - [`sim`] — a deterministic simulated network for many sans-IO nodes.
//! - [`ssdp`] — SSDP cloud discovery messages.

pub mod attacker;
pub mod cache;
pub mod guard;
pub mod node;
pub mod scenario;
pub mod sim;
pub mod ssdp;

#[cfg(test)]
mod hostile_tests;
