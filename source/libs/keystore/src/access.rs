//! Who may touch which key.
//!
//! Rules, checked before any record is read (so a refused caller learns
//! nothing about whether a key exists):
//! - Each subject owns one key namespace (`Subject::key_namespace`): an
//!   app its app id, a bare uid `uid-<n>`, each system service its own
//!   `system.<name>`. Private operations (create, rotate, revoke, retire,
//!   sign, seal, unseal, export, delete) work only in the caller's own
//!   namespace, then need the operation's capability from the
//!   [`Authorizer`], with target `app/purpose/name`. A key a service owns
//!   is therefore usable by that service alone: every other subject,
//!   `system:admin` included, is refused.
//! - Public reads (list, describe, public key, verify) work in the
//!   caller's own namespace; system subjects may read any namespace's
//!   public metadata (attestd needs apps' public keys). They need no
//!   capability.
//! - The reserved namespaces (`system`, `system.<name>`, `uid-<n>`) belong
//!   only to the kind of subject that owns them, even if another subject's
//!   namespace were to be spelled that way; the bare `system` namespace,
//!   once shared by every system service, belongs to no one.

use crate::error::KeystoreError;
use crate::model::KeyName;
use nexus_core::{AppId, Authorizer, Capability, Subject};

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
    owner(subject, &key.app)?;
    authz.authorize(subject, cap, &key.to_string())?;
    Ok(())
}

/// `app` must be the caller's own namespace (no capability asked).
pub(crate) fn owner(subject: &Subject, app: &AppId) -> Result<(), KeystoreError> {
    if subject.owns_key_namespace(app) {
        Ok(())
    } else {
        Err(refused(subject, app))
    }
}

/// The caller's own namespace, for figures about it (usage).
pub(crate) fn own(subject: &Subject) -> Result<AppId, KeystoreError> {
    let ns = subject.key_namespace();
    owner(subject, &ns)?;
    Ok(ns)
}

/// Namespace rule for a public read of `app`'s keys.
pub(crate) fn public(subject: &Subject, app: &AppId) -> Result<(), KeystoreError> {
    if subject.is_system() || subject.owns_key_namespace(app) {
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
        // Reserved app ids no longer parse; build them directly to keep
        // testing the keystore's own refusal (defence in depth).
        if let Some(app) = x.strip_prefix("forged:") {
            return Subject::App(AppId::new(app).unwrap());
        }
        x.parse().unwrap()
    }

    fn k(app: &str) -> KeyName {
        KeyName::parse(app, "p", "n").unwrap()
    }

    #[test]
    fn own_namespace_only_for_private_ops() {
        for (subj, app) in [
            ("app:com.a", "com.a"),
            ("uid:7", "uid-7"),
            ("system:attestd", "system.attestd"),
            ("system:admin", "system.admin"),
        ] {
            assert!(
                private(&s(subj), &Allow, Capability::KeySign, &k(app)).is_ok(),
                "{subj} {app}"
            );
        }
        for (subj, app) in [
            ("app:com.a", "com.b"),
            ("system:attestd", "com.a"),
            ("system:admin", "system.attestd"),
            ("system:selftest", "system.attestd"),
            ("system:attestd", "system"),
            ("system:admin", "system"),
            ("forged:system", "system"),
            ("forged:system.attestd", "system.attestd"),
            ("forged:uid-7", "uid-7"),
            ("uid:7", "uid-8"),
        ] {
            let e = private(&s(subj), &Allow, Capability::KeySign, &k(app)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Eperm, "{subj} {app}");
        }
    }

    #[test]
    fn system_reads_every_namespace() {
        let app = AppId::new("com.a").unwrap();
        let attestd = AppId::new("system.attestd").unwrap();
        assert!(public(&s("system:attestd"), &app).is_ok());
        assert!(public(&s("system:admin"), &attestd).is_ok());
        assert!(public(&s("app:com.a"), &app).is_ok());
        assert_eq!(
            public(&s("app:com.b"), &app).unwrap_err().code(),
            ErrorCode::Eperm
        );
        assert_eq!(
            public(&s("app:com.b"), &attestd).unwrap_err().code(),
            ErrorCode::Eperm
        );
        assert_eq!(
            public(&s("forged:system"), &AppId::system())
                .unwrap_err()
                .code(),
            ErrorCode::Eperm
        );
    }
}
