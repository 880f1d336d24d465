//! Runs `pnrp_proto::fuzzing::reassembly`: AUTHORITY fragments into a bounded `Reassembly`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::reassembly(data));
