//! Wrapping of a user's vault key, in two formats.
//!
//! ```text
//! device_salt = HKDF-SHA256(ikm = master, salt = "nexus-keymint/device-salt/v1", info = "")
//!
//! format 2 (every key made or rewrapped now), bound to the user instance:
//! KEK     = HKDF-SHA256(ikm = auth secret, salt = device_salt,
//!                       info = "nexus-keymint/vault-kek/v2" | instance[16])
//! wrapped = 'V' | 2 | nonce | XChaCha20-Poly1305(KEK, vault key,
//!                       aad = 'V' | 2 | "nexus-vault-key/v2" | instance[16])
//!
//! format 1 (read only: keys of users created before instances), bound
//! to the user name:
//! KEK     = HKDF-SHA256(ikm = auth secret, salt = device_salt,
//!                       info = "nexus-keymint/vault-kek/v1" | len(user) | user)
//! wrapped = 'V' | 1 | nonce | XChaCha20-Poly1305(KEK, vault key,
//!                       aad = 'V' | 1 | "nexus-vault-key/v1" | len(user) | user)
//! ```
//!
//! Invariants: a new or rewrapped key is always format 2, so a key of a
//! deleted user cannot be opened under a new instance of the same name;
//! format 1 is accepted only for an owner marked `legacy` (an instance
//! upgraded from a name-bound user); KEKs and unwrapped keys live in
//! zeroizing buffers for the length of one operation.

use crate::aead;
use crate::engine::KeyMint;
use crate::error::KeyMintError;
use crate::session::{AuthSecret, VaultOwner, WrappedVaultKey};
use nexus_core::UserId;
use zeroize::Zeroizing;

const KIND_VAULT_KEY: u8 = b'V';
/// The name-bound format (read only).
pub(crate) const FORMAT_NAME: u8 = 1;
/// The instance-bound format.
pub(crate) const FORMAT_INSTANCE: u8 = 2;

fn with_user(tag: &[u8], user: &UserId) -> Vec<u8> {
    let mut out = tag.to_vec();
    // UserId is validated to at most 64 bytes.
    out.push(u8::try_from(user.as_str().len()).unwrap_or(u8::MAX));
    out.extend_from_slice(user.as_str().as_bytes());
    out
}

/// (KEK info, AAD) of `format` for `owner`.
fn binding(format: u8, owner: &VaultOwner) -> (Vec<u8>, Vec<u8>) {
    if format == FORMAT_NAME {
        (
            with_user(b"nexus-keymint/vault-kek/v1", &owner.user),
            with_user(b"nexus-vault-key/v1", &owner.user),
        )
    } else {
        let i = owner.instance.as_bytes();
        (
            [&b"nexus-keymint/vault-kek/v2"[..], i].concat(),
            [&b"nexus-vault-key/v2"[..], i].concat(),
        )
    }
}

impl KeyMint {
    fn user_kek(
        &self,
        info: &[u8],
        auth: &AuthSecret,
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let salt = self.device().derive(b"nexus-keymint/device-salt/v1", b"")?;
        crate::device::hkdf32(auth.expose_secret(), salt.as_slice(), info)
    }

    pub(crate) fn unwrap_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
        wrapped: &WrappedVaultKey,
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let format = match aead::format_of(wrapped.as_bytes()) {
            Some(FORMAT_INSTANCE) => FORMAT_INSTANCE,
            Some(FORMAT_NAME) if owner.legacy => FORMAT_NAME,
            Some(FORMAT_NAME) => {
                return Err(KeyMintError::Invalid(
                    "a name-bound vault key belongs to an upgraded user only",
                ))
            }
            _ => return Err(KeyMintError::Invalid("unsupported sealed data format")),
        };
        let (info, aad) = binding(format, owner);
        let kek = self.user_kek(&info, auth)?;
        let key = aead::open_format(KIND_VAULT_KEY, format, &kek, &aad, wrapped.as_bytes())?;
        let arr: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| KeyMintError::Integrity)?;
        Ok(Zeroizing::new(arr))
    }

    pub(crate) fn wrap_vault_key(
        &self,
        owner: &VaultOwner,
        auth: &AuthSecret,
        key: &[u8; 32],
    ) -> Result<WrappedVaultKey, KeyMintError> {
        let (info, aad) = binding(FORMAT_INSTANCE, owner);
        let kek = self.user_kek(&info, auth)?;
        Ok(WrappedVaultKey(aead::seal_format(
            self.entropy(),
            KIND_VAULT_KEY,
            FORMAT_INSTANCE,
            &kek,
            &aad,
            key,
        )?))
    }
}
