//! The device master secret and what is derived from it.
//!
//! RED FLAG: without hardware protection the master secret is a 32-byte
//! file at `state:/keymint/device-secret` (mode 0600). Anyone who can read
//! the state disk can open every wrapped key. This is a software keystore;
//! it makes no hardware-trust claim.
//!
//! Invariants: the secret is created once, from the configured entropy
//! source, on the first start; an unreadable or corrupt file is an `EIO`
//! error, never a reason to mint a new secret (which would silently orphan
//! every wrapped key). Every buffer that holds the secret, on the way from
//! or to the file included, is zeroized when dropped.

use crate::error::KeyMintError;
use crate::rng::Entropy;
use hkdf::Hkdf;
use sha2::Sha256;
use statefs::{StateFs, StatePath};
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"NXDS";
const VERSION: u16 = 1;

/// The state path of the device secret.
pub fn device_secret_path() -> Result<StatePath, KeyMintError> {
    Ok(
        StatePath::from_segments(["keymint", "device-secret"])
            .map_err(statefs::StateError::from)?,
    )
}

/// The device master secret. No Debug, no Clone; zeroized on drop.
pub(crate) struct DeviceSecret {
    master: Zeroizing<[u8; 32]>,
}

impl DeviceSecret {
    /// Load the secret, creating it on first start. Returns whether it was
    /// created now.
    pub(crate) fn load_or_create(
        state: &StateFs,
        entropy: &Entropy,
    ) -> Result<(Self, bool), KeyMintError> {
        let path = device_secret_path()?;
        // statefs reads the file into one zeroizing buffer of its size and
        // hands the payload over in another; the secret is copied once more,
        // into the zeroizing array, and nowhere else.
        if let Some((_, payload)) = state.read_record(&path, MAGIC, &[VERSION])? {
            if payload.len() != 32 {
                return Err(statefs::StateError::Corrupt {
                    path: path.to_string(),
                    reason: "device secret has the wrong length",
                }
                .into());
            }
            let mut master = Zeroizing::new([0u8; 32]);
            master.copy_from_slice(&payload);
            return Ok((DeviceSecret { master }, false));
        }
        let master = entropy.secret32()?;
        // The encoded record is zeroized by statefs after the write.
        state.write_record(&path, MAGIC, VERSION, master.as_slice())?;
        Ok((DeviceSecret { master }, true))
    }

    /// HKDF-SHA256(ikm = master, salt, info) → 32 bytes.
    pub(crate) fn derive(
        &self,
        salt: &[u8],
        info: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        hkdf32(self.master.as_slice(), salt, info)
    }
}

/// HKDF-SHA256 with a 32-byte output.
pub(crate) fn hkdf32(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm.as_mut_slice())
        .map_err(|_| KeyMintError::Invalid("hkdf output length"))?;
    Ok(okm)
}
