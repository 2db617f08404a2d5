//! Fuzz nexus-init's manifest parser (the file that says what runs and who
//! may call whom): arbitrary bytes must be refused or accepted without
//! panicking, within its caps.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nexus_init::Manifest::parse(text);
    }
});
