//! minisign's key and signature formats, so that the stock `minisign` tool
//! verifies what this system signs and this system verifies what it signs.
//!
//! Formats (all binary fields base64, standard alphabet, padded):
//! - public key: `untrusted comment: …` line, then `"Ed" || keynum[8] || pk[32]`.
//! - secret key (unencrypted, `minisign -G -W`): comment line, then
//!   `"Ed" || kdf "\0\0" || "B2" || salt[32] || ops[8] || mem[8] ||
//!   keynum[8] || seed[32] || pk[32] || chk[32]`, chk = BLAKE2b-256 over
//!   `"Ed" || keynum || seed || pk`.
//! - signature: `untrusted comment: …`, `"ED" || keynum[8] || sig[64]`
//!   where sig is Ed25519 over BLAKE2b-512(message), `trusted comment: …`,
//!   then the global signature: Ed25519 over `sig || trusted comment`.
//!
//! - encrypted secret key (`minisign -G`, kdf `Sc`): the same layout with
//!   `keynum || seed || pk || chk` XORed with scrypt(password, salt) under
//!   libsodium's parameters from `ops` and `mem`; read with
//!   [`MinisignSecretKey::parse_with_password`] (cargo feature
//!   `encrypted-keys`).
//!
//! Invariants: only the prehashed `ED` algorithm is accepted; every
//! verification is strict (`keymint::ed25519::verify`) and uses a key the
//! caller chose, never one named by the signature; secret keys have no
//! Debug or Clone and are zeroized on drop; an encrypted secret key is
//! refused by [`MinisignSecretKey::parse`] rather than half-parsed, and
//! opens only with its password (the checksum must match).

#[cfg(feature = "encrypted-keys")]
mod encrypted;
mod keys;
mod sig;
mod signer;

pub use keys::{MinisignKeyId, MinisignPublicKey, MinisignSecretKey};
pub use sig::MinisignSignature;
pub use signer::{digest, digest_reader, MinisignSigner, SignerError, DIGEST_LEN};

use base64::Engine;
use nexus_core::{Coded, ErrorCode};
use zeroize::Zeroizing;

/// The line that opens every minisign file.
pub(crate) const UNTRUSTED_PREFIX: &str = "untrusted comment: ";
/// The line that carries the signed comment.
pub(crate) const TRUSTED_PREFIX: &str = "trusted comment: ";
/// The longest untrusted comment accepted or written, in bytes.
pub const MAX_UNTRUSTED_COMMENT: usize = 1000;
/// The longest trusted comment accepted or written, in bytes (minisign's
/// own limit is 8192 bytes for the whole line).
pub const MAX_TRUSTED_COMMENT: usize = 4096;
/// The largest minisign file (key or signature) this parser reads.
pub const MAX_MINISIGN_FILE: usize = 16 * 1024;

/// A malformed or unsupported minisign key or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinisignError {
    /// Larger than [`MAX_MINISIGN_FILE`].
    #[error("minisign file too large")]
    TooLarge,
    /// Not UTF-8 text.
    #[error("minisign file is not text")]
    NotText,
    /// Lines missing, extra, or without their `untrusted comment:` /
    /// `trusted comment:` prefix.
    #[error("minisign file has the wrong layout")]
    Layout,
    /// A comment is too long or holds a control character.
    #[error("bad minisign comment")]
    BadComment,
    /// Not canonical base64.
    #[error("bad base64 in minisign file")]
    BadBase64,
    /// A decoded field has the wrong length.
    #[error("minisign field has length {found}, expected {expected}")]
    WrongLength {
        /// The length the format requires.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// The algorithm field is neither `Ed` (keys) nor `ED` (signatures).
    #[error("unsupported minisign algorithm")]
    UnsupportedAlgorithm,
    /// A legacy signature (`Ed`, not prehashed); only `ED` is accepted.
    #[error("legacy (non-prehashed) minisign signatures are not accepted")]
    LegacySignature,
    /// The secret key is password-encrypted (kdf `Sc`).
    #[error(
        "encrypted minisign secret keys are not supported: decrypt it with `minisign -C -W` first"
    )]
    EncryptedSecretKey,
    /// The kdf or checksum algorithm field is unknown.
    #[error("unsupported minisign key derivation or checksum algorithm")]
    UnsupportedKeyFormat,
    /// The secret key's checksum, or its embedded public key, does not
    /// match the key material (a damaged key file).
    #[error("minisign secret key is damaged")]
    DamagedSecretKey,
    /// The public key is not acceptable (length, encoding, weak point).
    #[error("bad minisign public key: {0}")]
    BadPublicKey(#[from] keymint::ed25519::PublicKeyError),
    /// The OS random number generator failed.
    #[error("random number generator unavailable")]
    Rng,
    /// The password does not open the encrypted secret key.
    #[error("wrong password for this minisign secret key")]
    WrongPassword,
    /// The encrypted key asks for more scrypt work or memory than any key
    /// minisign writes (refused rather than exhaust the machine).
    #[error("the minisign secret key's key derivation parameters are out of bounds")]
    KdfOutOfBounds,
    /// The signer could not sign (its own code and message).
    #[error("signer: {0}")]
    Signer(SignerError),
    /// The signer's signature does not verify with its own public key.
    #[error("the signer's signature does not verify with its public key")]
    SignerMismatch,
}

