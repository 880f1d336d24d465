#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::cpa(data));
