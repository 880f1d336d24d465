//! One set of sample messages for every test that needs them: [`wire`] (PNRP datagrams, CPAs,
//! AUTHORITY buffers) and [`ipc`] (socket-protocol requests and responses). The round-trip tests,
//! the Wireshark referee and the fuzzers' seed corpus all use these.

pub mod corpus;
pub mod ipc;
pub mod wire;
