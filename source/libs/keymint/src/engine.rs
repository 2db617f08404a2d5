//! The keymint engine: generation, wrapping, signing and sealing of
//! per-key material, each bound to a [`KeyIdentity`].
//!
//! Wrapping key for one key version (written down in
//! docs/security/keymint-keychain.md):
//!
//! ```text
//! KEK = HKDF-SHA256(ikm = device master secret,
//!                   salt = "nexus-keymint/wrap/v1",
//!                   info = KeyIdentity::encode())
//! blob = 'W' | 1 | nonce(24) | XChaCha20-Poly1305(KEK, nonce, material,
//!                                                  aad = 'W' | 1 | identity)
//! ```
//!
//! Invariants: material is unwrapped into a zeroizing buffer; it is kept
//! beyond the operation only in the bounded cache of ready keys
//! ([`crate::keycache`]), keyed by identity and blob, zeroized when its
//! entry goes. Session vault keys live in the session table instead.

use crate::aead;
use crate::device::DeviceSecret;
use crate::error::KeyMintError;
use crate::identity::{Algorithm, KeyIdentity};
use crate::import::Ed25519Seed;
use crate::keycache::{KeyCache, Ready, Slot};
use crate::rng::Entropy;
use crate::session::Sessions;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use nexus_core::{AppId, Label};
use statefs::StateFs;
use std::sync::Arc;
use zeroize::Zeroizing;

pub(crate) const KIND_WRAPPED: u8 = b'W';
const KIND_SEALED: u8 = b'S';
const WRAP_SALT: &[u8] = b"nexus-keymint/wrap/v1";
const SEAL_AAD_TAG: &[u8] = b"nexus-keymint/seal/v1";

/// A key's material wrapped for this device. Not secret (it is ciphertext),
/// but useless off this device or under another identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey(Vec<u8>);

impl WrappedKey {
    /// Adopt stored bytes; the shape is checked when the blob is opened.
    pub fn from_bytes(b: Vec<u8>) -> Self {
        WrappedKey(b)
    }

    /// The blob bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A freshly generated key version.
#[derive(Debug)]
pub struct GeneratedKey {
    /// The wrapped material, for the keystore to persist.
    pub wrapped: WrappedKey,
    /// The public key, for signing keys.
    pub public: Option<VerifyingKey>,
}

/// The private-key operations the keystore needs. keystored holds records
/// and wrapped blobs only; every use of material goes through this trait,
/// implemented in-process by [`KeyMint`] and over a socket by keymintd's
/// client.
pub trait KeyOps: Send + Sync {
    /// Create new material for `id`, wrapped.
    fn generate(&self, id: &KeyIdentity) -> Result<GeneratedKey, KeyMintError>;
    /// Wrap an existing Ed25519 private key for `id` (an Ed25519
    /// identity): from here on it is a key like a generated one, and the
    /// seed is never returned.
    fn import(&self, id: &KeyIdentity, seed: &Ed25519Seed) -> Result<GeneratedKey, KeyMintError>;
    /// Sign `msg` with the Ed25519 key in `blob`.
    fn sign(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        msg: &[u8],
    ) -> Result<Signature, KeyMintError>;
    /// Seal `pt` with the data key in `blob`; `aad` is bound.
    fn seal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, KeyMintError>;
    /// Open what [`KeyOps::seal`] made under the same identity and `aad`.
    fn unseal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError>;
    /// Drop every unwrapped copy keymint keeps of the key
    /// `app/purpose/name` (all versions): the keystore revoked, retired or
    /// deleted some of its versions. Their blobs still open if presented
    /// again; the keystore no longer presents them.
    fn forget(&self, app: &AppId, purpose: &Label, name: &Label) -> Result<(), KeyMintError>;
    /// This device's id (derived from the master secret; stable).
    fn device_id(&self) -> [u8; 32];
    /// Whether this keymint runs on the insecure deterministic generator.
    fn is_insecure(&self) -> bool;
}

/// The in-process keymint.
pub struct KeyMint {
    device: DeviceSecret,
    entropy: Entropy,
    device_id: [u8; 32],
    created: bool,
    volatile: bool,
    pub(crate) boot_id: [u8; 16],
    pub(crate) sessions: Sessions,
    keys: KeyCache,
}

impl KeyMint {
    /// Open keymint over `state`, creating the device secret on first start.
    pub fn open(state: &StateFs, entropy: Entropy) -> Result<Self, KeyMintError> {
        let (device, created) = DeviceSecret::load_or_create(state, &entropy)?;
        let device_id = *device.derive(b"nexus-keymint/device-id/v1", b"")?;
        // Always from the OS, also in the deterministic test mode: a boot
        // id that repeated across starts would hide a restart.
        let mut boot_id = [0u8; 16];
        getrandom::getrandom(&mut boot_id).map_err(|_| KeyMintError::Entropy)?;
        Ok(KeyMint {
            device,
            entropy,
            device_id,
            created,
            volatile: state.is_volatile(),
            boot_id,
            sessions: Sessions::default(),
            keys: KeyCache::default(),
        })
    }

