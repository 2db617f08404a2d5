//! keymint: the crypto core that keymintd runs, and the only code in the
//! system that sees private key material in plaintext.
//!
//! - [`KeyMint`] opens the device master secret (created from the OS RNG on
//!   first start, at `state:/keymint/device-secret`) and implements
//!   [`KeyOps`] (generate, import, sign, seal, unseal per key identity),
//!   [`SessionKeyOps`] (the session owner's side: vault keys bound to a
//!   user instance, session unseal, lock and end, the password verifier's
//!   pepper) and [`VaultKeyOps`] (the vault's side: whose session, vault
//!   seal and unseal, and the session table's [`SessionStamp`]).
//! - [`kid`] computes RFC 9679 thumbprints; [`ed25519`] is the one strict
//!   verification path.
//!
//! Invariants:
//! - No function returns private key bytes; keys leave only as blobs wrapped
//!   under a key derived from this device's master secret and the key's
//!   identity.
//! - Secret types have no Debug or Clone and are zeroized on drop.
//! - Unwrapped keys are kept only in a bounded cache ([`KEY_CACHE_MAX`])
//!   keyed by key identity and blob, never shared between identities,
//!   zeroized on eviction and dropped by [`KeyOps::forget`].
//! - Ed25519 verification is strict and weak keys are refused.
//! - RED FLAG: software only. The master secret is a file on the state
//!   disk; nothing here is hardware-protected.

#![forbid(unsafe_code)]

mod aead;
mod device;
pub mod ed25519;
mod engine;
mod error;
mod identity;
mod import;
mod keycache;
pub mod kid;
mod rng;
mod session;
mod stamp;
mod vault_key;
mod verifier;

pub use aead::OVERHEAD as SEAL_OVERHEAD;
pub use device::device_secret_path;
pub use engine::{GeneratedKey, KeyMint, KeyOps, WrappedKey};
pub use error::KeyMintError;
pub use identity::{Algorithm, KeyIdentity};
pub use import::Ed25519Seed;
pub use keycache::KEY_CACHE_MAX;
pub use rng::Entropy;
pub use session::{
    AuthSecret, SessionKeyOps, SessionLookup, SessionRef, SyncReport, VaultKeyOps, VaultOwner,
    WrappedVaultKey,
};
pub use stamp::{SessionStamp, STAMP_LEN, STAMP_VERSION};
pub use verifier::VerifierInput;

/// True when this build has the `insecure-deterministic` feature. Daemons
/// built with it print INSECURE in their ready marker.
pub const INSECURE_BUILD: bool = cfg!(feature = "insecure-deterministic");
