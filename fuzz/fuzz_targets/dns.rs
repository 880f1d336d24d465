//! Runs `pnrpd::dns::fuzzing::front_end`: a DNS query through the front end's parser and answers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pnrpd::dns::fuzzing::front_end(data));
