//! Who may touch which key.
//!
//! Rules, checked before any record is read (so a refused caller learns
//! nothing about whether a key exists):
//! - Private operations (create, rotate, revoke, retire, sign, seal,
//!   unseal, export) work only in the caller's own namespace
//!   (`Subject::app_namespace`), then need the operation's capability from
//!   the [`Authorizer`], with target `app/purpose/name`.
//! - Public reads (list, describe, public key, verify) work in the caller's
//!   own namespace; system subjects may read any app's public metadata
//!   (attestd needs it). They need no capability.
//! - The reserved `system` namespace belongs to system subjects only, even
//!   if some other subject's namespace were to be spelled `system`.

use crate::error::KeystoreError;
use crate::model::KeyName;
use nexus_core::{AppId, Authorizer, Capability, Subject};

fn own_namespace(subject: &Subject, app: &AppId) -> bool {
    let ns = subject.app_namespace();
    &ns == app && (subject.is_system() || !ns.is_system())
}

fn refused(subject: &Subject, app: &AppId) -> KeystoreError {
    KeystoreError::Namespace {
        subject: subject.to_string(),
        app: app.to_string(),
    }
}

/// Namespace rule, then the authorizer, for a private operation.
pub(crate) fn private(
    subject: &Subject,
    authz: &dyn Authorizer,
    cap: Capability,
    key: &KeyName,
) -> Result<(), KeystoreError> {
    if !own_namespace(subject, &key.app) {
        return Err(refused(subject, &key.app));
    }
    authz.authorize(subject, cap, &key.to_string())?;
    Ok(())
}

/// The caller's own namespace, for figures about it (usage).
pub(crate) fn own(subject: &Subject) -> Result<AppId, KeystoreError> {
    let ns = subject.app_namespace();
    if own_namespace(subject, &ns) {
        Ok(ns)
    } else {
        Err(refused(subject, &ns))
    }
}

/// Namespace rule for a public read of `app`'s keys.
pub(crate) fn public(subject: &Subject, app: &AppId) -> Result<(), KeystoreError> {
    if subject.is_system() || own_namespace(subject, app) {
        Ok(())
    } else {
        Err(refused(subject, app))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{AuthzError, Coded, ErrorCode};

    struct Allow;
    impl Authorizer for Allow {
        fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
            Ok(())
        }
    }

    fn s(x: &str) -> Subject {
        // `app:system` no longer parses; build it directly to keep testing
        // the keystore's own refusal (defence in depth).
        if x == "app:system" {
            return Subject::App(AppId::system());
        }
        x.parse().unwrap()
    }

    fn k(app: &str) -> KeyName {
        KeyName::parse(app, "p", "n").unwrap()
    }

    #[test]
    fn own_namespace_only_for_private_ops() {
        assert!(private(&s("app:com.a"), &Allow, Capability::KeySign, &k("com.a")).is_ok());
        assert!(private(&s("uid:7"), &Allow, Capability::KeySign, &k("uid-7")).is_ok());
        assert!(private(
            &s("system:attestd"),
            &Allow,
            Capability::KeySign,
            &k("system")
        )
        .is_ok());
        for (subj, app) in [
            ("app:com.a", "com.b"),
            ("system:attestd", "com.a"),
            ("app:system", "system"),
            ("uid:7", "uid-8"),
        ] {
            let e = private(&s(subj), &Allow, Capability::KeySign, &k(app)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Eperm, "{subj} {app}");
        }
    }

    #[test]
    fn system_reads_every_namespace() {
        let app = AppId::new("com.a").unwrap();
        assert!(public(&s("system:attestd"), &app).is_ok());
        assert!(public(&s("app:com.a"), &app).is_ok());
        assert_eq!(
            public(&s("app:com.b"), &app).unwrap_err().code(),
            ErrorCode::Eperm
        );
        assert_eq!(
            public(&s("app:system"), &AppId::system())
                .unwrap_err()
                .code(),
            ErrorCode::Eperm
        );
    }
}
