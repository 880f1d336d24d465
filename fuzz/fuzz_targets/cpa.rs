//! Runs `pnrp_proto::fuzzing::cpa`: an Encoded CPA (and an EXTENDED_PAYLOAD after it).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::cpa(data));
