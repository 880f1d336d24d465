//! placeholder
pub mod cloud;
pub mod engine;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod wire;
