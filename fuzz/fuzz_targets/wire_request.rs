//! Fuzz the parsers a hostile peer can reach: the frame reader, the request
//! and reply decoders and the handoff header decoder. They must never
//! panic, and a request that decodes must re-encode and decode to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    while let Ok(Some(body)) = wire::frame::read_frame(&mut r, wire::MAX_FRAME_LEN) {
        let _ = wire::decode_request(&body);
    }
    if let Ok(req) = wire::decode_request(data) {
        if let Ok(again) = wire::encode_request(req.id(), req.op(), req.args()) {
            assert_eq!(wire::decode_request(&again).ok(), Some(req));
        }
    }
    let _ = wire::decode_reply(data);
    let _ = wire::handoff::decode_header(data);
});
