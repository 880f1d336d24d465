//! Runs `pnrp_proto::fuzzing::hostname`: host name ↔ peer name conversions and punycode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::hostname(data));
