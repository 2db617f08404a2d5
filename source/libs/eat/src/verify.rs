//! Token verification: strict parsing of the COSE_Sign1 envelope, the kid
//! check, strict Ed25519 verification, then the claims.
//!
//! Order matters: the claims payload is parsed only after the signature over
//! it has verified, and every step fails closed with a typed error. The
//! whole token, its protected header and its payload must be deterministic
//! CBOR (detcbor), so one token has one byte form and nothing rides along.
//! coset is not used here: its decoder accepts non-deterministic input and
//! (0.3) cannot represent the fully-specified Ed25519 algorithm id -19.

use crate::claims::{Claims, Nonce};
use crate::label::{HDR_ALG, HDR_KID};
use crate::payload::{self, as_i64};
use crate::{EatError, ALG_ED25519, ALG_EDDSA, COSE_SIGN1_TAG, MAX_TOKEN_LEN};
use detcbor::{check_deterministic_with, Limits, Value};
use ed25519_dalek::Signature;
use keymint::kid::{ed25519_kid, Kid};
use subtle::ConstantTimeEq;

/// Bounds for the whole token: tag > array > (empty) map is depth 3.
const TOKEN_LIMITS: Limits = Limits {
    max_input_len: MAX_TOKEN_LEN,
    max_depth: 3,
    max_items: 16,
};

/// Bounds for the protected header `{1: alg, 4: kid}` (5 items, 38 bytes);
/// anything else within them is refused by shape, with a clearer error.
const HEADER_LIMITS: Limits = Limits {
    max_input_len: 64,
    max_depth: 1,
    max_items: 16,
};

/// Bounds for the claims: claims map > cnf > COSE_Key is depth 3; the
/// largest valid claims set has about 70 items.
pub(crate) const PAYLOAD_LIMITS: Limits = Limits {
    max_input_len: MAX_TOKEN_LEN,
    max_depth: 3,
    max_items: 128,
};

/// The signature algorithm named in the protected header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// EdDSA (-8), what [`crate::sign_token`] writes.
    EdDsa,
    /// Ed25519 (-19, RFC 9864), accepted from other producers.
    Ed25519,
}

/// What backs the token. Only one kind exists today, and it is not hardware:
/// callers must not present a token as proof of hardware trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assurance {
    /// Signed by a software key on a device without attestation hardware.
    SoftwareStub,
}

/// A token that verified, and what it states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// The claims.
    pub claims: Claims,
    /// The kid of the device key that signed (from the header, checked).
    pub device_kid: Kid,
    /// The kid of the attested key in `cnf`.
    pub attested_kid: Kid,
    /// The algorithm named in the header.
    pub alg: Alg,
    /// Always [`Assurance::SoftwareStub`] under this profile.
    pub assurance: Assurance,
}

/// Time window a verifier accepts for `iat`. Freshness comes first from
/// the nonce; the window also bounds tokens from a device with a wrong
/// clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Oldest accepted `iat`, in seconds before `now`.
    pub max_age_secs: u64,
    /// Latest accepted `iat`, in seconds after `now` (clock skew).
    pub max_future_skew_secs: u64,
}

impl VerifyPolicy {
    /// Five minutes of age, one minute of skew.
    pub const DEFAULT: VerifyPolicy = VerifyPolicy {
        max_age_secs: 300,
        max_future_skew_secs: 60,
    };
}

impl Default for VerifyPolicy {
    fn default() -> Self {
        VerifyPolicy::DEFAULT
    }
}

/// The parts of a structurally valid token, before any crypto.
pub(crate) struct Envelope {
    alg: Alg,
    kid: [u8; 32],
    protected: Vec<u8>,
    payload: Vec<u8>,
    signature: Signature,
}

/// `{1: -8 | -19, 4: bstr(32)}` and nothing else.
fn parse_protected(bytes: &[u8]) -> Result<(Alg, [u8; 32]), EatError> {
    let Value::Map(entries) = check_deterministic_with(bytes, &HEADER_LIMITS)? else {
        return Err(EatError::ProtectedHeader);
    };
    let [(alg_label, alg), (kid_label, kid)]: [(Value, Value); 2] =
        entries.try_into().map_err(|_| EatError::ProtectedHeader)?;
    if as_i64(&alg_label) != Some(HDR_ALG) || as_i64(&kid_label) != Some(HDR_KID) {
        return Err(EatError::ProtectedHeader);
    }
    let alg = match as_i64(&alg) {
        Some(ALG_EDDSA) => Alg::EdDsa,
        Some(ALG_ED25519) => Alg::Ed25519,
        _ => return Err(EatError::UnsupportedAlg),
    };
    let Value::Bytes(kid) = kid else {
        return Err(EatError::ProtectedHeader);
    };
    let kid: [u8; 32] = kid.try_into().map_err(|_| EatError::ProtectedHeader)?;
    Ok((alg, kid))
}

