//! Typed errors of token signing and verification, with stable codes:
//! `EPERM` when a well-formed token is refused (bad signature, wrong key,
//! wrong nonce, outside its validity window), `EINVAL` when input is
//! malformed or outside the profile. Nothing secret is ever carried.

use detcbor::DetCborError;
use keymint::ed25519::PublicKeyError;
use nexus_core::{Coded, ErrorCode};

/// Why a token could not be made or was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EatError {
    /// Longer than [`crate::MAX_TOKEN_LEN`].
    #[error("token too large")]
    TooLarge,
    /// Not deterministic CBOR (token, protected header or payload).
    #[error("not deterministic CBOR: {0}")]
    Cbor(#[from] DetCborError),
    /// Not a CBOR item tagged 18.
    #[error("not a tagged COSE_Sign1 (tag 18)")]
    NotCoseSign1,
    /// Tagged 18 but not `[bstr, map, bstr, bstr(64)]`.
    #[error("malformed COSE_Sign1 structure")]
    Structure,
    /// The protected header is not exactly `{1: alg, 4: bstr(32)}`.
    #[error("malformed protected header")]
    ProtectedHeader,
    /// The unprotected header is not empty.
    #[error("unprotected header must be empty")]
    UnprotectedHeader,
    /// An algorithm other than EdDSA (-8) or Ed25519 (-19).
    #[error("unsupported algorithm")]
    UnsupportedAlg,
    /// The given device public key is malformed or weak.
    #[error("device public key refused: {0}")]
    DeviceKey(PublicKeyError),
    /// The attested key in `cnf` is malformed or weak.
    #[error("attested key refused: {0}")]
    AttestedKey(PublicKeyError),
    /// The header kid is not the thumbprint of the given device key.
    #[error("token kid does not match the device key")]
    KidMismatch,
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The payload is not a map whose labels are all integers.
    #[error("claims set is not a map with integer labels")]
    ClaimsSet,
    /// A required claim is absent.
    #[error("claim {0} missing")]
    MissingClaim(i64),
    /// A claim has the wrong type or value for the profile.
    #[error("claim {0} malformed")]
    BadClaim(i64),
    /// A claim label the profile does not define (or a non-integer label).
    #[error("claim {0} not in the profile")]
    UnknownClaim(i64),
    /// A nonce outside 8..=64 bytes.
    #[error("nonce must be 8 to 64 bytes")]
    NonceLength,
    /// The token's nonce is not the one the verifier expects.
    #[error("nonce mismatch")]
    NonceMismatch,
    /// `iat` is later than now plus the allowed clock skew.
    #[error("token issued in the future")]
    NotYetValid,
    /// `iat` is older than the allowed age.
    #[error("token too old")]
    Expired,
    /// A custom claim outside the documented bounds.
    #[error("custom claim out of bounds")]
    CustomClaim,
    /// A text claim outside its charset or length.
    #[error("claim value out of range")]
    ClaimValue,
    /// The signer refused; carries the signer's own code (e.g. `ELOCKED`).
    #[error("signer failed: {0}")]
    Signer(ErrorCode),
    /// The COSE encoder failed (never expected for valid claims).
    #[error("token encoding failed")]
    Encoding,
}

impl From<nexus_core::ClaimError> for EatError {
    fn from(_: nexus_core::ClaimError) -> EatError {
        EatError::CustomClaim
    }
}

impl Coded for EatError {
    fn code(&self) -> ErrorCode {
        match self {
            EatError::KidMismatch
            | EatError::BadSignature
            | EatError::NonceMismatch
            | EatError::NotYetValid
            | EatError::Expired => ErrorCode::Eperm,
            EatError::Signer(code) => *code,
            EatError::TooLarge
            | EatError::Cbor(_)
            | EatError::NotCoseSign1
            | EatError::Structure
            | EatError::ProtectedHeader
            | EatError::UnprotectedHeader
            | EatError::UnsupportedAlg
            | EatError::DeviceKey(_)
            | EatError::AttestedKey(_)
            | EatError::ClaimsSet
            | EatError::MissingClaim(_)
            | EatError::BadClaim(_)
            | EatError::UnknownClaim(_)
            | EatError::NonceLength
            | EatError::CustomClaim
            | EatError::ClaimValue
            | EatError::Encoding => ErrorCode::Einval,
        }
    }
}
