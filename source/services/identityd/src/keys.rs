//! [`IdentityKeys`]: what identity needs from keymint
//! ([`identity::SessionKeys`]), over keymintd.
//!
//! - Vault keys (create, rewrap), session unseal, lock, end and sync, the
//!   end of a deleted instance's sessions, the verifier's MAC and the boot
//!   id go to keymintd (identityd's ops in keymintd's caller table).
//! - Random bytes (session ids, Argon2id salts, instance ids) come from
//!   the OS RNG here: keymintd has no op that hands out randomness, and
//!   identityd needs no secret of keymintd's for them. All are public
//!   values (a session id is a handle, a salt and an instance id are
//!   stored in clear).
//!
//! Invariant: no secret passes through here except auth secrets and
//! verifier inputs on their way to keymintd (zeroized by `RemoteKeyMint`
//! once sent).

use identity::SessionKeys;
use keymint::{
    AuthSecret, KeyMintError, SessionKeyOps, SessionRef, SyncReport, VaultOwner, VerifierInput,
    WrappedVaultKey,
};
use keymint_client::RemoteKeyMint;
use nexus_core::{InstanceId, SessionId};

/// keymint for identity: keymintd plus the OS RNG.
#[derive(Debug)]
pub struct IdentityKeys {
    km: RemoteKeyMint,
}

impl IdentityKeys {
    /// Wrap a connected [`RemoteKeyMint`].
    pub fn new(km: RemoteKeyMint) -> IdentityKeys {
        IdentityKeys { km }
    }
}

impl SessionKeyOps for IdentityKeys {
    fn create_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        self.km.create_vault_key(owner, auth)
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        owner: &VaultOwner,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        self.km.unseal_session(sid, owner, auth, wrapped)
    }

    fn rewrap_vault_key(
        &self,
        owner: &VaultOwner,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        self.km.rewrap_vault_key(owner, old, new, wrapped)
    }

    fn lock_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        self.km.lock_session(sid)
    }

    fn end_session(&self, sid: SessionId) -> Result<bool, KeyMintError> {
        self.km.end_session(sid)
    }

    fn end_instance(&self, instance: InstanceId) -> Result<usize, KeyMintError> {
        self.km.end_instance(instance)
    }

    fn sync_sessions(&self, known: &[SessionRef]) -> Result<SyncReport, KeyMintError> {
        self.km.sync_sessions(known)
    }

    fn verifier_mac(&self, input: &VerifierInput) -> Result<[u8; 32], KeyMintError> {
        self.km.verifier_mac(input)
    }

    fn boot_id(&self) -> Result<[u8; 16], KeyMintError> {
        self.km.boot_id()
    }
}

impl SessionKeys for IdentityKeys {
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        getrandom::getrandom(out).map_err(|_| KeyMintError::Entropy)
    }
}
