//! `key.import` and the prehashed forms of `key.sign` / `key.verify`.
//!
//! Retry class: `key.import` is sent once (a second import of the same
//! name is `EALREADY`, which would hide whether the first one landed);
//! prehashed sign and verify change no state and are retried after a lost
//! connection, like their plain forms.
//!
//! Invariants: the private key is copied once, into the request's
//! zeroizing `Secret`, and the encoded request is wiped after the call;
//! a prehashed message is its 64-byte BLAKE2b-512 digest, computed by the
//! caller (this crate has no crypto dependency), so the message itself
//! never crosses the socket.

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::keys::version_arg;
use crate::service::Retry;
use crate::types::{CreatedKey, KeyAlg, Signed, Verified};
use nexus_core::{AppId, Label};
use nexus_proto::{
    self as proto, Bytes, KeyImportArgs, KeySignArgs, KeyVerifyArgs, Prehash, Secret,
};

/// The length of a BLAKE2b-512 digest, the one prehash.
pub const PREHASH_LEN: usize = 64;

impl Keychain {
    /// `key.import`: a new key `(purpose, name)` in the caller's app from
    /// an existing private key (`alg` Ed25519, `private` its 32-byte
    /// seed). The keystore wraps it at once; no op ever returns it.
    pub fn import_key(
        &self,
        purpose: &Label,
        name: &Label,
        alg: KeyAlg,
        private: &[u8],
    ) -> Result<CreatedKey, KeychainError> {
        let args = KeyImportArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            alg: alg.into(),
            private: Secret::copy_from(private),
        };
        let r = self
            .keystored
            .call_op::<proto::KeyImport>(&args, Retry::Once)?;
        Ok(r.into())
    }

    /// `key.sign` with `prehash: "BLAKE2b-512"`: sign the 64-byte
    /// BLAKE2b-512 digest of a message (minisign's `ED` signature).
    pub fn sign_prehashed(
        &self,
        purpose: &Label,
        name: &Label,
        digest: &[u8; PREHASH_LEN],
    ) -> Result<Signed, KeychainError> {
        self.sign_with(KeySignArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            msg: Bytes::from(&digest[..]),
            prehash: Some(Prehash::Blake2b512),
            app: None,
            show: None,
        })
    }

    /// `key.verify` with `prehash: "BLAKE2b-512"`: check `sig` over the
    /// 64-byte digest of a message. A bad signature is
    /// `Remote { code: EPERM }`.
    pub fn verify_prehashed(
        &self,
        purpose: &Label,
        name: &Label,
        digest: &[u8; PREHASH_LEN],
        sig: &[u8],
        version: Option<u64>,
        app: Option<&AppId>,
    ) -> Result<Verified, KeychainError> {
        self.verify_with(KeyVerifyArgs {
            purpose: purpose.clone(),
            name: name.clone(),
            msg: Bytes::from(&digest[..]),
            sig: Bytes::from(sig),
            version: version.map(version_arg).transpose()?,
            app: app.cloned(),
            prehash: Some(Prehash::Blake2b512),
        })
    }
}
