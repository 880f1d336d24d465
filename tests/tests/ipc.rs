//! The socket protocol's frames (`pnrp_shared::ipc`) with every sample message: each round-trips,
//! and no truncation or byte flip of a frame panics the decoder.

use pnrp_shared::ipc::{decode_frame, encode_frame, Request, Response};
use pnrp_tests::samples::ipc::{requests, responses};

#[test]
fn round_trips_every_message() {
    for request in requests() {
        let frame = encode_frame(&request).unwrap();
        assert_eq!(decode_frame::<Request>(&frame).unwrap(), request);
    }
    for response in responses() {
        let frame = encode_frame(&response).unwrap();
        assert_eq!(decode_frame::<Response>(&frame).unwrap(), response);
    }
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_or_a_value() {
    let register = requests()
        .into_iter()
        .find(|request| matches!(request, Request::Register(_)))
        .expect("a sample registration");
    let frame = encode_frame(&register).unwrap();
    for cut in 0..frame.len() {
        assert!(decode_frame::<Request>(&frame[..cut]).is_err());
    }
    for index in 0..frame.len() {
        for value in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut mutated = frame.clone();
            mutated[index] = value;
            let _ = decode_frame::<Request>(&mutated);
        }
    }
}