/// `18([bstr protected, {}, bstr payload, bstr(64) signature])`, all
/// deterministic, nothing before or after.
pub(crate) fn parse_envelope(token: &[u8]) -> Result<Envelope, EatError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(EatError::TooLarge);
    }
    let Value::Tag(COSE_SIGN1_TAG, body) = check_deterministic_with(token, &TOKEN_LIMITS)? else {
        return Err(EatError::NotCoseSign1);
    };
    let Value::Array(parts) = *body else {
        return Err(EatError::Structure);
    };
    let parts: [Value; 4] = parts.try_into().map_err(|_| EatError::Structure)?;
    // A nil payload (detached content) is not part of the profile.
    let [Value::Bytes(protected), Value::Map(unprotected), Value::Bytes(payload), Value::Bytes(sig)] =
        parts
    else {
        return Err(EatError::Structure);
    };
    if !unprotected.is_empty() {
        return Err(EatError::UnprotectedHeader);
    }
    let (alg, kid) = parse_protected(&protected)?;
    let signature = keymint::ed25519::parse_signature(&sig).map_err(|_| EatError::Structure)?;
    Ok(Envelope {
        alg,
        kid,
        protected,
        payload,
        signature,
    })
}

/// RFC 9052 §4.4 Sig_structure for COSE_Sign1 with no external AAD:
/// `["Signature1", protected, h'', payload]`, deterministically encoded.
/// Built from the protected bytes exactly as received.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Result<Vec<u8>, EatError> {
    let s = Value::Array(vec![
        Value::Text("Signature1".to_owned()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(payload.to_vec()),
    ]);
    Ok(detcbor::encode(&s)?)
}

/// Verify `token` against the device's public key (raw 32 bytes) and the
/// nonce the verifier issued, at time `now` (seconds since the Unix epoch),
/// under [`VerifyPolicy::DEFAULT`].
pub fn verify_token(
    token: &[u8],
    device_public_key: &[u8],
    expected_nonce: &[u8],
    now: u64,
) -> Result<VerifiedClaims, EatError> {
    verify_token_with(
        token,
        device_public_key,
        expected_nonce,
        now,
        &VerifyPolicy::DEFAULT,
    )
}

/// [`verify_token`] with an explicit time window.
pub fn verify_token_with(
    token: &[u8],
    device_public_key: &[u8],
    expected_nonce: &[u8],
    now: u64,
    policy: &VerifyPolicy,
) -> Result<VerifiedClaims, EatError> {
    let expected = Nonce::new(expected_nonce)?;
    let device_key =
        keymint::ed25519::parse_public_key(device_public_key).map_err(EatError::DeviceKey)?;
    let env = parse_envelope(token)?;
    let device_kid = ed25519_kid(&device_key);
    // The kid is public; a plain comparison leaks nothing.
    if env.kid != *device_kid.as_bytes() {
        return Err(EatError::KidMismatch);
    }
    let to_be_signed = sig_structure(&env.protected, &env.payload)?;
    keymint::ed25519::verify(&device_key, &to_be_signed, &env.signature)
        .map_err(|_| EatError::BadSignature)?;

    let claims = payload::from_value(check_deterministic_with(&env.payload, &PAYLOAD_LIMITS)?)?;
    if !bool::from(claims.nonce.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(EatError::NonceMismatch);
    }
    if claims.iat > now.saturating_add(policy.max_future_skew_secs) {
        return Err(EatError::NotYetValid);
    }
    if now.saturating_sub(claims.iat) > policy.max_age_secs {
        return Err(EatError::Expired);
    }
    let attested_kid = ed25519_kid(&claims.attested_key);
    Ok(VerifiedClaims {
        claims,
        device_kid,
        attested_kid,
        alg: env.alg,
        assurance: Assurance::SoftwareStub,
    })
}
