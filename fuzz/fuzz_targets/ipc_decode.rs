//! Runs `pnrp_proto::fuzzing::ipc_decode`: socket-protocol frames as requests and responses.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrp_proto::fuzzing::ipc_decode(data));
