//! OpenSSH private key files (`openssh-key-v1`), through RustCrypto's
//! `ssh-key` (bcrypt-pbkdf and the ciphers `ssh-keygen` uses for
//! passphrase-protected keys). The key type and the key derivation's cost
//! are read from the file's clear header and checked before any
//! passphrase is asked for.

use super::{wrong_passphrase, KeyFileFormat, ParsedKey, Passphrase};
use crate::error::NxError;
use base64::Engine;
use ssh_key::private::KeypairData;

/// The most bcrypt-pbkdf rounds a key file may ask for. ssh-keygen writes
/// 16 by default (`-a` sets more; a few hundred is already slow); a file
/// asking for billions would keep nx busy for days before the passphrase
/// could even be checked.
const MAX_BCRYPT_ROUNDS: u32 = 10_000;
use ssh_key::{Algorithm, PrivateKey};

pub(super) fn parse(
    text: &str,
    what: &str,
    passphrase: &mut Passphrase<'_>,
) -> Result<ParsedKey, NxError> {
    let malformed =
        |e: ssh_key::Error| NxError::usage(format!("{what}: malformed OpenSSH private key: {e}"));
    // Named first: this build of ssh-key decodes Ed25519 (and RSA) key
    // pairs only, so another type would otherwise read as "unknown".
    if let Some(kind) = key_type(text).filter(|k| k != "ssh-ed25519") {
        return Err(NxError::usage(format!(
            "{what} is an {kind} key: only Ed25519 (ssh-ed25519) keys can be imported"
        )));
    }
    let key = PrivateKey::from_openssh(text).map_err(malformed)?;
    let alg = key.algorithm();
    if alg != Algorithm::Ed25519 {
        return Err(NxError::usage(format!(
            "{what} is an {} key: only Ed25519 (ssh-ed25519) keys can be imported",
            alg.as_str()
        )));
    }
    let key = if key.is_encrypted() {
        if let ssh_key::Kdf::Bcrypt { rounds, .. } = key.kdf() {
            if *rounds > MAX_BCRYPT_ROUNDS {
                return Err(NxError::usage(format!(
                    "{what} asks for {rounds} bcrypt-pbkdf rounds, more than nx runs \
                     ({MAX_BCRYPT_ROUNDS}): ssh-keygen -p -a 100 -f {what} re-encrypts it"
                )));
            }
        }
        let pass = passphrase()?;
        match key.decrypt(pass.as_bytes()) {
            Ok(k) => k,
            // A wrong passphrase fails the check integers.
            Err(ssh_key::Error::Crypto) => return Err(wrong_passphrase(what)),
            Err(e) => return Err(malformed(e)),
        }
    } else {
        key
    };
    let KeypairData::Ed25519(pair) = key.key_data() else {
        return Err(NxError::usage(format!(
            "{what}: malformed OpenSSH private key: not an Ed25519 key pair"
        )));
    };
    ParsedKey::new(
        pair.private.as_ref(),
        Some(&pair.public.0),
        KeyFileFormat::OpenSsh,
        what,
    )
}

/// The key type named in the file's public key section (readable even
/// when the private part is encrypted), if the container is well formed
/// that far: `"openssh-key-v1\0"`, three strings (cipher, kdf, kdf
/// options), a key count, then the public key blob whose first string is
/// its type.
fn key_type(text: &str) -> Option<String> {
    let body: String = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    let mut rest = raw.strip_prefix(b"openssh-key-v1\0")?;
    fn take<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let out = rest.get(4..4usize.checked_add(len)?)?;
        *rest = &rest[4 + len..];
        Some(out)
    }
    for _ in 0..3 {
        take(&mut rest)?;
    }
    rest = rest.get(4..)?;
    let mut public = take(&mut rest)?;
    let kind = take(&mut public)?;
    String::from_utf8(kind.to_vec()).ok()
}
