//! The `trust.*` ops over [`trust::TrustStore`]: system roots from
//! `--trust-dir`, installed roots and distrust entries in the state.
//!
//! Invariants:
//! - Writes (add, update, rm, distrust) go through the store's own checks: the
//!   policy engine's `identity.trust.write` (system-only, audited), then
//!   the store's system-caller and `updates`-scope rules. Reads need no
//!   capability.
//! - `trust.add` parses what it is given into a [`TrustRoot`] (strict key
//!   parsing: canonical, not of small order) and answers the full kid of
//!   that key, so the caller can compare it out of band.
//! - Every read loads the store afresh. A damaged record is never left
//!   out silently: `trust.list` names it beside every intact root, and
//!   what depends on it (`trust.show` of its kid, `trust.add` over it) is
//!   `EIO` naming it.

use crate::handler::Keystored;
use base64::Engine;
use nexus_core::{ErrorCode, Label, Subject};
use nexus_proto::{
    self as proto, Bytes, Empty, KidReply, Op, RootInfo, RootSource, RootStatus, TrustAdd,
    TrustAddArgs, TrustAddForm, TrustDistrust, TrustList, TrustListReply, TrustRm, TrustShow,
    TrustUpdate, TrustUpdateArgs,
};
use trust::minisign::MinisignPublicKey;
use trust::{Origin, RootEntry, RootUpdate, Scope, TrustRoot};
use wire::{ArgError, Request, Value, WireError};

/// `not_after` of a root added without one: no expiry (the largest value
/// a root file holds). Distrust or remove a root to end it.
pub(crate) const NO_EXPIRY: u64 = i64::MAX.unsigned_abs();

fn invalid(name: &str) -> ArgError {
    ArgError::Invalid(name.to_owned())
}

/// A minisign public key (file text or its base64 line), or a raw 32-byte
/// Ed25519 key in base64.
fn parse_key(
    text: &str,
    label: Label,
    scopes: &[Scope],
    nb: u64,
    na: u64,
) -> Result<TrustRoot, WireError> {
    if let Ok(pk) = MinisignPublicKey::parse(text.as_bytes()) {
        return Ok(TrustRoot::from_minisign(&pk, label, scopes, nb, na)?);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| invalid("public_key"))?;
    Ok(TrustRoot::new(&raw, None, label, scopes, nb, na)?)
}

fn parse_add(a: TrustAddArgs, now: u64) -> Result<TrustRoot, WireError> {
    match a.form()? {
        TrustAddForm::RootFile(text) => Ok(TrustRoot::parse(text.as_bytes())?),
        TrustAddForm::Key {
            public_key,
            label,
            scopes,
            not_before,
            not_after,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s).ok_or_else(|| invalid("scopes")))
                .collect::<Result<Vec<_>, _>>()?;
            let nb = not_before.unwrap_or(now);
            let na = not_after.unwrap_or(NO_EXPIRY);
            parse_key(&public_key, label, &scopes, nb, na)
        }
    }
}

