//! attestd: the device attestation service.
//!
//! attestd signs attestation tokens (docs/identity/attestation.md: an RFC
//! 9711 EAT in a CWT, a tagged COSE_Sign1 with Ed25519) with the device
//! attestation key, which lives in the keystore in attestd's own key
//! namespace as `system.attestd/device-attest/device` (no other subject
//! can use it) and signs only inside keymint. A token
//! binds the device id, the calling app (from the caller's channel), the
//! attested key of that app, the verifier's nonce, bounded custom claims,
//! the time, and the claim that this is a software stub.
//!
//! Parts:
//! - [`Attestd`] (`service.rs`): the logic — attest, device key, rotate,
//!   status — over a [`KeyBackend`]; `device.rs` finds the current device
//!   key and heals it ([`DeviceEvent`]).
//! - [`LocalBackend`] (in-process keystore) and [`RemoteBackend`]
//!   (keystored over the wire): the two backends.
//! - [`AttestdHandler`]: the wire ops; [`serve`]: the daemon (nexus-daemon's
//!   process contract, keystored as the upstream).
//!
//! Invariants (details in each module):
//! - The app id in a token is the caller's namespace, from the channel;
//!   only the caller's own keys can be attested (`EPERM` otherwise).
//! - `identity.attest` is asked of the authorizer for every attestation;
//!   the device key is used through the keystore's normal checks.
//! - No private key byte passes through attestd; every token it returns
//!   has had its signature verified against the device key in its header.
//! - RED FLAG: a software stub. A token proves the plumbing, not hardware
//!   trust; every token says so in a signed claim.

#![forbid(unsafe_code)]

mod backend;
mod device;
mod error;
mod handler;
mod local;
mod remote;
mod serve;
mod service;

pub use backend::{
    device_key_name, AttestedKey, BackendInfo, DeviceKey, DeviceKeyEntry, DeviceSignature,
    KeyBackend, DEVICE_KEY_NAME, DEVICE_KEY_PURPOSE,
};
pub use device::DeviceEvent;
pub use error::AttestError;
pub use handler::{attest_marker, AttestdHandler, MarkerFn, SERVICE};
pub use local::LocalBackend;
pub use remote::RemoteBackend;
pub use serve::{build, serve, KEYSTORED, SPEC};
pub use service::{
    Attestation, Attestd, DeviceEventFn, KeyRef, Status, MAX_KNOWN, SWNAME, SWVERSION,
};
