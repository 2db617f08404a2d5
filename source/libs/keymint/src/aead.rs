//! XChaCha20-Poly1305 framing shared by every sealed object keymint makes.
//!
//! Layout: `kind(1) | format(1) | nonce(24) | ciphertext+tag`. The kind byte
//! separates object types (wrapped key, sealed message, vault key, vault
//! data) so one can never be passed off as another; it is also bound in
//! the associated data.

use crate::error::KeyMintError;
use crate::rng::Entropy;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

/// Current framing version.
pub(crate) const FORMAT: u8 = 1;
const HEADER: usize = 2 + 24;
/// Poly1305 tag length.
pub(crate) const TAG: usize = 16;
/// Bytes a sealed object adds to its plaintext.
pub const OVERHEAD: usize = HEADER + TAG;

/// Seal `pt` under `key`; `aad` is authenticated, not encrypted.
pub(crate) fn seal(
    entropy: &Entropy,
    kind: u8,
    key: &[u8; 32],
    aad: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, KeyMintError> {
    seal_format(entropy, kind, FORMAT, key, aad, pt)
}

/// [`seal`] with another format byte: a kind whose derivation changed
/// says so in its format, so both forms stay readable.
pub(crate) fn seal_format(
    entropy: &Entropy,
    kind: u8,
    format: u8,
    key: &[u8; 32],
    aad: &[u8],
    pt: &[u8],
) -> Result<Vec<u8>, KeyMintError> {
    let nonce = entropy.nonce24()?;
    let cipher = XChaCha20Poly1305::new(key.into());
    let full_aad = [&[kind, format][..], aad].concat();
    let ct = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: pt,
                aad: &full_aad,
            },
        )
        .map_err(|_| KeyMintError::Integrity)?;
    let mut out = Vec::with_capacity(HEADER + ct.len());
    out.extend_from_slice(&[kind, format]);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Open a sealed object of `kind`. Every failure after the shape checks is
/// the single opaque [`KeyMintError::Integrity`].
pub(crate) fn open(
    kind: u8,
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
    open_format(kind, FORMAT, key, aad, sealed)
}

/// The format byte of a sealed object, if it has one.
pub(crate) fn format_of(sealed: &[u8]) -> Option<u8> {
    sealed.get(1).copied()
}

/// [`open`] for objects of `format`.
pub(crate) fn open_format(
    kind: u8,
    format: u8,
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
    if sealed.len() < OVERHEAD {
        return Err(KeyMintError::Invalid("sealed data is truncated"));
    }
    if sealed[0] != kind {
        return Err(KeyMintError::Invalid("sealed data is of another kind"));
    }
    if sealed[1] != format {
        return Err(KeyMintError::Invalid("unsupported sealed data format"));
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let full_aad = [&[kind, format][..], aad].concat();
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[2..HEADER]),
            Payload {
                msg: &sealed[HEADER..],
                aad: &full_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| KeyMintError::Integrity)
}
