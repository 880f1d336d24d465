//! Runs `pnrp_shared::fuzzing::snapshot`: the local-names snapshot the NSS module reads.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_shared::fuzzing::snapshot(data));
