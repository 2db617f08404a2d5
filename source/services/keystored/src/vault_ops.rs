//! The `vault.*` ops over [`vault::Vault`], scoped to the session `sid`
//! (which picks the user) and the caller's channel subject (which picks the
//! app namespace).
//!
//! Each request is authorized once, at this edge: the policy engine is
//! asked for `identity.vault.use` on `vault:<app>` (one audit line). The
//! vault itself is built with [`Decided`], an authorizer that allows
//! exactly the decision made for the request running on the current
//! thread and denies everything else, so the vault's own check still
//! runs (fail closed) without writing a second audit line per request.
//!
//! Per-app limits are the policy's `vault_quota` of the caller, handed to
//! the vault with each put (`put_with_app_limits`), which checks them and
//! the per-user limits in one pass under the user's lock.
//!
//! `vault.purge` (user deletion) is identityd's alone: any other subject,
//! system ones and the administrator included, gets `EPERM`, and both
//! outcomes are audit lines (capability `vault.purge`, target
//! `vault:<instance>`).
//!
//! Invariants: values never reach a log line, a marker or an error
//! message; the put marker carries the app id and the entry name only,
//! with anything outside a conservative charset escaped.

use nexus_core::{
    AppId, Authorizer, AuthzError, Capability, ErrorCode, QuotaLimits, SessionId, Subject,
};
use nexus_daemon::{AuditLog, Markers};
use nexus_proto::{
    self as proto, Empty, Op, Secret, VaultDel, VaultGet, VaultGetReply, VaultList, VaultListReply,
    VaultPurge, VaultPurgeArgs, VaultPut, WarningsReply,
};
use policy::PolicyEngine;
use statefs::StateFs;
use std::cell::RefCell;
use std::sync::Arc;
use vault::{Vault, VaultLimits};
use wire::{Request, Value, WireError};

thread_local! {
    /// The decision made for the request this thread is serving.
    static DECIDED: RefCell<Option<(Subject, Capability, String)>> = const { RefCell::new(None) };
}

/// The vault's authorizer: the edge's decision for the current request,
/// nothing else.
struct Decided;

impl Authorizer for Decided {
    fn authorize(&self, s: &Subject, c: Capability, target: &str) -> Result<(), AuthzError> {
        let allowed = DECIDED.with(|d| {
            d.borrow()
                .as_ref()
                .is_some_and(|(ds, dc, dt)| ds == s && *dc == c && dt == target)
        });
        if allowed {
            Ok(())
        } else {
            Err(AuthzError::Denied {
                subject: s.to_string(),
                capability: c,
            })
        }
    }
}

/// Holds a decision for the current thread; cleared on drop (also when
/// unwinding), so it never outlives its request.
struct Decision;

impl Decision {
    fn enter(s: &Subject, c: Capability, target: String) -> Decision {
        DECIDED.with(|d| *d.borrow_mut() = Some((s.clone(), c, target)));
        Decision
    }
}

impl Drop for Decision {
    fn drop(&mut self) {
        DECIDED.with(|d| *d.borrow_mut() = None);
    }
}

/// The marker for a put: `keystore: put (app=<app>, key=<name>)`. Entry
/// names are free text (no control characters); characters outside
/// `[A-Za-z0-9._/:@+-]` are written as `\u{…}` so that a name cannot
/// imitate the marker's own punctuation.
pub fn put_marker(app: &AppId, name: &str) -> String {
    let mut shown = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || "._/:@+-".contains(c) {
            shown.push(c);
        } else {
            shown.push_str(&c.escape_unicode().to_string());
        }
    }
    format!("keystore: put (app={app}, key={shown})")
}

/// The only subject that may purge a vault.
const PURGER: &str = "system:identityd";

/// The vault ops and their per-app accounting.
pub(crate) struct VaultOps {
    vault: Vault,
    policy: Arc<PolicyEngine>,
    markers: Markers,
    audit: AuditLog,
}

impl VaultOps {
    pub(crate) fn new(
        state: StateFs,
        keys: Arc<keymint_client::RemoteKeyMint>,
        policy: Arc<PolicyEngine>,
        markers: Markers,
        audit: AuditLog,
    ) -> VaultOps {
        // Per-app limits come from the policy per subject at each put; the
        // configured per-app default only serves callers of `Vault::put`.
        let limits = VaultLimits::default();
        VaultOps {
            vault: Vault::new(state, keys, Arc::new(Decided), limits),
            policy,
            markers,
            audit,
        }
    }

