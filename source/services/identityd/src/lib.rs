//! identityd: users and sessions, served over the wire
//! (docs/architecture/services.md, section identityd).
//!
//! It runs the [`identity::Identity`] service over the daemon's state, with
//! keymint in another process ([`keymint_client::RemoteKeyMint`], wrapped in
//! [`IdentityKeys`]) holding every vault key: identityd derives a user's
//! auth secret from the password (Argon2id), and keymintd wraps, rewraps
//! and unseals the vault key with it.
//!
//! Invariants:
//! - Passwords and derived secrets never reach a log line, a marker, an
//!   error message or the audit log (which records user ids and outcomes).
//! - Wrong password and unknown user give the same `EPERM`; throttled
//!   attempts get `EAGAIN` with the wait, before Argon2id runs.
//! - `user.create/delete/list` need `identity.user.admin` (system-only),
//!   checked and audited by the policy engine; logins, unlocks and password
//!   changes are audited by identity before they take effect (a record
//!   that cannot be written refuses the attempt).
//! - User deletion purges the user instance's vault through keystored
//!   (`vault.purge`, route identityd → keystored); keystored unreachable:
//!   `EAGAIN`, and the deletion stays pending until it is run again.
//! - Session control (status, lock, unlock, logout) is for the subject
//!   that logged the session in, or `identity.user.admin`.
//! - keymintd's boot id is watched: when keymintd restarts, identityd's
//!   sessions become locked, as keymintd's are.
//! - Production Argon2id parameters unless started with
//!   `--kdf-test-params`, which is for tests only and is said in the ready
//!   marker (`identityd: ready (TEST-KDF)`).

#![forbid(unsafe_code)]

pub mod entry;
mod handler;
mod keys;
mod links;
mod watch;

pub use handler::Identityd;
pub use keys::IdentityKeys;
pub use links::{Audit, KeystoredPurge, KEYSTORED};

use identity::{Identity, IdentityConfig, IdentityError, IdentityParts, KdfParams};
use keymint::KeyOps;
use nexus_core::{Clock, SystemClock};
use nexus_daemon::{Context, Service, Spec};
use std::sync::Arc;

/// The endpoint name of keymintd on the control channel.
pub use keymint_client::KEYMINTD;

/// identityd's place in the process contract.
pub const SPEC: Spec = Spec {
    name: "identityd",
    version: env!("CARGO_PKG_VERSION"),
    public_socket: true,
    needs_trust_dir: false,
    upstreams: &[KEYMINTD, KEYSTORED],
    // Each user's record and throttle state (the vault beside them is
    // keystored's).
    owns: &["identity/*/user", "identity/*/throttle"],
};

/// Build identityd with Argon2id parameters `kdf` (production:
/// [`KdfParams::PRODUCTION`]). Nothing is served before keymintd answered
/// `km.device` and its session table agrees with this (empty) one.
pub fn build(ctx: &Context, kdf: KdfParams) -> Result<Service<Identityd>, IdentityError> {
    let km = keymint_client::connect_upstream(ctx)?;
    let insecure = km.is_insecure();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let config = IdentityConfig {
        kdf,
        ..IdentityConfig::default()
    };
    let identity = Arc::new(Identity::new(IdentityParts {
        state: ctx.state().clone(),
        keys: Arc::new(IdentityKeys::new(km)),
        clock,
        authz: Arc::clone(ctx.policy()) as Arc<dyn nexus_core::Authorizer>,
        audit: Arc::new(Audit(ctx.audit().clone())),
        vault: Arc::new(KeystoredPurge::new(ctx.upstreams().clone())),
        config,
    }));
    // Sessions unsealed by an earlier identityd are unknown to this one:
    // nobody could lock or end them. Start from none (fail closed).
    if let Some((_, ended)) = identity.sync_keymint()? {
        if ended > 0 {
            eprintln!("identityd: ended {ended} session(s) left by an earlier run");
        }
    }
    if let Err(e) = watch::start(Arc::clone(&identity), ctx.shutdown().clone()) {
        eprintln!("identityd: cannot watch keymintd for restarts: {e}");
    }
    let handler = Identityd::new(identity, ctx.status(insecure));
    Ok(Service { handler, insecure })
}
