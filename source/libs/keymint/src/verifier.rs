//! The password verifier's pepper.
//!
//! ```text
//! pepper   = HKDF-SHA256(ikm = master, salt = "nexus-keymint/verifier-pepper/v1", info = "")
//! verifier = HMAC-SHA256(pepper, "nexus-identity/verifier/v2" | input[32])
//! ```
//!
//! `input` is the verifier half of a password's Argon2id output. The
//! stored verifier is useless without the device secret: a copied user
//! record alone does not let anyone test a password guess offline.
//!
//! Invariants: the pepper and the input live in zeroizing buffers; the
//! pepper never leaves keymint (only MACs do).

use crate::device::DeviceSecret;
use crate::error::KeyMintError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const PEPPER_SALT: &[u8] = b"nexus-keymint/verifier-pepper/v1";
const DOMAIN: &[u8] = b"nexus-identity/verifier/v2";

/// The verifier half of an Argon2id output. No Debug, no Clone; zeroized
/// on drop.
pub struct VerifierInput(Zeroizing<[u8; 32]>);

impl VerifierInput {
    /// Adopt 32 bytes derived from the password.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        VerifierInput(Zeroizing::new(b))
    }

    /// The bytes, only to hand them to keymintd over its private
    /// endpoint.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

/// HMAC-SHA256 of `input` under the device's pepper.
pub(crate) fn mac(device: &DeviceSecret, input: &VerifierInput) -> Result<[u8; 32], KeyMintError> {
    let pepper = device.derive(PEPPER_SALT, b"")?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(pepper.as_slice())
        .map_err(|_| KeyMintError::Invalid("hmac key length"))?;
    m.update(DOMAIN);
    m.update(input.expose_secret());
    Ok(m.finalize().into_bytes().into())
}
