//! Building the service from the daemon's context: keymint over the
//! `keymintd` endpoint, then the keystore, the vault and the trust store
//! over the daemon's state, all authorizing through its policy engine.
//!
//! Invariants: nothing is served before keymintd answered `km.device`
//! (bounded wait, then a fatal error); the trust store is opened before
//! serving (a missing system directory is fatal, a damaged record is
//! reported through `ctx.damage()`); quotas are read from the policy per
//! subject; keys still in the once-shared `system` namespace are moved to
//! their owners' namespaces before anything is served (a key that cannot
//! move stays, named on the console; it never stops the start).

use crate::error::KeystoredError;
use crate::handler::Keystored;
use crate::vault_ops::VaultOps;
use keymint::KeyOps;
use keystore::{KeyStore, QuotaSource};
use nexus_core::{Clock, QuotaLimits, Subject, SystemClock};
use nexus_daemon::{Context, Service};
use std::sync::Arc;
use trust::TrustStore;

/// The endpoint name of keymintd on the control channel.
pub use keymint_client::KEYMINTD;

/// The policy's `keystore_quota` per subject.
struct PolicyQuota(Arc<policy::PolicyEngine>);

impl QuotaSource for PolicyQuota {
    fn keystore_quota(&self, subject: &Subject) -> QuotaLimits {
        self.0.policy().keystore_quota(subject)
    }
}

/// Run the keystore's upgrade of the shared `system` namespace and say on
/// the console what it did.
fn move_shared_system_keys(keys: &KeyStore) {
    match keys.upgrade_shared_system_namespace() {
        Ok(report) => {
            for m in &report.moved {
                eprintln!(
                    "keystored: moved key {} to {} (its owner's namespace; material, versions and kids unchanged)",
                    m.from, m.to
                );
            }
            for s in &report.stayed {
                eprintln!(
                    "keystored: key {} stays in the former shared namespace, usable by no one: {} ({})",
                    s.name, s.reason, s.record
                );
            }
        }
        Err(e) => eprintln!(
            "keystored: moving keys out of the former shared system namespace stopped: {e}; \
             the rest is moved at the next start"
        ),
    }
}

/// Build keystored for [`crate::entry::run`].
pub fn build(ctx: &Context) -> Result<Service<Keystored>, KeystoredError> {
    build_over(ctx, keymint_client::connect_upstream(ctx)?)
}

/// [`build`] over a keymint already connected (`km.device` answered).
/// The daemon connects through its upstream endpoint; the `fuzzing`
/// feature exports this so that the fuzz workspace can run keystored's
/// handler in process, over keymintd's handler behind an in-process
/// [`nexus_daemon::Call`].
pub fn build_over(
    ctx: &Context,
    km: keymint_client::RemoteKeyMint,
) -> Result<Service<Keystored>, KeystoredError> {
    let km = Arc::new(km);
    let state = ctx.state().clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let policy = Arc::clone(ctx.policy());
    let trust_dir = ctx
        .config()
        .trust_dir
        .clone()
        .ok_or(KeystoredError::NoTrustDir)?;
    // keystored writes the trust store; its manifest is MAC'd with the
    // trust key so that bundlemgrd and updated can check what they read.
    // A damaged record of the store is said now, on the console and in
    // `status`; it fails what needs it, not keystored's start.
    let trust_key = ctx
        .trust_key()
        .map_err(|e| KeystoredError::Setup(Box::new(e)))?;
    let trust = TrustStore::open_writer(trust_dir, state.clone(), trust_key)?
        .with_damage_sink(Arc::new(ctx.damage().clone()));
    let keys = KeyStore::new(
        state.clone(),
        km.clone(),
        Arc::clone(&clock),
        Arc::new(PolicyQuota(Arc::clone(&policy))),
    );
    move_shared_system_keys(&keys);
    let vault = VaultOps::new(
        state,
        km.clone(),
        Arc::clone(&policy),
        ctx.markers().clone(),
        ctx.audit().clone(),
    );
    let insecure = km.is_insecure();
    let handler = Keystored {
        keys,
        vault,
        trust,
        status: ctx.status(insecure),
        volatile: ctx.is_volatile(),
        km,
        policy,
        audit: ctx.audit().clone(),
        clock,
    };
    Ok(Service { handler, insecure })
}