    /// [`KeyMint::open`] keeping at most `max` unwrapped keys (0: none;
    /// every operation unwraps).
    pub fn open_with_key_cache(
        state: &StateFs,
        entropy: Entropy,
        max: usize,
    ) -> Result<Self, KeyMintError> {
        Ok(KeyMint {
            keys: KeyCache::with_capacity(max),
            ..KeyMint::open(state, entropy)?
        })
    }

    /// How many unwrapped keys are held now.
    pub fn cached_keys(&self) -> usize {
        self.keys.len()
    }

    /// The MAC key of the state root of the service whose subject is
    /// `subject` (`system:keystored`…): HKDF-SHA256 of the device secret,
    /// one key per subject, so no daemon can forge another's root.
    pub fn state_key(&self, subject: &str) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        self.device
            .derive(b"nexus-keymint/state-key/v1", subject.as_bytes())
    }

    /// The MAC key of the trust store's manifest, which keystored writes
    /// and bundlemgrd and updated read.
    pub fn trust_key(&self) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        self.device.derive(b"nexus-keymint/trust-key/v1", b"")
    }

    /// Whether the device secret was created by this `open`.
    pub fn created_device_secret(&self) -> bool {
        self.created
    }

    /// Whether the device secret lives only in memory.
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }

    /// Fill `out` from keymint's entropy source (session ids, salts).
    pub fn fill_random(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        self.entropy.fill(out)
    }

    pub(crate) fn entropy(&self) -> &Entropy {
        &self.entropy
    }

    pub(crate) fn device(&self) -> &DeviceSecret {
        &self.device
    }

    fn kek(&self, id: &KeyIdentity) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        self.device.derive(WRAP_SALT, &id.encode())
    }

    /// `material` wrapped for `id` (generated or imported alike).
    fn wrap(&self, id: &KeyIdentity, material: &[u8; 32]) -> Result<WrappedKey, KeyMintError> {
        let kek = self.kek(id)?;
        let blob = aead::seal(&self.entropy, KIND_WRAPPED, &kek, &id.encode(), material)?;
        Ok(WrappedKey(blob))
    }

    fn unwrap32(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
    ) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let kek = self.kek(id)?;
        let material = aead::open(KIND_WRAPPED, &kek, &id.encode(), blob.as_bytes())?;
        let arr: [u8; 32] = material
            .as_slice()
            .try_into()
            .map_err(|_| KeyMintError::Integrity)?;
        Ok(Zeroizing::new(arr))
    }

    /// The key in `blob`, ready to use: from the cache, or unwrapped under
    /// `id` and cached.
    fn ready(&self, id: &KeyIdentity, blob: &WrappedKey) -> Result<Arc<Ready>, KeyMintError> {
        let slot = Slot::of(id, blob.as_bytes());
        if let Some(key) = self.keys.get(&slot) {
            return Ok(key);
        }
        let material = self.unwrap32(id, blob)?;
        let key = Arc::new(match id.alg {
            // SigningKey zeroizes itself on drop (ed25519-dalek "zeroize").
            Algorithm::Ed25519 => Ready::Signing(SigningKey::from_bytes(&material)),
            Algorithm::XChaCha20Poly1305 => Ready::Data(material),
        });
        self.keys.insert(slot, id, Arc::clone(&key));
        Ok(key)
    }

    /// The data key in `blob` (an XChaCha20-Poly1305 identity); the caller
    /// takes [`Ready::Data`] out of it.
    fn data_key(&self, id: &KeyIdentity, blob: &WrappedKey) -> Result<Arc<Ready>, KeyMintError> {
        Self::require(id, Algorithm::XChaCha20Poly1305)?;
        self.ready(id, blob)
    }

    fn require(id: &KeyIdentity, alg: Algorithm) -> Result<(), KeyMintError> {
        if id.alg == alg {
            Ok(())
        } else {
            Err(KeyMintError::Invalid(
                "key algorithm does not fit the operation",
            ))
        }
    }
}

