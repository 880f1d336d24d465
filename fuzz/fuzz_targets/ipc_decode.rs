#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrpd::fuzzing::ipc_decode(data));
