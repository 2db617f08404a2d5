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

use keymint::{Entropy, KeyMint, KeyMintError, KeyOps, VaultKeyOps};
use keymint_client::board::{board_path, SessionBoard};
use nexus_daemon::{Context, Service, Spec};
use std::os::unix::fs::DirBuilderExt;

/// keymintd's place in the process contract.
pub const SPEC: Spec = Spec {
    name: "keymintd",
    version: env!("CARGO_PKG_VERSION"),
    public_socket: false,
    needs_trust_dir: false,
    upstreams: &[],
    owns: &["keymint/**"],
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

/// Why keymintd could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// keymint could not open (the device secret unreadable or corrupt).
    #[error(transparent)]
    KeyMint(#[from] KeyMintError),
    /// The state root could not be attached.
    #[error(transparent)]
    Daemon(#[from] nexus_daemon::DaemonError),
}

/// Open keymint over the daemon's state and build the service. A device
/// secret that cannot be read, or is corrupt, is an error: never replaced.
/// In durable mode keymintd's own state root is keyed from the device
/// secret it has just read, and then vouches for that secret: a device
/// secret swapped for another (or put back from elsewhere) makes the root
/// unreadable or the secret `EIO`, and keymintd does not start.
pub fn build(ctx: &Context) -> Result<Service<KeymintService>, BuildError> {
    let km = KeyMint::open(ctx.state(), entropy())?;
    if !ctx.is_volatile() {
        let key = km.state_key(&format!("system:{}", SPEC.name))?;
        let report = ctx.attach_state_root(statefs::StateKey::new(key))?;
        if report.damaged.is_some() {
            // Without a device secret it can vouch for, keymintd can do
            // nothing; the reason is already on stderr.
            return Err(KeyMintError::Storage(statefs::StateError::NoRoot(
                "keymintd's state root is damaged",
            ))
            .into());
        }
        ctx.state()
            .read(&keymint::device_secret_path()?)
            .map_err(KeyMintError::Storage)?;
    }
    // A keymint crate compiled with the deterministic generator is
    // insecure even where this daemon asked for the OS generator.
    let insecure = keymint::INSECURE_BUILD || km.is_insecure();
    if km.created_device_secret() && !km.is_volatile() {
        eprintln!("keymintd: created a new device secret");
    }
    let status = ctx.status(insecure);
    // The session board lets keystored's vault serve an active session
    // without asking every time; without it (no run directory, say) the
    // vault asks every time, which is slower and as safe.
    let board = km.session_stamp().and_then(|first| {
        let run = &ctx.config().run;
        let path = board_path(run);
        // As the daemons with a public socket make it: searchable, the
        // board itself 0600.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(run)
            .and_then(|()| SessionBoard::create(&path, first))
            .map_err(|e| {
                eprintln!(
                    "keymintd: no session board at {}: {e}; the vault will ask for every session",
                    path.display()
                )
            })
            .ok()
    });
    let mut handler = KeymintService::new(km, insecure, status, Some(ctx.audit().clone()));
    if let Some(board) = board {
        handler = handler.with_session_board(board);
    }
    Ok(Service { handler, insecure })
}
