//! minisign secret keys, through the `trust` crate's parser (which also
//! opens password-encrypted keys with libsodium's scrypt parameters).

use super::{wrong_passphrase, KeyFileFormat, ParsedKey, Passphrase};
use crate::error::NxError;
use trust::minisign::{MinisignError, MinisignPublicKey, MinisignSecretKey};

pub(super) fn parse(
    bytes: &[u8],
    what: &str,
    passphrase: &mut Passphrase<'_>,
) -> Result<ParsedKey, NxError> {
    if MinisignPublicKey::parse(bytes).is_ok() {
        return Err(NxError::usage(format!(
            "{what} is a minisign public key: import needs the secret key file"
        )));
    }
    let refused = |e: MinisignError| match e {
        MinisignError::WrongPassword => wrong_passphrase(what),
        MinisignError::UnsupportedAlgorithm => {
            NxError::usage(format!("{what}: not an Ed25519 minisign secret key"))
        }
        e => NxError::usage(format!("{what}: malformed minisign secret key: {e}")),
    };
    let encrypted = MinisignSecretKey::is_encrypted(bytes).map_err(refused)?;
    let key = if encrypted {
        let pass = passphrase()?;
        MinisignSecretKey::parse_with_password(bytes, pass.as_bytes())
    } else {
        MinisignSecretKey::parse(bytes)
    }
    .map_err(refused)?;
    let mut parsed = ParsedKey::new(
        key.expose_secret_seed(),
        Some(key.public_key().verifying_key().as_bytes()),
        KeyFileFormat::Minisign,
        what,
    )?;
    parsed.minisign_key_id = Some(key.key_id());
    Ok(parsed)
}
