//! attestd's error type, with stable codes.
//!
//! Codes pass through from the layer that decided: the keystore (or
//! keystored across the wire), the authorizer, the token format. attestd's
//! own refusals are `EPERM` (another app's key, a non-system caller
//! rotating the device key), `EINVAL` (bad request), `EIO` (an upstream
//! answer attestd will not use, or no usable device key) and `EBUSY` (the
//! device key changed twice while one token was being signed). Messages carry names, kids and codes,
//! never key material.

use eat::EatError;
use keystore::KeystoreError;
use nexus_core::{AuthzError, Coded, ErrorCode};
use nexus_daemon::UpstreamError;

/// Why attestd refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The request named a key outside the caller's own namespace.
    #[error("{subject} may not attest keys of app {app}")]
    Namespace {
        /// The caller.
        subject: String,
        /// The app namespace the request named.
        app: String,
    },
    /// Only system subjects may rotate the device attestation key.
    #[error("{subject} is not a system subject; only system subjects may rotate the device key")]
    NotSystem {
        /// The caller.
        subject: String,
    },
    /// The authorizer refused (or could not decide: `EIO`).
    #[error(transparent)]
    Authz(#[from] AuthzError),
    /// The nonce, the custom claims or the token itself failed the
    /// profile's rules; signer failures carry the signer's own code.
    #[error(transparent)]
    Token(#[from] EatError),
    /// The in-process keystore refused or failed.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// keystored answered with an error, or could not be reached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// keystored answered something attestd will not use (malformed, a weak
    /// or mismatching key, a signature that does not verify).
    #[error("unusable answer from the keystore: {0}")]
    BadUpstream(&'static str),
    /// The attested key cannot be put in a token (not an Ed25519 key).
    #[error("key {key} is not an Ed25519 signing key and cannot be attested")]
    NotSigningKey {
        /// `app/purpose/name`.
        key: String,
    },
    /// The key, or its primary version, is revoked or retired.
    #[error("key {key} is {state}")]
    Revoked {
        /// `app/purpose/name`, and `version N` when only that version is.
        key: String,
        /// `revoked` or `retired`.
        state: &'static str,
    },
    /// The attested key kept changing (rotations) while a token was being
    /// signed.
    #[error("key {key} changed during attestation; try again")]
    AttestedKeyChanged {
        /// `app/purpose/name`.
        key: String,
    },
    /// Reading the attested key failed while a token was being signed:
    /// the attested key's error, kept apart from the device key's so that
    /// it never sets off the device key's healing. `attest` returns the
    /// inner error.
    #[error(transparent)]
    AttestedKey(Box<AttestError>),
    /// The device key kept changing while a token was being signed.
    #[error("the device attestation key changed during signing; try again")]
    DeviceKeyChanged,
    /// No device key is usable and none could be made (the reason names
    /// the damaged record or the refusal).
    #[error("{reason}")]
    DeviceKey {
        /// Why.
        reason: String,
    },
}

impl Coded for AttestError {
    fn code(&self) -> ErrorCode {
        match self {
            AttestError::Namespace { .. } | AttestError::NotSystem { .. } => ErrorCode::Eperm,
            AttestError::Authz(e) => e.code(),
            AttestError::Token(e) => e.code(),
            AttestError::Keystore(e) => e.code(),
            AttestError::Upstream(e) => e.code(),
            AttestError::AttestedKey(e) => e.code(),
            AttestError::BadUpstream(_) => ErrorCode::Eio,
            AttestError::NotSigningKey { .. } => ErrorCode::Einval,
            AttestError::Revoked { .. } => ErrorCode::Ekeyrevoked,
            AttestError::DeviceKeyChanged | AttestError::AttestedKeyChanged { .. } => {
                ErrorCode::Ebusy
            }
            AttestError::DeviceKey { .. } => ErrorCode::Eio,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (
                AttestError::Namespace {
                    subject: "app:a".into(),
                    app: "b".into(),
                },
                ErrorCode::Eperm,
            ),
            (
                AttestError::NotSystem {
                    subject: "app:a".into(),
                },
                ErrorCode::Eperm,
            ),
            (AttestError::Token(EatError::NonceLength), ErrorCode::Einval),
            (
                AttestError::Token(EatError::Signer(ErrorCode::Ekeyrevoked)),
                ErrorCode::Ekeyrevoked,
            ),
            (AttestError::BadUpstream("x"), ErrorCode::Eio),
            (
                AttestError::Upstream(UpstreamError::Remote {
                    service: "keystored".into(),
                    code: ErrorCode::Enoent,
                    msg: "no key".into(),
                }),
                ErrorCode::Enoent,
            ),
            (
                AttestError::Upstream(UpstreamError::Unavailable("keystored".into())),
                ErrorCode::Eagain,
            ),
            (
                AttestError::Authz(AuthzError::Unavailable("audit")),
                ErrorCode::Eio,
            ),
            (AttestError::DeviceKeyChanged, ErrorCode::Ebusy),
            (
                AttestError::AttestedKeyChanged {
                    key: "a/p/n".into(),
                },
                ErrorCode::Ebusy,
            ),
            (
                AttestError::AttestedKey(Box::new(AttestError::Revoked {
                    key: "a/p/n".into(),
                    state: "revoked",
                })),
                ErrorCode::Ekeyrevoked,
            ),
        ];
        for (e, c) in cases {
            assert_eq!(e.code(), c, "{e}");
        }
    }
}
