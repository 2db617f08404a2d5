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
use crate::secret::{scrub, SecretBytes};
use crate::service::Retry;
use nexus_core::SessionId;
use wire::{Args, Value};

fn vault_args(sid: &SessionId) -> Args {
    Args::new().with("sid", sid.to_string())
}

impl Keychain {
    /// `vault.put`: store `value` under `name`. Returns quota warnings.
    pub fn put(
        &self,
        sid: &SessionId,
        name: &str,
        value: &[u8],
    ) -> Result<Vec<String>, KeychainError> {
        let args = vault_args(sid)
            .with("name", Value::Text(name.to_owned()))
            .with("value", Value::Bytes(value.to_vec()));
        let result = self.keystored.call_map("vault.put", &args, Retry::Once);
        scrub(args);
        let r = result?;
        match r.get("warnings") {
            Some(_) => r.text_list("warnings"),
            None => Ok(Vec::new()),
        }
    }

    /// `vault.get`: the value under `name`.
    pub fn get(&self, sid: &SessionId, name: &str) -> Result<SecretBytes, KeychainError> {
        let args = vault_args(sid).with("name", Value::Text(name.to_owned()));
        let mut r = self
            .keystored
            .call_map("vault.get", &args, Retry::Idempotent)?;
        r.secret("value")
    }

    /// `vault.del`: remove `name`.
    pub fn del(&self, sid: &SessionId, name: &str) -> Result<(), KeychainError> {
        let args = vault_args(sid).with("name", Value::Text(name.to_owned()));
        self.keystored.call_map("vault.del", &args, Retry::Once)?;
        Ok(())
    }

    /// `vault.list`: the names stored for this session's user and the
    /// caller's app.
    pub fn list(&self, sid: &SessionId) -> Result<Vec<String>, KeychainError> {
        let r = self
            .keystored
            .call_map("vault.list", &vault_args(sid), Retry::Idempotent)?;
        r.text_list("names")
    }
}