/// `trust.update`'s arguments as a change: at least one field.
fn parse_update(a: TrustUpdateArgs) -> Result<RootUpdate, WireError> {
    let scopes = match a.scopes {
        Some(list) => Some(
            list.0
                .iter()
                .map(|s| Scope::parse(s).ok_or_else(|| invalid("scopes")))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let change = RootUpdate {
        label: a.label,
        scopes,
        not_before: a.not_before,
        not_after: a.not_after,
    };
    if change == RootUpdate::default() {
        return Err(WireError::new(
            ErrorCode::Einval,
            "nothing to update: give label, scopes, not_before or not_after",
        ));
    }
    Ok(change)
}

fn status(e: &RootEntry, now: u64) -> RootStatus {
    if e.distrusted {
        RootStatus::Distrusted
    } else if e.distrust_unknown {
        RootStatus::Damaged
    } else if now < e.root.not_before() {
        RootStatus::NotYetValid
    } else if now >= e.root.not_after() {
        RootStatus::Expired
    } else {
        RootStatus::Valid
    }
}

fn root_info(e: &RootEntry, now: u64, with_key: bool) -> RootInfo {
    RootInfo {
        kid: e.root.kid(),
        source: match e.origin {
            Origin::System => RootSource::System,
            Origin::Installed => RootSource::Installed,
        },
        scopes: e.root.scopes().map(|s| s.as_str().to_owned()).collect(),
        label: e.root.label().as_str().to_owned(),
        not_before: e.root.not_before(),
        not_after: e.root.not_after(),
        status: status(e, now),
        public_key: with_key.then(|| Bytes(e.root.key().to_bytes().to_vec())),
    }
}

impl Keystored {
    /// One `trust.*` op.
    pub(crate) fn trust_op(&self, s: &Subject, req: &Request) -> Result<Value, WireError> {
        let now = self.clock.now_unix();
        let authz: &dyn nexus_core::Authorizer = &*self.policy;
        match req.op() {
            TrustAdd::NAME => proto::serve::<TrustAdd>(req, |a| {
                let root = parse_add(a, now)?;
                let kid = self.trust.add_installed(s, authz, &root)?;
                Ok(KidReply { kid })
            }),
            TrustUpdate::NAME => proto::serve::<TrustUpdate>(req, |a| {
                let kid = a.kid;
                let change = parse_update(a)?;
                self.trust.update_installed(s, authz, &kid, &change)?;
                let snap = self.trust.load()?;
                let e = snap
                    .find(&kid)
                    .ok_or_else(|| WireError::new(ErrorCode::Eio, "updated root vanished"))?;
                Ok(root_info(e, now, false))
            }),
            TrustList::NAME => proto::serve::<TrustList>(req, |_| {
                let snap = self.trust.load()?;
                let roots = snap
                    .roots()
                    .iter()
                    .map(|e| root_info(e, now, false))
                    .collect();
                let damaged: Vec<String> =
                    snap.damaged().iter().map(|d| d.location.clone()).collect();
                Ok(TrustListReply {
                    roots,
                    damaged: (!damaged.is_empty()).then_some(damaged),
                })
            }),
            TrustShow::NAME => proto::serve::<TrustShow>(req, |a| {
                let snap = self.trust.load()?;
                if let Some(e) = snap.find(&a.kid) {
                    return Ok(root_info(e, now, true));
                }
                match snap.damaged_root(&a.kid) {
                    Some(d) => Err(trust::TrustError::from(d).into()),
                    None => Err(WireError::new(ErrorCode::Enoent, "no root with this kid")),
                }
            }),
            TrustRm::NAME => proto::serve::<TrustRm>(req, |a| {
                self.trust.remove_installed(s, authz, &a.kid)?;
                Ok(Empty {})
            }),
            TrustDistrust::NAME => proto::serve::<TrustDistrust>(req, |a| {
                self.trust.distrust(s, authz, &a.kid)?;
                Ok(Empty {})
            }),
            other => Err(WireError::unknown_op(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::Coded;
    use wire::Args;

    // A valid Ed25519 public key (RFC 8032 test 1).
    const KEY_B64: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    fn add(args: Args) -> Result<TrustRoot, WireError> {
        parse_add(proto::decode_args::<TrustAdd>(&args)?, 1000)
    }

    #[test]
    fn raw_key_defaults_to_now_and_no_expiry() {
        let r = add(Args::new()
            .with("public_key", KEY_B64)
            .with("label", "acme")
            .with("scopes", Value::Array(vec!["packages".into()])))
        .unwrap();
        assert_eq!(r.not_before(), 1000);
        assert_eq!(r.not_after(), NO_EXPIRY);
        assert!(r.allows(Scope::Packages) && !r.allows(Scope::Updates));
        // Its own root file parses back to the same kid.
        let again = add(Args::new().with("root_file", r.to_toml())).unwrap();
        assert_eq!(again.kid(), r.kid());
    }

    #[test]
    fn test_reject_malformed_add_arguments() {
        let base = || {
            Args::new()
                .with("public_key", KEY_B64)
                .with("label", "acme")
                .with("scopes", Value::Array(vec!["packages".into()]))
        };
        let cases = [
            base().with("public_key", "not base64!"),
            base().with("public_key", "AAAA"),
            // The identity point: small order, refused.
            base().with("public_key", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            base().with("label", "bad label"),
            base().with("scopes", Value::Array(vec!["everything".into()])),
            base().with("scopes", Value::Array(vec![])),
            base().with("not_before", 10u64).with("not_after", 10u64),
            base().with("extra", 1u64),
            base().with("root_file", "format = 1\n"),
            Args::new().with("root_file", "format = 2\n"),
            Args::new().with("root_file", Value::Bytes(vec![1])),
        ];
        for (i, args) in cases.into_iter().enumerate() {
            let e = add(args).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Einval, "case {i}: {e}");
        }
        assert_eq!(
            proto::decode_args::<TrustShow>(&Args::new().with("kid", "abc"))
                .unwrap_err()
                .code(),
            ErrorCode::Einval
        );
    }
}
