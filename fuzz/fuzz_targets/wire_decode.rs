#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::wire_decode(data));
