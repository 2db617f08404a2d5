//! Fuzz the stored-format parsers: the statefs record envelope (both
//! layouts, checksummed and keyed), audit log lines, and the policy file.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(path) = statefs::StatePath::parse("state:/fuzz") {
        let _ = statefs::record::decode(&path, data, b"FUZZ", &[1, 2]);
        if let Some(key) = statefs::StateKey::from_slice(&[7; 32]) {
            let check = statefs::record::TagCheck::Key(&key);
            let _ = statefs::record::decode_with(&path, data, b"FUZZ", &[1, 2], check);
        }
        let _ = statefs::record::decode_with(
            &path,
            data,
            b"FUZZ",
            &[1, 2],
            statefs::record::TagCheck::Trusted,
        );
    }
    let _ = auditlog::line::parse(data);
    let _ = auditlog::line::chain_fields(data);
    let _ = policy::Policy::from_bytes(data);
});
