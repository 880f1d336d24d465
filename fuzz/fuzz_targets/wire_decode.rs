//! Runs `pnrp_proto::fuzzing::wire_decode`: a UDP payload as a `Packet` and an AUTHORITY_BUFFER.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::wire_decode(data));
