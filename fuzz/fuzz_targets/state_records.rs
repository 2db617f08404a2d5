//! Fuzz the stored-format parsers: the statefs record envelope and the
//! policy file.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = statefs::StatePath::parse("state:/fuzz") {
        let _ = statefs::record::decode(&path, data, b"FUZZ", &[1, 2]);
    }
    let _ = policy::Policy::from_bytes(data);
});