    /// `vault.purge`: identityd deleting a user instance.
    fn purge(&self, s: &Subject, a: &VaultPurgeArgs) -> Result<Empty, WireError> {
        let target = format!("vault:{}", a.instance);
        let allowed = s.to_string() == PURGER;
        let reason = if allowed {
            "identityd"
        } else {
            "not_identityd"
        };
        self.audit
            .record(s, VaultPurge::NAME, &target, allowed, reason)
            .map_err(|e| {
                eprintln!("keystored: audit record failed: {e}");
                WireError::new(
                    ErrorCode::Eio,
                    "authorization unavailable: audit sink failed",
                )
            })?;
        if !allowed {
            return Err(WireError::new(
                ErrorCode::Eperm,
                "vault.purge is identityd's alone",
            ));
        }
        self.vault.purge(a.instance, a.legacy_user.as_ref())?;
        eprintln!(
            "keystored: purged the vault of user instance {}",
            a.instance
        );
        Ok(Empty {})
    }

    fn put(
        &self,
        s: &Subject,
        sid: SessionId,
        name: &str,
        value: &[u8],
    ) -> Result<WarningsReply, WireError> {
        // The vault checks the caller's per-subject limits (from the policy)
        // and the per-user limits in one pass under the user's lock.
        let limits: QuotaLimits = self.policy.policy().vault_quota(s);
        let warnings = self
            .vault
            .put_with_app_limits(s, sid, name, value, &limits)?
            .warnings;
        let app = s.app_namespace();
        if let Err(e) = self.markers.line(&put_marker(&app, name)) {
            eprintln!("keystored: cannot write the put marker: {e}");
        }
        let warnings = warnings
            .iter()
            .map(|w| {
                eprintln!("keystored: vault warning for {s}: {w}");
                w.to_string()
            })
            .collect();
        Ok(WarningsReply { warnings })
    }

    /// Authorize the request (one audited decision) and run `f` under
    /// that decision.
    fn decided<T>(
        &self,
        s: &Subject,
        f: impl FnOnce() -> Result<T, WireError>,
    ) -> Result<T, WireError> {
        let target = format!("vault:{}", s.app_namespace());
        self.policy.authorize(s, Capability::VaultUse, &target)?;
        let _decision = Decision::enter(s, Capability::VaultUse, target);
        f()
    }

    /// One `vault.*` op. The arguments are decoded (and refused) before
    /// the capability is asked for.
    pub(crate) fn handle(&self, s: &Subject, req: &Request) -> Result<Value, WireError> {
        match req.op() {
            VaultPut::NAME => proto::serve::<VaultPut>(req, |a| {
                self.decided(s, || self.put(s, a.sid, &a.name, a.value.expose()))
            }),
            VaultGet::NAME => proto::serve::<VaultGet>(req, |a| {
                self.decided(s, || {
                    let value = self.vault.get(s, a.sid, &a.name)?;
                    Ok(VaultGetReply {
                        value: Secret::from(value),
                    })
                })
            }),
            VaultDel::NAME => proto::serve::<VaultDel>(req, |a| {
                self.decided(s, || {
                    self.vault.delete(s, a.sid, &a.name)?;
                    Ok(Empty {})
                })
            }),
            VaultPurge::NAME => proto::serve::<VaultPurge>(req, |a| self.purge(s, &a)),
            VaultList::NAME => proto::serve::<VaultList>(req, |a| {
                self.decided(s, || {
                    Ok(VaultListReply {
                        names: self.vault.list(s, a.sid)?,
                    })
                })
            }),
            other => Err(WireError::unknown_op(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_shows_plain_names_and_escapes_the_rest() {
        let app = AppId::new("com.example.alpha").unwrap();
        assert_eq!(
            put_marker(&app, "token-1.v2"),
            "keystore: put (app=com.example.alpha, key=token-1.v2)"
        );
        assert_eq!(
            put_marker(&app, "a), key=b"),
            "keystore: put (app=com.example.alpha, key=a\\u{29}\\u{2c}\\u{20}key\\u{3d}b)"
        );
    }

    #[test]
    fn test_reject_anything_but_the_current_decision() {
        let alpha: Subject = "app:com.example.alpha".parse().unwrap();
        let beta: Subject = "app:com.example.beta".parse().unwrap();
        let t = "vault:com.example.alpha";
        assert!(Decided.authorize(&alpha, Capability::VaultUse, t).is_err());
        {
            let _d = Decision::enter(&alpha, Capability::VaultUse, t.to_owned());
            assert!(Decided.authorize(&alpha, Capability::VaultUse, t).is_ok());
            assert!(Decided.authorize(&beta, Capability::VaultUse, t).is_err());
            assert!(Decided.authorize(&alpha, Capability::KeySign, t).is_err());
            assert!(Decided
                .authorize(&alpha, Capability::VaultUse, "vault:x")
                .is_err());
            // Another thread has no decision.
            std::thread::spawn(move || {
                assert!(Decided.authorize(&alpha, Capability::VaultUse, t).is_err())
            })
            .join()
            .unwrap();
        }
        let alpha: Subject = "app:com.example.alpha".parse().unwrap();
        assert!(Decided.authorize(&alpha, Capability::VaultUse, t).is_err());
    }
}
