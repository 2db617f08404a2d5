//! Building the service from the daemon's context: keymint over the
//! `keymintd` endpoint, then the keystore, the vault and the trust store
//! over the daemon's state, all authorizing through its policy engine.
//!
//! Invariants: nothing is served before keymintd answered `km.device`
//! (bounded wait, then a fatal error); the trust store is opened (and so
//! checked) before serving; quotas are read from the policy per subject.

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
pub use keymintd::KEYMINTD;

/// The policy's `keystore_quota` per subject.
struct PolicyQuota(Arc<policy::PolicyEngine>);

impl QuotaSource for PolicyQuota {
    fn keystore_quota(&self, subject: &Subject) -> QuotaLimits {
        self.0.policy().keystore_quota(subject)
    }
}

/// Build keystored for [`crate::entry::run`].
pub fn build(ctx: &Context) -> Result<Service<Keystored>, KeystoredError> {
    let km = Arc::new(keymintd::connect_upstream(ctx)?);
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
    let trust_key = ctx
        .trust_key()
        .map_err(|e| KeystoredError::Setup(Box::new(e)))?;
    let trust = TrustStore::open_writer(trust_dir, state.clone(), trust_key)?;
    let keys = KeyStore::new(
        state.clone(),
        km.clone(),
        Arc::clone(&clock),
        Arc::new(PolicyQuota(Arc::clone(&policy))),
    );
    let vault = VaultOps::new(
        state,
        km.clone(),
        Arc::clone(&policy),
        ctx.markers().clone(),
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
