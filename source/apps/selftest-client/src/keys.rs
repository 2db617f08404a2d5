//! The key steps: sign, rotate, seal, each through keystored as the
//! selftest's own subject.
//!
//! Invariants: every claim a marker makes is checked twice where it can
//! be: by keystored (`key.verify`, `key.unseal`) and locally (Ed25519
//! `verify_strict` against the public key keystored returned, constant-time
//! comparison of the unsealed plaintext). Keys are named per run, so a
//! durable state from earlier boots never makes a step pass or fail, and
//! each run deletes the keys it made (`key.delete`: the seal key in the
//! seal step, the sign key once the last step that uses it is done), so
//! runs on a durable state never fill the selftest's key quota.

use crate::report::{any_refusal, at, check, refused, StepError};
use crate::Run;
use nexus_core::{ErrorCode, Label};
use nexus_keychain::{KeyAlg, Keychain, Kid};
use subtle::ConstantTimeEq;

/// The purpose label of every selftest key.
pub const PURPOSE: &str = "selftest";

/// What the sign step made, for rotate and attest.
#[derive(Debug)]
pub struct SignKey {
    /// The key's name.
    pub name: Label,
    /// The message signed with version 1.
    pub msg: Vec<u8>,
    /// Version 1's signature over `msg`.
    pub sig_v1: Vec<u8>,
    /// Version 1's kid.
    pub kid_v1: Kid,
}

pub(crate) fn label(s: &str) -> Result<Label, StepError> {
    Label::new(s).map_err(|_| StepError::Check(format!("{s:?} is not a label")))
}

/// Verify `sig` over `msg` locally with the raw public key `public`.
fn verify_locally(public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), StepError> {
    let key = keymint::ed25519::parse_public_key(public)
        .map_err(|_| StepError::Check("keystored returned an unusable public key".into()))?;
    let sig = keymint::ed25519::parse_signature(sig)
        .map_err(|_| StepError::Check("keystored returned a malformed signature".into()))?;
    keymint::ed25519::verify(&key, msg, &sig)
        .map_err(|_| StepError::Check("signature does not verify locally".into()))
}

/// Create an Ed25519 key, sign, verify (keystored and locally), and see a
/// tampered message refused.
pub fn sign(kc: &Keychain, run: &Run) -> Result<SignKey, StepError> {
    let purpose = label(PURPOSE)?;
    let name = label(&format!("sign-{}", run.id))?;
    let created = kc
        .create_key(&purpose, &name, KeyAlg::Ed25519)
        .map_err(at("key.create"))?;
    check(created.version == 1, || {
        format!("key.create made version {}", created.version)
    })?;
    let (Some(kid), Some(public)) = (created.kid, created.public_key.as_deref()) else {
        return Err(StepError::Check(
            "key.create returned no kid or public key".into(),
        ));
    };
    check(keymint::kid::Kid::from_hex(&kid.to_hex()).is_ok(), || {
        "kid is not 64 hex digits".into()
    })?;
    let msg = format!("nexus selftest sign {}", run.id).into_bytes();
    let signed = kc.sign(&purpose, &name, &msg).map_err(at("key.sign"))?;
    check(signed.version == 1 && signed.kid == kid, || {
        "key.sign used another version than the new key".into()
    })?;
    verify_locally(public, &msg, &signed.sig)?;
    let key = keymint::ed25519::parse_public_key(public)
        .map_err(|_| StepError::Check("unusable public key".into()))?;
    check(keymint::kid::ed25519_kid(&key) == kid, || {
        "kid is not the RFC 9679 thumbprint of the public key".into()
    })?;
    let v = kc
        .verify(&purpose, &name, &msg, &signed.sig, None, None)
        .map_err(at("key.verify"))?;
    check(v.version == 1 && v.kid == kid, || {
        "key.verify named another version".into()
    })?;
    let mut tampered = msg.clone();
    tampered.push(b'!');
    refused(
        "key.verify (tampered message)",
        ErrorCode::Eperm,
        kc.verify(&purpose, &name, &tampered, &signed.sig, None, None),
    )?;
    eprintln!("selftest: sign: key {PURPOSE}/{name} v1 kid={kid}");
    Ok(SignKey {
        name,
        msg,
        sig_v1: signed.sig,
        kid_v1: kid,
    })
}

