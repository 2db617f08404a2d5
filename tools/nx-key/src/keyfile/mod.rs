//! The private key files `nx key import` reads: an OpenSSH private key
//! (`ssh-keygen -t ed25519`, with or without a passphrase), a PKCS#8 PEM
//! private key (`openssl genpkey -algorithm ed25519`), or a minisign
//! secret key (`minisign -G`, with a password, or `-G -W` without). Only
//! the Ed25519 seed leaves this module, towards `key.import`.
//!
//! Invariants:
//! - The format is recognised from the file's first line; anything else
//!   (another algorithm, a public key, an encrypted PKCS#8 file, a
//!   damaged file) is a usage error that says what the file is and what
//!   would be accepted. Nothing is guessed.
//! - A passphrase is asked for only when the file is encrypted and holds
//!   an Ed25519 key; a wrong one is `EPERM`.
//! - The seed is checked against the file's public key (a file whose
//!   halves disagree is refused) and lives only in zeroizing buffers
//!   ([`ParsedKey`]: no Debug, no Clone); messages never contain key
//!   bytes.

mod minisign;
mod openssh;
mod pkcs8;

use crate::error::NxError;
use ed25519_dalek::SigningKey;
use nexus_core::ErrorCode;
use trust::minisign::MinisignKeyId;
use zeroize::Zeroizing;

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFileFormat {
    /// An OpenSSH private key file.
    OpenSsh,
    /// A PKCS#8 PEM private key.
    Pkcs8,
    /// A minisign secret key.
    Minisign,
}

impl KeyFileFormat {
    /// The name in output (`--json` field `format`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFileFormat::OpenSsh => "openssh",
            KeyFileFormat::Pkcs8 => "pkcs8",
            KeyFileFormat::Minisign => "minisign",
        }
    }
}

/// An Ed25519 private key read from a file. No Debug, no Clone; the seed
/// is zeroized on drop.
pub struct ParsedKey {
    seed: Zeroizing<[u8; 32]>,
    public: [u8; 32],
    /// The file's format.
    pub format: KeyFileFormat,
    /// A minisign key's own key number (signatures made with the key
    /// after import carry it only if asked: `--minisign-key-id`).
    pub minisign_key_id: Option<MinisignKeyId>,
}

impl ParsedKey {
    /// A key from its seed, checked against the public key the file
    /// carries (if it carries one).
    fn new(
        seed: &[u8; 32],
        file_public: Option<&[u8]>,
        format: KeyFileFormat,
        what: &str,
    ) -> Result<ParsedKey, NxError> {
        let public = SigningKey::from_bytes(seed).verifying_key().to_bytes();
        if let Some(p) = file_public {
            if p != public.as_slice() {
                return Err(NxError::usage(format!(
                    "{what}: the key file is damaged: its public key is not the private key's"
                )));
            }
        }
        Ok(ParsedKey {
            seed: Zeroizing::new(*seed),
            public,
            format,
            minisign_key_id: None,
        })
    }

    /// The seed, for the one call that hands it to the keystore.
    pub fn expose_seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key.
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }
}

/// Where a passphrase comes from when the file needs one.
pub type Passphrase<'a> = dyn FnMut() -> Result<Zeroizing<String>, NxError> + 'a;

fn unrecognised(what: &str) -> NxError {
    NxError::usage(format!(
        "{what} is not a private key file nx can import: expected an OpenSSH private key \
         (ssh-keygen -t ed25519), a PKCS#8 PEM private key (openssl genpkey -algorithm \
         ed25519) or a minisign secret key (minisign -G)"
    ))
}

/// The kind of file its first line says it is.
fn first_line(text: &str) -> &str {
    text.trim_start().lines().next().unwrap_or("").trim_end()
}

/// Read the Ed25519 private key in `bytes` (the contents of the file
/// named `what`), asking `passphrase` if the file is encrypted.
pub fn parse(
    bytes: &[u8],
    what: &str,
    passphrase: &mut Passphrase<'_>,
) -> Result<ParsedKey, NxError> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(NxError::usage(format!(
            "{what} is binary, not a PEM or text key file (a DER key? convert it: \
             openssl pkey -in {what} -out key.pem)"
        )));
    };
    let line = first_line(text);
    let other = |kind: &str| {
        NxError::usage(format!(
            "{what} is {kind}: only Ed25519 private keys can be imported"
        ))
    };
    match line {
        "-----BEGIN OPENSSH PRIVATE KEY-----" => openssh::parse(text, what, passphrase),
        "-----BEGIN PRIVATE KEY-----" => pkcs8::parse(text, what),
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" => Err(NxError::usage(format!(
            "{what} is an encrypted PKCS#8 key, which nx does not read: decrypt it first \
             (openssl pkey -in {what} -out key.pem) and delete the decrypted copy afterwards"
        ))),
        "-----BEGIN RSA PRIVATE KEY-----" => Err(other("an RSA private key")),
        "-----BEGIN EC PRIVATE KEY-----" => Err(other("an EC private key")),
        "-----BEGIN DSA PRIVATE KEY-----" => Err(other("a DSA private key")),
        "-----BEGIN PUBLIC KEY-----" | "---- BEGIN SSH2 PUBLIC KEY ----" => Err(public(what)),
        l if l.starts_with("ssh-") || l.starts_with("ecdsa-") || l.starts_with("sk-") => {
            Err(public(what))
        }
        l if l.starts_with("untrusted comment:") => minisign::parse(bytes, what, passphrase),
        _ => Err(unrecognised(what)),
    }
}

fn public(what: &str) -> NxError {
    NxError::usage(format!(
        "{what} is a public key: import needs the private key file"
    ))
}

/// A wrong passphrase or password (`EPERM`, as for a wrong login).
fn wrong_passphrase(what: &str) -> NxError {
    NxError::Local {
        code: ErrorCode::Eperm,
        msg: format!("{what}: wrong passphrase"),
    }
}
