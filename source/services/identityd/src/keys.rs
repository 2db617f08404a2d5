//! [`IdentityKeys`]: what identity needs from keymint
//! ([`identity::SessionKeys`]), over keymintd.
//!
//! - Vault key creation, rewrap, session unseal and end go to keymintd
//!   (they are identityd's ops in keymintd's caller table).
//! - Random bytes (session ids, Argon2id salts) come from the OS RNG
//!   here: keymintd has no op that hands out randomness, and identityd
//!   needs no secret of keymintd's for them. Both are public values (a
//!   session id is a bearer handle, a salt is stored in clear).
//! - `session_user` answers "none" without asking keymintd: that op is
//!   keystored's alone, and identity asks it only to rule out reusing a
//!   live session id; 128 random bits from the OS RNG do not collide, and
//!   identity also checks its own session table.
//!
//! Invariant: no secret passes through here except auth secrets on their
//! way to keymintd (zeroized by `RemoteKeyMint` once sent).

use identity::SessionKeys;
use keymint::{AuthSecret, KeyMintError, VaultKeyOps, WrappedVaultKey};
use keymint_client::RemoteKeyMint;
use nexus_core::{SessionId, UserId};
use zeroize::Zeroizing;

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

impl VaultKeyOps for IdentityKeys {
    fn create_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        self.km.create_vault_key(user, auth)
    }

    fn end_all_sessions(&self) -> Result<usize, KeyMintError> {
        self.km.end_all_sessions()
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        user: &UserId,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        self.km.unseal_session(sid, user, auth, wrapped)
    }

    fn rewrap_vault_key(
        &self,
        user: &UserId,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        self.km.rewrap_vault_key(user, old, new, wrapped)
    }

    fn end_session(&self, sid: SessionId) -> bool {
        self.km.end_session(sid)
    }

    fn session_user(&self, _sid: SessionId) -> Result<Option<UserId>, KeyMintError> {
        Ok(None)
    }

    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        self.km.vault_seal(sid, aad, pt)
    }

    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        self.km.vault_unseal(sid, aad, sealed)
    }
}

impl SessionKeys for IdentityKeys {
    fn random(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        getrandom::getrandom(out).map_err(|_| KeyMintError::Entropy)
    }
}