/// Rotate the sign key: a new version with a new kid becomes primary, and
/// the version-1 signature still verifies (as version 1).
pub fn rotate(kc: &Keychain, key: &SignKey) -> Result<Kid, StepError> {
    let purpose = label(PURPOSE)?;
    let rotated = kc.rotate(&purpose, &key.name).map_err(at("key.rotate"))?;
    check(rotated.version == 2, || {
        format!("key.rotate made version {}", rotated.version)
    })?;
    let (Some(kid_v2), Some(public_v2)) = (rotated.kid, rotated.public_key.as_deref()) else {
        return Err(StepError::Check(
            "key.rotate returned no kid or public key".into(),
        ));
    };
    check(kid_v2 != key.kid_v1, || {
        "the new version kept the old kid".into()
    })?;
    let old = kc
        .verify(&purpose, &key.name, &key.msg, &key.sig_v1, None, None)
        .map_err(at("key.verify (old signature)"))?;
    check(old.version == 1 && old.kid == key.kid_v1, || {
        format!("old signature verified as version {}", old.version)
    })?;
    let signed = kc
        .sign(&purpose, &key.name, &key.msg)
        .map_err(at("key.sign (after rotate)"))?;
    check(signed.version == 2 && signed.kid == kid_v2, || {
        "key.sign after rotate did not use the new primary".into()
    })?;
    verify_locally(public_v2, &key.msg, &signed.sig)?;
    check(
        verify_locally(public_v2, &key.msg, &key.sig_v1).is_err(),
        || "the old signature verifies under the new key".into(),
    )?;
    let info = kc
        .show_key(&purpose, &key.name, None)
        .map_err(at("key.show"))?;
    check(info.primary == 2 && info.versions.len() == 2, || {
        format!(
            "key.show: primary {}, {} versions",
            info.primary,
            info.versions.len()
        )
    })?;
    eprintln!(
        "selftest: rotate: {PURPOSE}/{} v2 kid={kid_v2} (v1 kid={})",
        key.name, key.kid_v1
    );
    Ok(kid_v2)
}

/// Create a sealing key, seal and unseal; a tampered blob and a wrong AAD
/// are refused.
pub fn seal(kc: &Keychain, run: &Run) -> Result<(), StepError> {
    let purpose = label(PURPOSE)?;
    let name = label(&format!("seal-{}", run.id))?;
    let created = kc
        .create_key(&purpose, &name, KeyAlg::XChaCha20Poly1305)
        .map_err(at("key.create (seal)"))?;
    check(
        created.kid.is_none() && created.public_key.is_none(),
        || "a sealing key came back with a public key".into(),
    )?;
    let pt = crate::random::<48>()?;
    let aad = format!("nexus selftest seal {}", run.id).into_bytes();
    let sealed = kc
        .seal(&purpose, &name, pt.as_slice(), Some(&aad))
        .map_err(at("key.seal"))?;
    check(
        sealed.sealed.len() > pt.len() && !contains(&sealed.sealed, pt.as_slice()),
        || "the sealed blob is not a ciphertext of the plaintext".into(),
    )?;
    let opened = kc
        .unseal(&purpose, &name, &sealed.sealed, Some(&aad))
        .map_err(at("key.unseal"))?;
    check(
        opened.version == sealed.version
            && bool::from(opened.plaintext.expose().ct_eq(pt.as_slice())),
        || "key.unseal did not return the sealed plaintext".into(),
    )?;
    let mut tampered = sealed.sealed.clone();
    if let Some(b) = tampered.last_mut() {
        *b ^= 0x01;
    }
    let code = any_refusal(
        "key.unseal (tampered)",
        kc.unseal(&purpose, &name, &tampered, Some(&aad)),
    )?;
    let code_aad = any_refusal(
        "key.unseal (wrong aad)",
        kc.unseal(&purpose, &name, &sealed.sealed, Some(b"other")),
    )?;
    eprintln!("selftest: seal: {PURPOSE}/{name}: tampered blob {code}, wrong aad {code_aad}");
    delete(kc, &name)
}

/// Delete this run's key `name`: afterwards it is gone (`ENOENT`) and
/// nothing it sealed opens.
pub fn delete(kc: &Keychain, name: &Label) -> Result<(), StepError> {
    let purpose = label(PURPOSE)?;
    kc.delete_key(&purpose, name).map_err(at("key.delete"))?;
    refused(
        "key.show (deleted key)",
        ErrorCode::Enoent,
        kc.show_key(&purpose, name, None),
    )?;
    eprintln!("selftest: deleted {PURPOSE}/{name}");
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_finds_a_window() {
        assert!(contains(b"abcdef", b"cde"));
        assert!(!contains(b"abcdef", b"ce"));
        assert!(!contains(b"ab", b""));
    }

    #[test]
    fn test_reject_bad_local_signature() {
        let e = verify_locally(&[0u8; 32], b"m", &[0u8; 64]).unwrap_err();
        assert!(e.to_string().contains("public key"), "{e}");
    }
}
