//! The command lines of `pnrpd` and `pnrpctl`. They live in the library so that the end-to-end
//! tests can run exactly this code from their own multi-call binary.

pub mod ctl;
pub mod daemon;
pub mod docs;
pub mod journal;
