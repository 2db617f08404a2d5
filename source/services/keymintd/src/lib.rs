//! keymintd: the only process that holds private key material in
//! plaintext.
//!
//! It runs the in-process [`keymint::KeyMint`] (device master secret at
//! `state:/keymint/device-secret`, key generation, wrap/unwrap, Ed25519
//! signing, XChaCha20-Poly1305 sealing, per-session unsealed vault keys
//! bound to user instances, the password verifier's pepper)
//! and serves its `km.*` operations (docs/architecture/services.md) to
//! exactly two callers: `system:keystored` and `system:identityd`, each
//! only its own ops. It has no public socket; it serves only endpoints
//! nexus-init hands over the control channel.
//!
//! - [`build`]: the service for [`nexus_daemon::run`] (see `main.rs`).
//! - [`KeymintService`]: the request handler.
//!
//! Its client, `RemoteKeyMint`, lives in the `keymint-client` library, so
//! that the services calling keymintd do not depend on this crate.
//!
//! Invariants: no op returns private key bytes; secrets are never logged;
//! a build with the `insecure-deterministic` feature says INSECURE in its
//! ready marker and in `km.device`.

#![forbid(unsafe_code)]

pub mod access;
mod handler;

pub use handler::KeymintService;

use keymint::{Entropy, KeyMint, KeyMintError, KeyOps};
use nexus_daemon::{Context, Service, Spec};

/// keymintd's place in the process contract.
pub const SPEC: Spec = Spec {
    name: "keymintd",
    version: env!("CARGO_PKG_VERSION"),
    public_socket: false,
    needs_trust_dir: false,
    upstreams: &[],
};

/// The seed of the insecure deterministic generator (test builds only).
#[cfg(feature = "insecure-deterministic")]
pub const INSECURE_SEED: u64 = 0x6b65_796d_696e_7464;

#[cfg(feature = "insecure-deterministic")]
fn entropy() -> Entropy {
    Entropy::insecure_seeded(INSECURE_SEED)
}

#[cfg(not(feature = "insecure-deterministic"))]
fn entropy() -> Entropy {
    Entropy::os()
}

/// Open keymint over the daemon's state and build the service. A device
/// secret that cannot be read, or is corrupt, is an error: never replaced.
pub fn build(ctx: &Context) -> Result<Service<KeymintService>, KeyMintError> {
    let km = KeyMint::open(ctx.state(), entropy())?;
    // A keymint crate compiled with the deterministic generator is
    // insecure even where this daemon asked for the OS generator.
    let insecure = keymint::INSECURE_BUILD || km.is_insecure();
    if km.created_device_secret() && !km.is_volatile() {
        eprintln!("keymintd: created a new device secret");
    }
    let status = ctx.status(insecure);
    let handler = KeymintService::new(km, insecure, status, Some(ctx.audit().clone()));
    Ok(Service { handler, insecure })
}
