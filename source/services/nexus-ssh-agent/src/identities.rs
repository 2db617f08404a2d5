//! The agent's identities: the subject's active Ed25519 keys of one
//! purpose, as SSH public key blobs, from `key.list`.
//!
//! Invariants: an identity is the *primary* version of an active key
//! (`key.sign` signs with the primary version only, so listing another
//! version would promise signatures the keystore will not make); each
//! identity remembers the version and kid it was listed with, so a
//! signature made after a rotation is recognised as another key's and
//! refused rather than returned for the old public key.

use nexus_core::Label;
use nexus_keychain::{KeyAlg, KeyInfo, KeyState, Kid, VersionState};
use ssh_encoding::Encode;
use ssh_key::public::{Ed25519PublicKey, KeyData};
use ssh_key::{HashAlg, PublicKey};

/// One listed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The SSH public key blob (`string "ssh-ed25519", string key`).
    pub blob: Vec<u8>,
    /// The 32-byte public key.
    pub public: [u8; 32],
    /// The key's purpose.
    pub purpose: Label,
    /// The key's name.
    pub name: Label,
    /// The version listed (the primary one).
    pub version: u64,
    /// That version's kid.
    pub kid: Kid,
    /// `<app>/<purpose>/<name> v<N>`.
    pub comment: String,
}

impl Listed {
    /// The key's SHA-256 fingerprint, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public)
    }
}

/// The SSH public key blob of an Ed25519 public key.
pub fn ed25519_blob(public: &[u8; 32]) -> Vec<u8> {
    let data = KeyData::Ed25519(Ed25519PublicKey(*public));
    let mut blob = Vec::with_capacity(51);
    // Writing into a Vec cannot fail; an error here would mean a bug in
    // the encoder, and an empty blob then matches no request.
    let _ = data.encode(&mut blob);
    blob
}

/// `SHA256:<base64>` of an Ed25519 public key.
pub fn fingerprint(public: &[u8; 32]) -> String {
    KeyData::Ed25519(Ed25519PublicKey(*public))
        .fingerprint(HashAlg::Sha256)
        .to_string()
}

/// The `authorized_keys` line of an Ed25519 public key.
pub fn openssh_line(public: &[u8; 32], comment: &str) -> String {
    let key = PublicKey::new(KeyData::Ed25519(Ed25519PublicKey(*public)), comment);
    key.to_openssh()
        .unwrap_or_else(|_| format!("ssh-ed25519 (unencodable key) {comment}"))
}

/// The identities among `keys` for `purpose`, in the keystore's order.
pub fn select(keys: &[KeyInfo], purpose: &Label) -> Vec<Listed> {
    keys.iter()
        .filter(|k| &k.purpose == purpose && k.alg == KeyAlg::Ed25519)
        .filter(|k| k.state == KeyState::Active)
        .filter_map(|k| {
            let v = k
                .versions
                .iter()
                .find(|v| v.version == k.primary && v.state == VersionState::Active)?;
            let public: [u8; 32] = v.public_key.as_deref()?.try_into().ok()?;
            Some(Listed {
                blob: ed25519_blob(&public),
                public,
                purpose: k.purpose.clone(),
                name: k.name.clone(),
                version: v.version,
                kid: v.kid?,
                comment: format!("{}/{}/{} v{}", k.app, k.purpose, k.name, v.version),
            })
        })
        .collect()
}
