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
//! Per-app limits are the policy's `vault_quota` of the caller: the vault
//! crate takes one fixed set of limits, so keystored measures the app's
//! entries in the user's vault before each put and checks the caller's
//! figures itself; the vault keeps enforcing the per-user limit. Puts are
//! serialized so that two puts cannot both pass the check.
//!
//! Invariants: values never reach a log line, a marker or an error
//! message; the put marker carries the app id and the entry name only,
//! with anything outside a conservative charset escaped.

use nexus_core::{AppId, Authorizer, AuthzError, Capability, QuotaLimits, SessionId, Subject};
use nexus_daemon::Markers;
use policy::PolicyEngine;
use statefs::StateFs;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};
use vault::{QuotaMeasure, QuotaScope, QuotaWarning, Usage, Vault, VaultError, VaultLimits};
use wire::{Args, Value, WireError};

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

/// The vault ops and their per-app accounting.
pub(crate) struct VaultOps {
    vault: Vault,
    policy: Arc<PolicyEngine>,
    markers: Markers,
    puts: Mutex<()>,
}

fn check(
    measure: QuotaMeasure,
    used: u64,
    soft: u64,
    hard: u64,
    warnings: &mut Vec<QuotaWarning>,
) -> Result<(), VaultError> {
    if used > hard {
        return Err(VaultError::Quota {
            scope: QuotaScope::App,
            measure,
            would_be: used,
            limit: hard,
        });
    }
    if used > soft {
        warnings.push(QuotaWarning {
            scope: QuotaScope::App,
            measure,
            used,
            soft_limit: soft,
            hard_limit: hard,
        });
    }
    Ok(())
}

impl VaultOps {
    pub(crate) fn new(
        state: StateFs,
        keys: Arc<keymintd::RemoteKeyMint>,
        policy: Arc<PolicyEngine>,
        markers: Markers,
    ) -> VaultOps {
        // Per-app figures are checked here, per subject; the vault's own
        // per-app limit is set to the per-user one so it never binds first.
        let per_user = VaultLimits::default().per_user;
        let limits = VaultLimits {
            per_app: per_user,
            per_user,
        };
        VaultOps {
            vault: Vault::new(state, keys, Arc::new(Decided), limits),
            policy,
            markers,
            puts: Mutex::new(()),
        }
    }

    /// The caller's usage in `sid`'s user's vault, and the current size of
    /// entry `name` (if any).
    fn usage(&self, s: &Subject, sid: SessionId, name: &str) -> Result<(Usage, u64), VaultError> {
        let mut u = Usage::default();
        let mut old = 0;
        for n in self.vault.list(s, sid)? {
            let len = (n.len() + self.vault.get(s, sid, &n)?.len()) as u64;
            u.entries += 1;
            u.bytes += len;
            if n == name {
                old = len;
            }
        }
        Ok((u, old))
    }

    fn put(
        &self,
        s: &Subject,
        sid: SessionId,
        name: &str,
        value: &[u8],
    ) -> Result<Value, WireError> {
        let _one_at_a_time = self.puts.lock().unwrap_or_else(PoisonError::into_inner);
        let limits: QuotaLimits = self.policy.policy().vault_quota(s);
        let (before, old) = self.usage(s, sid, name)?;
        let entries = before.entries + u64::from(old == 0);
        let bytes = before.bytes.saturating_sub(old) + (name.len() + value.len()) as u64;
        let mut warnings = Vec::new();
        check(
            QuotaMeasure::Entries,
            entries,
            limits.soft_count,
            limits.hard_count,
            &mut warnings,
        )?;
        check(
            QuotaMeasure::Bytes,
            bytes,
            limits.soft_bytes,
            limits.hard_bytes,
            &mut warnings,
        )?;
        let out = self.vault.put(s, sid, name, value)?;
        // The vault's per-app figures duplicate ours; keep its per-user ones.
        warnings.extend(
            out.warnings
                .into_iter()
                .filter(|w| w.scope == QuotaScope::User),
        );
        let app = s.app_namespace();
        if let Err(e) = self.markers.line(&put_marker(&app, name)) {
            eprintln!("keystored: cannot write the put marker: {e}");
        }
        let texts = warnings
            .iter()
            .map(|w| {
                eprintln!("keystored: vault warning for {s}: {w}");
                Value::Text(w.to_string())
            })
            .collect();
        Ok(Args::new()
            .with("warnings", Value::Array(texts))
            .into_value())
    }

    /// One `vault.*` op.
    pub(crate) fn handle(&self, s: &Subject, op: &str, a: &Args) -> Result<Value, WireError> {
        let allowed: &[&str] = match op {
            "vault.put" => &["sid", "name", "value"],
            "vault.get" | "vault.del" => &["sid", "name"],
            "vault.list" => &["sid"],
            other => return Err(WireError::unknown_op(other)),
        };
        a.only(allowed)?;
        let sid: SessionId = a.parse("sid")?;
        let name = match op {
            "vault.list" => "",
            _ => a.text("name")?,
        };
        let value = match op {
            "vault.put" => a.bytes("value")?,
            _ => &[],
        };
        let target = format!("vault:{}", s.app_namespace());
        self.policy.authorize(s, Capability::VaultUse, &target)?;
        let _decision = Decision::enter(s, Capability::VaultUse, target);
        match op {
            "vault.put" => self.put(s, sid, name, value),
            "vault.get" => {
                let mut v = self.vault.get(s, sid, name)?;
                Ok(Args::new()
                    .with("value", Value::Bytes(std::mem::take(&mut *v)))
                    .into_value())
            }
            "vault.del" => {
                self.vault.delete(s, sid, name)?;
                Ok(Value::Map(Vec::new()))
            }
            _ => {
                let names = self
                    .vault
                    .list(s, sid)?
                    .into_iter()
                    .map(Value::Text)
                    .collect();
                Ok(Args::new().with("names", Value::Array(names)).into_value())
            }
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
