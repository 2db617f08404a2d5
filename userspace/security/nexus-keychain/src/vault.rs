//! The per-user vault (keystored `vault.*`), scoped to a session and the
//! caller's app.
//!
//! Retry class: `vault.get` and `vault.list` are retried after a lost
//! connection ([`Retry::Idempotent`]); `vault.put` and `vault.del` are sent once (a repeated
//! delete would turn a success into `ENOENT`, and a put is reported as it
//! happened). Values going out are zeroized after the call; values coming
//! back are [`SecretBytes`].

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::secret::SecretBytes;
use crate::service::Retry;
use nexus_core::SessionId;
use nexus_proto::{self as proto, Secret, VaultListArgs, VaultNameArgs, VaultPutArgs};

fn name_args(sid: &SessionId, name: &str) -> VaultNameArgs {
    VaultNameArgs {
        sid: *sid,
        name: name.to_owned(),
    }
}

impl Keychain {
    /// `vault.put`: store `value` under `name`. Returns quota warnings.
    pub fn put(
        &self,
        sid: &SessionId,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<String>, KeychainError> {
        let args = VaultPutArgs {
            sid: *sid,
            name: name.to_owned(),
            value: Secret::copy_from(value),
        };
        let r = self
            .keystored
            .call_op::<proto::VaultPut>(&args, Retry::Once)?;
        Ok(r.warnings)
    }

    /// `vault.get`: the value under `name`.
    pub fn get(&self, sid: &SessionId, name: &str) -> Result<SecretBytes, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::VaultGet>(&name_args(sid, name), Retry::Idempotent)?;
        Ok(SecretBytes::from(r.value))
    }

    /// `vault.del`: remove `name`.
    pub fn del(&self, sid: &SessionId, name: &str) -> Result<(), KeychainError> {
        self.keystored
            .call_op::<proto::VaultDel>(&name_args(sid, name), Retry::Once)?;
        Ok(())
    }

    /// `vault.list`: the names stored for this session's user and the
    /// caller's app.
    pub fn list(&self, sid: &SessionId) -> Result<Vec<String>, KeychainError> {
        let r = self
            .keystored
            .call_op::<proto::VaultList>(&VaultListArgs { sid: *sid }, Retry::Idempotent)?;
        Ok(r.names)
    }
}
