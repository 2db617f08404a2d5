//! Fuzz the private key file reader of `nx key import`: OpenSSH, PKCS#8
//! PEM and minisign secret keys, well formed or not. The passphrase is
//! refused, so an encrypted file stops before its key derivation (whose
//! cost is bounded separately and would only measure the KDF).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut no_passphrase = || Err(nx_key::error::NxError::usage("no passphrase"));
    let _ = nx_key::keyfile::parse(data, "fuzz", &mut no_passphrase);
});
