//! Per-session unsealed vault keys.
//!
//! Each user has one random 256-bit vault key, created with the user and
//! stored only wrapped:
//!
//! ```text
//! device_salt = HKDF-SHA256(ikm = master, salt = "nexus-keymint/device-salt/v1", info = "")
//! KEK_user    = HKDF-SHA256(ikm = auth secret (from the credential),
//!                           salt = device_salt,
//!                           info = "nexus-keymint/vault-kek/v1" | len(user) | user)
//! wrapped     = 'V' | 1 | nonce | XChaCha20-Poly1305(KEK_user, vault key,
//!                                   aad = 'V' | 1 | "nexus-vault-key/v1" | len(user) | user)
//! ```
//!
//! Login/unlock unwraps it into this table under the session id; lock and
//! logout remove it, which zeroizes it. Vault data is sealed only through
//! [`VaultKeyOps::vault_seal`] with a session id, so a locked session gets
//! `ELOCKED`, never data and never "not found".

use crate::aead;
use crate::engine::KeyMint;
use crate::error::KeyMintError;
use nexus_core::{SessionId, UserId};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use zeroize::Zeroizing;

const KIND_VAULT_KEY: u8 = b'V';
const KIND_VAULT_DATA: u8 = b'D';

/// The secret a user's credential yields (the Argon2id output half that is
/// not the verifier). No Debug, no Clone; zeroized on drop.
pub struct AuthSecret(Zeroizing<[u8; 32]>);

impl AuthSecret {
    /// Adopt 32 bytes derived from the credential.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        AuthSecret(Zeroizing::new(b))
    }

    /// The secret bytes, only to hand them to keymintd over its private
    /// endpoint. Never log, compare or store them.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A vault key wrapped under a user's KEK. Ciphertext, safe to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedVaultKey(Vec<u8>);

impl WrappedVaultKey {
    /// Adopt stored bytes; checked when unwrapped.
    pub fn from_bytes(b: Vec<u8>) -> Self {
        WrappedVaultKey(b)
    }

    /// The blob bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

struct Unsealed {
    user: UserId,
    key: Zeroizing<[u8; 32]>,
}

/// The table of unsealed session keys.
#[derive(Default)]
pub(crate) struct Sessions(Mutex<HashMap<SessionId, Unsealed>>);

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Unsealed>> {
        // Each critical section is one map operation; a panicking holder
        // cannot leave the map inconsistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Session-scoped vault key operations (keymintd's session unseal).
pub trait VaultKeyOps: Send + Sync {
    /// Create a user's vault key, returned wrapped under `auth`.
    fn create_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError>;
    /// Unwrap the user's vault key into memory for `sid`.
    fn unseal_session(
        &self,
        sid: SessionId,
        user: &UserId,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError>;
    /// Re-wrap the vault key under a new credential (password change).
    fn rewrap_vault_key(
        &self,
        user: &UserId,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError>;
    /// Forget (zeroize) the session's key. Returns whether it was unsealed.
    fn end_session(&self, sid: SessionId) -> bool;
    /// Forget (zeroize) every session's key; returns how many there were.
    /// The session owner calls this when it starts, so that sessions it no
    /// longer knows (it restarted) cannot stay unsealed with nobody able to
    /// lock or end them.
    fn end_all_sessions(&self) -> Result<usize, KeyMintError>;
    /// The user whose key `sid` holds, if unsealed. An error means the
    /// answer is unknown (keymintd unreachable), never "not unsealed".
    fn session_user(&self, sid: SessionId) -> Result<Option<UserId>, KeyMintError>;
    /// Seal vault data with the session's key.
    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError>;
    /// Open vault data with the session's key.
    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError>;
}

fn with_user(tag: &[u8], user: &UserId) -> Vec<u8> {
    let mut out = tag.to_vec();
    // UserId is validated to at most 64 bytes.
    out.push(u8::try_from(user.as_str().len()).unwrap_or(u8::MAX));
    out.extend_from_slice(user.as_str().as_bytes());
    out
}

impl KeyMint {
    fn user_kek(
        &self,
        user: &UserId,
        auth: &AuthSecret,
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let salt = self.device().derive(b"nexus-keymint/device-salt/v1", b"")?;
        crate::device::hkdf32(
            auth.0.as_slice(),
            salt.as_slice(),
            &with_user(b"nexus-keymint/vault-kek/v1", user),
        )
    }

    fn unwrap_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let kek = self.user_kek(user, auth)?;
        let aad = with_user(b"nexus-vault-key/v1", user);
        let key = aead::open(KIND_VAULT_KEY, &kek, &aad, wrapped.as_bytes())?;
        let arr: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| KeyMintError::Integrity)?;
        Ok(Zeroizing::new(arr))
    }

    fn wrap_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
        key: &[u8; 32],
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let kek = self.user_kek(user, auth)?;
        let aad = with_user(b"nexus-vault-key/v1", user);
        Ok(WrappedVaultKey(aead::seal(
            self.entropy(),
            KIND_VAULT_KEY,
            &kek,
            &aad,
            key,
        )?))
    }
}

impl VaultKeyOps for KeyMint {
    fn create_vault_key(
        &self,
        user: &UserId,
        auth: &AuthSecret,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let key = self.entropy().secret32()?;
        self.wrap_vault_key(user, auth, &key)
    }

    fn unseal_session(
        &self,
        sid: SessionId,
        user: &UserId,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<(), KeyMintError> {
        let key = self.unwrap_vault_key(user, auth, wrapped)?;
        self.sessions.lock().insert(
            sid,
            Unsealed {
                user: user.clone(),
                key,
            },
        );
        Ok(())
    }

    fn rewrap_vault_key(
        &self,
        user: &UserId,
        old: &AuthSecret,
        new: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let key = self.unwrap_vault_key(user, old, wrapped)?;
        self.wrap_vault_key(user, new, &key)
    }

    fn end_session(&self, sid: SessionId) -> bool {
        self.sessions.lock().remove(&sid).is_some()
    }

    fn end_all_sessions(&self) -> Result<usize, KeyMintError> {
        let mut table = self.sessions.lock();
        let n = table.len();
        // Dropping each entry zeroizes its key.
        table.clear();
        Ok(n)
    }

    fn session_user(&self, sid: SessionId) -> Result<Option<UserId>, KeyMintError> {
        Ok(self.sessions.lock().get(&sid).map(|u| u.user.clone()))
    }

    fn vault_seal(&self, sid: SessionId, aad: &[u8], pt: &[u8]) -> Result<Vec<u8>, KeyMintError> {
        let key = {
            let table = self.sessions.lock();
            let entry = table.get(&sid).ok_or(KeyMintError::Locked)?;
            Zeroizing::new(*entry.key)
        };
        aead::seal(self.entropy(), KIND_VAULT_DATA, &key, aad, pt)
    }

    fn vault_unseal(
        &self,
        sid: SessionId,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let key = {
            let table = self.sessions.lock();
            let entry = table.get(&sid).ok_or(KeyMintError::Locked)?;
            Zeroizing::new(*entry.key)
        };
        aead::open(KIND_VAULT_DATA, &key, aad, sealed)
    }
}
