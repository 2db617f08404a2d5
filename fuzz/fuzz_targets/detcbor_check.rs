//! Fuzz the strict deterministic-CBOR checker: it must never panic, and
//! whatever it accepts must re-encode to exactly the input bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = detcbor::check_deterministic(data) {
        assert_eq!(detcbor::encode(&v).ok().as_deref(), Some(data));
    }
});
