//! Fuzz every trust-store parser a file on disk or a publisher can feed:
//! root files, manifests, minisign public keys, secret keys and signatures.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = trust::TrustRoot::parse(data);
    let _ = trust::Manifest::parse(data);
    let _ = trust::minisign::MinisignPublicKey::parse(data);
    let _ = trust::minisign::MinisignSecretKey::parse(data);
    let _ = trust::minisign::MinisignSignature::parse(data);
});
