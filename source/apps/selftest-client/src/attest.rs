//! The attest step: a token from attestd for the selftest's own key,
//! verified here with `eat::verify_token` against the device key attestd
//! publishes, for a nonce only this run knows.
//!
//! Invariants: the marker means the token verified (strict Ed25519, kid,
//! nonce, freshness) and states what it must: the attested key is the
//! sign key's primary version, the app is the caller's own key namespace
//! (`system.selftest`), the
//! device kid is the published one. A wrong nonce must be refused.

use crate::keys::{label, SignKey, PURPOSE};
use crate::report::{at, check, StepError};
use nexus_core::Subject;
use nexus_keychain::{CustomClaims, Keychain, Kid};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> Result<u64, StepError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| StepError::Check("the clock is before 1970".into()))
}

/// Request a token for the sign key (now at its rotated primary
/// `primary_kid`) and verify it.
pub fn attest(
    kc: &Keychain,
    key: &SignKey,
    primary_kid: &Kid,
    me: &Subject,
) -> Result<(), StepError> {
    let nonce = crate::random::<32>()?;
    let device = kc.device_key().map_err(at("attest.device_key"))?;
    let token = kc
        .attest(
            &label(PURPOSE)?,
            &key.name,
            nonce.as_slice(),
            &CustomClaims::new(),
        )
        .map_err(at("attest"))?;
    check(token.device_kid == device.kid, || {
        "attest named another device key than attest.device_key".into()
    })?;
    let verified = eat::verify_token(&token.token, &device.public_key, nonce.as_slice(), now()?)?;
    check(verified.device_kid == device.kid, || {
        "token signed by another device key".into()
    })?;
    check(verified.attested_kid == *primary_kid, || {
        format!(
            "token attests {} instead of the primary {primary_kid}",
            verified.attested_kid
        )
    })?;
    let app = me.key_namespace();
    check(verified.claims.app_id == app, || {
        format!(
            "token names app {} instead of {app}",
            verified.claims.app_id
        )
    })?;
    let mut other = nonce;
    other[0] ^= 0xff;
    check(
        eat::verify_token(&token.token, &device.public_key, other.as_slice(), now()?).is_err(),
        || "the token verified for another nonce".into(),
    )?;
    eprintln!(
        "selftest: attest: token for {app} key={} verified (device kid={}, {:?})",
        verified.attested_kid, verified.device_kid, verified.assurance
    );
    Ok(())
}
