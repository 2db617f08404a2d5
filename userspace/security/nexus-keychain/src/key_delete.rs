//! `key.delete` (services.md, "keystored"): sent once, like every op that
//! changes a key (a lost reply leaves the key deleted or not; asking again
//! answers `ENOENT` if it is gone).

use crate::error::KeychainError;
use crate::keychain::Keychain;
use crate::keys::key_args;
use crate::service::Retry;
use nexus_core::Label;
use nexus_proto as proto;

impl Keychain {
    /// `key.delete`: remove the caller's key `(purpose, name)`, its record
    /// and every version, freeing its quota and its name.
    pub fn delete_key(&self, purpose: &Label, name: &Label) -> Result<(), KeychainError> {
        self.keystored
            .call_op::<proto::KeyDelete>(&key_args(purpose, name), Retry::Once)?;
        Ok(())
    }
}