impl Coded for MinisignError {
    fn code(&self) -> ErrorCode {
        match self {
            MinisignError::Rng | MinisignError::SignerMismatch => ErrorCode::Eio,
            MinisignError::WrongPassword => ErrorCode::Eperm,
            MinisignError::Signer(e) => e.code(),
            _ => ErrorCode::Einval,
        }
    }
}

/// Split a minisign file into its lines. A final newline is optional and
/// `\r\n` endings are accepted, as minisign itself does.
pub(crate) fn lines(bytes: &[u8]) -> Result<Vec<&str>, MinisignError> {
    if bytes.len() > MAX_MINISIGN_FILE {
        return Err(MinisignError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| MinisignError::NotText)?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    Ok(text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect())
}

/// A comment must be one printable line (tab allowed: minisign's default
/// trusted comment uses it).
pub(crate) fn check_comment(c: &str, max: usize) -> Result<(), MinisignError> {
    if c.len() > max || c.chars().any(|ch| ch.is_control() && ch != '\t') {
        return Err(MinisignError::BadComment);
    }
    Ok(())
}

/// Take the comment after `prefix` on `line`.
pub(crate) fn comment<'a>(
    line: &'a str,
    prefix: &str,
    max: usize,
) -> Result<&'a str, MinisignError> {
    let c = line.strip_prefix(prefix).ok_or(MinisignError::Layout)?;
    check_comment(c, max)?;
    Ok(c)
}

/// Decode one base64 line of exactly `len` bytes. The buffer is zeroized on
/// drop because secret key files go through here too.
pub(crate) fn decode_len(line: &str, len: usize) -> Result<Zeroizing<Vec<u8>>, MinisignError> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(line)
            .map_err(|_| MinisignError::BadBase64)?,
    );
    if bytes.len() != len {
        return Err(MinisignError::WrongLength {
            expected: len,
            found: bytes.len(),
        });
    }
    Ok(bytes)
}

pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_like_minisign() {
        assert_eq!(lines(b"a\nb\n").unwrap(), vec!["a", "b"]);
        assert_eq!(lines(b"a\r\nb").unwrap(), vec!["a", "b"]);
        assert_eq!(lines(b"").unwrap(), vec![""]);
    }

    #[test]
    fn test_reject_malformed_text() {
        assert_eq!(lines(&[0xff, 0xfe]), Err(MinisignError::NotText));
        assert_eq!(
            lines(&vec![b'a'; MAX_MINISIGN_FILE + 1]),
            Err(MinisignError::TooLarge)
        );
        assert_eq!(
            comment("trusted: x", TRUSTED_PREFIX, 10),
            Err(MinisignError::Layout)
        );
        assert_eq!(
            comment("trusted comment: a\u{7}", TRUSTED_PREFIX, 10),
            Err(MinisignError::BadComment)
        );
        assert_eq!(
            comment("trusted comment: 0123456789a", TRUSTED_PREFIX, 10),
            Err(MinisignError::BadComment)
        );
        assert_eq!(decode_len("AAA=", 2).unwrap().as_slice(), &[0, 0]);
        assert_eq!(decode_len("AAA", 2), Err(MinisignError::BadBase64));
        assert_eq!(decode_len("AAB=", 2), Err(MinisignError::BadBase64));
        assert_eq!(decode_len("AAA= ", 2), Err(MinisignError::BadBase64));
        assert_eq!(
            decode_len("AAA=", 3),
            Err(MinisignError::WrongLength {
                expected: 3,
                found: 2
            })
        );
        assert_eq!(MinisignError::Layout.code(), nexus_core::ErrorCode::Einval);
    }
}
