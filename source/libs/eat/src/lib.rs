//! eat: the device attestation token.
//!
//! A token is an RFC 9711 EAT claims set carried as an RFC 8392 CWT and
//! signed as a tagged RFC 9052 COSE_Sign1 (tag 18) with Ed25519:
//!
//! ```text
//! 18([ h'{1: -8, 4: kid}', {}, h'<claims>', h'<64-byte signature>' ])
//! ```
//!
//! The claims (labels in [`label`]) follow this project's profile
//! [`PROFILE`]; docs/identity/attestation.md describes every field.
//!
//! Invariants:
//! - The claims payload, the protected header and the whole token are
//!   RFC 8949 §4.2.1 deterministic CBOR; the verifier refuses anything else.
//! - Signing never sees a private key: the caller's signer closure (keymint)
//!   signs the Sig_structure.
//! - Verification uses keymint's strict Ed25519 path only (weak keys
//!   refused, `verify_strict`), checks the kid against the given key, and
//!   requires the nonce the verifier expects (compared in constant time).
//! - Every token says it is a software stub ([`label::STUB`]): it proves
//!   the plumbing, not hardware trust.

#![forbid(unsafe_code)]

mod claims;
mod error;
mod payload;
mod sign;
mod verify;

pub use claims::{Claims, CustomClaims, CustomValue, Nonce, SwVersion, Ueid};
pub use error::EatError;
pub use sign::sign_token;
pub use verify::{verify_token, verify_token_with, Alg, Assurance, VerifiedClaims, VerifyPolicy};

/// Claim and header labels used by the profile.
pub mod label {
    /// CWT `iat`: issued-at, seconds since the Unix epoch (RFC 8392).
    pub const IAT: i64 = 6;
    /// CWT `cnf`: the attested key, as `{1: COSE_Key}` (RFC 8747).
    pub const CNF: i64 = 8;
    /// EAT `eat_nonce` (RFC 9711 §4.1).
    pub const EAT_NONCE: i64 = 10;
    /// EAT `ueid`: the device id (RFC 9711 §4.2.1).
    pub const UEID: i64 = 256;
    /// EAT `eat_profile` (RFC 9711 §4.3.2).
    pub const EAT_PROFILE: i64 = 265;
    /// EAT `submods` (RFC 9711 §4.2.18).
    pub const SUBMODS: i64 = 266;
    /// EAT `swname` (RFC 9711 §4.2.6).
    pub const SWNAME: i64 = 270;
    /// EAT `swversion` (RFC 9711 §4.2.7).
    pub const SWVERSION: i64 = 271;
    /// Private claim: the token comes from a software stub, not hardware.
    pub const STUB: i64 = -65537;
    /// Custom claims use labels at or below this one.
    pub const CUSTOM_MAX: i64 = nexus_core::CUSTOM_CLAIM_LABEL_MAX;

    /// COSE header `alg`.
    pub const HDR_ALG: i64 = 1;
    /// COSE header `kid`.
    pub const HDR_KID: i64 = 4;
    /// `cnf` member holding a COSE_Key.
    pub const CNF_COSE_KEY: i64 = 1;
}

/// The profile URI every token carries in `eat_profile`.
pub const PROFILE: &str = "tag:nexus-os.org,2026:attest/v1";
/// The value of the [`label::STUB`] claim.
pub const STUB_VALUE: &str = "software-stub";
/// The name of the submodule that describes the calling app.
pub const APP_SUBMOD: &str = "app";
/// CoSWID version scheme "semver" (RFC 9393), used in `swversion`.
pub const VERSION_SCHEME_SEMVER: i64 = 16384;

/// COSE_Sign1 CBOR tag (RFC 9052).
pub const COSE_SIGN1_TAG: u64 = 18;
/// COSE algorithm EdDSA (RFC 9053), what this crate signs with.
pub const ALG_EDDSA: i64 = -8;
/// COSE algorithm Ed25519 (RFC 9864), accepted on verify as a synonym.
pub const ALG_ED25519: i64 = -19;

/// Shortest accepted nonce, in bytes (RFC 9711 §4.1).
pub const NONCE_MIN_LEN: usize = 8;
/// Longest accepted nonce, in bytes (RFC 9711 §4.1).
pub const NONCE_MAX_LEN: usize = 64;
/// Most custom claims in one token.
pub const MAX_CUSTOM_CLAIMS: usize = nexus_core::MAX_CUSTOM_CLAIMS;
/// Longest custom claim text or byte string, in bytes.
pub const MAX_CUSTOM_VALUE_LEN: usize = nexus_core::MAX_CUSTOM_VALUE_LEN;
/// Longest token accepted or produced, in bytes. The largest valid token
/// (every field at its maximum) is under 4.9 KiB; see the test
/// `largest_token_fits`.
pub const MAX_TOKEN_LEN: usize = 8192;
