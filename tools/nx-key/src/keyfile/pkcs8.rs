//! PKCS#8 PEM private keys (RFC 5958, Ed25519 per RFC 8410), through
//! RustCrypto's `pkcs8` (re-exported by `ed25519-dalek`). Version 1
//! (seed only) and version 2 (seed and public key, which must agree) are
//! read; the algorithm identifier is read first, so another algorithm is
//! named rather than reported as a parse failure.

use super::{KeyFileFormat, ParsedKey};
use crate::error::NxError;
use ed25519_dalek::pkcs8::{KeypairBytes, ObjectIdentifier, PrivateKeyInfo, SecretDocument};

/// The algorithms one meets in PKCS#8 files, by OID, for the refusal.
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "an RSA key".into(),
        "1.2.840.10045.2.1" => "an EC (ECDSA) key".into(),
        "1.3.101.110" => "an X25519 key".into(),
        "1.3.101.111" => "an X448 key".into(),
        "1.3.101.113" => "an Ed448 key".into(),
        other => format!("a key of algorithm {other}"),
    }
}

pub(super) fn parse(text: &str, what: &str) -> Result<ParsedKey, NxError> {
    let malformed =
        |e: &dyn std::fmt::Display| NxError::usage(format!("{what}: malformed PKCS#8 key: {e}"));
    let (label, doc) = SecretDocument::from_pem(text).map_err(|e| malformed(&e))?;
    if label != "PRIVATE KEY" {
        return Err(malformed(&format!("unexpected PEM label {label}")));
    }
    let info = PrivateKeyInfo::try_from(doc.as_bytes()).map_err(|e| malformed(&e))?;
    if info.algorithm.oid != ed25519_dalek::pkcs8::ALGORITHM_OID {
        return Err(NxError::usage(format!(
            "{what} is {}: only Ed25519 keys can be imported",
            algorithm_name(&info.algorithm.oid)
        )));
    }
    let pair = KeypairBytes::try_from(info).map_err(|e| malformed(&e))?;
    let public = pair.public_key.as_ref().map(|p| p.0);
    ParsedKey::new(
        &pair.secret_key,
        public.as_ref().map(|p| &p[..]),
        KeyFileFormat::Pkcs8,
        what,
    )
}