impl KeyOps for KeyMint {
    fn generate(&self, id: &KeyIdentity) -> Result<GeneratedKey, KeyMintError> {
        let material = self.entropy.secret32()?;
        let public = match id.alg {
            Algorithm::Ed25519 => Some(SigningKey::from_bytes(&material).verifying_key()),
            Algorithm::XChaCha20Poly1305 => None,
        };
        Ok(GeneratedKey {
            wrapped: self.wrap(id, &material)?,
            public,
        })
    }

    fn import(&self, id: &KeyIdentity, seed: &Ed25519Seed) -> Result<GeneratedKey, KeyMintError> {
        Self::require(id, Algorithm::Ed25519)?;
        // SigningKey zeroizes itself on drop.
        let public = SigningKey::from_bytes(seed.expose_secret()).verifying_key();
        Ok(GeneratedKey {
            wrapped: self.wrap(id, seed.expose_secret())?,
            public: Some(public),
        })
    }

    fn sign(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        msg: &[u8],
    ) -> Result<Signature, KeyMintError> {
        Self::require(id, Algorithm::Ed25519)?;
        match &*self.ready(id, blob)? {
            Ready::Signing(key) => Ok(key.sign(msg)),
            // The algorithm is part of the cache key: cannot happen.
            Ready::Data(_) => Err(KeyMintError::Integrity),
        }
    }

    fn seal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        pt: &[u8],
    ) -> Result<Vec<u8>, KeyMintError> {
        let key = self.data_key(id, blob)?;
        let Ready::Data(key) = &*key else {
            // The algorithm is part of the cache key: cannot happen.
            return Err(KeyMintError::Integrity);
        };
        aead::seal(&self.entropy, KIND_SEALED, key, &seal_aad(id, aad), pt)
    }

    fn unseal(
        &self,
        id: &KeyIdentity,
        blob: &WrappedKey,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyMintError> {
        let key = self.data_key(id, blob)?;
        let Ready::Data(key) = &*key else {
            // The algorithm is part of the cache key: cannot happen.
            return Err(KeyMintError::Integrity);
        };
        aead::open(KIND_SEALED, key, &seal_aad(id, aad), sealed)
    }

    fn forget(&self, app: &AppId, purpose: &Label, name: &Label) -> Result<(), KeyMintError> {
        self.keys.forget(app, purpose, name);
        Ok(())
    }

    fn device_id(&self) -> [u8; 32] {
        self.device_id
    }

    fn is_insecure(&self) -> bool {
        self.entropy.is_insecure()
    }
}

/// AAD of a sealed message: domain tag, key identity, then the caller's
/// AAD with its length, so the two cannot be shifted into each other.
fn seal_aad(id: &KeyIdentity, aad: &[u8]) -> Vec<u8> {
    let ident = id.encode();
    let mut out = Vec::with_capacity(SEAL_AAD_TAG.len() + ident.len() + 8 + aad.len());
    out.extend_from_slice(SEAL_AAD_TAG);
    out.extend_from_slice(&ident);
    out.extend_from_slice(&(aad.len() as u64).to_be_bytes());
    out.extend_from_slice(aad);
    out
}
