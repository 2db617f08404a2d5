//! For every capability: one test where it is granted (allow, exact audit
//! line) and one where it is not (`Denied`, `EPERM`, exact audit line).
//! Capability names are spelled out here, not taken from the code under
//! test, so a renamed stable name fails these tests.

use crate::common::{engine, line, subject};
use nexus_core::{Authorizer, AuthzError, Capability, Coded, ErrorCode};

fn assert_allow(cap: Capability, name: &str, who: &str) {
    let (engine, sink) = engine();
    let target = format!("target-of-{name}");
    engine.authorize(&subject(who), cap, &target).unwrap();
    assert_eq!(
        sink.lines().unwrap(),
        vec![line(who, name, &target, "allow", "granted")]
    );
}

fn assert_deny(cap: Capability, name: &str, who: &str) {
    let (engine, sink) = engine();
    let target = format!("target-of-{name}");
    let err = engine.authorize(&subject(who), cap, &target).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);
    assert_eq!(
        err,
        AuthzError::Denied {
            subject: who.to_string(),
            capability: cap
        }
    );
    assert_eq!(
        sink.lines().unwrap(),
        vec![line(who, name, &target, "deny", "not_granted")]
    );
}

/// App-grantable capabilities are allowed to an app that holds them and
/// denied to one that does not; system-only ones are allowed to a system
/// subject that holds them and denied to a system subject that does not.
macro_rules! capability_tests {
    ($($allow:ident, $deny:ident, $cap:ident, $name:literal, $holder:expr, $lacker:expr;)*) => {
        $(
            #[test]
            fn $allow() {
                assert_allow(Capability::$cap, $name, $holder);
            }

            #[test]
            fn $deny() {
                assert_deny(Capability::$cap, $name, $lacker);
            }
        )*

        /// The stable name each test pair spells out. Fails to compile when
        /// a capability is added without a test pair above (no wildcard).
        fn tested_name(c: Capability) -> &'static str {
            match c {
                $(Capability::$cap => $name,)*
            }
        }

        #[test]
        fn capability_tests_cover_all() {
            let tested = [$(Capability::$cap),*];
            assert_eq!(tested.len(), Capability::ALL.len());
            for c in Capability::ALL {
                assert!(tested.contains(&c), "{c} has no test pair");
                assert_eq!(tested_name(c), c.as_str());
            }
        }
    };
}

const APP: &str = "app:com.example.granted";
const APP_EMPTY: &str = "app:com.example.empty";
const SYS: &str = "system:granted";
const SYS_EMPTY: &str = "system:empty";

capability_tests! {
    allow_key_create, test_reject_key_create_not_granted, KeyCreate, "identity.key.create", APP, APP_EMPTY;
    allow_key_rotate, test_reject_key_rotate_not_granted, KeyRotate, "identity.key.rotate", APP, APP_EMPTY;
    allow_key_revoke, test_reject_key_revoke_not_granted, KeyRevoke, "identity.key.revoke", APP, APP_EMPTY;
    allow_key_sign, test_reject_key_sign_not_granted, KeySign, "identity.key.sign", APP, APP_EMPTY;
    allow_key_seal, test_reject_key_seal_not_granted, KeySeal, "identity.key.seal", APP, APP_EMPTY;
    allow_key_decrypt, test_reject_key_decrypt_not_granted, KeyDecrypt, "identity.key.decrypt", APP, APP_EMPTY;
    allow_key_export, test_reject_key_export_not_granted, KeyExport, "identity.key.export", APP, APP_EMPTY;
    allow_key_delete, test_reject_key_delete_not_granted, KeyDelete, "identity.key.delete", APP, APP_EMPTY;
    allow_key_import, test_reject_key_import_not_granted, KeyImport, "identity.key.import", APP, APP_EMPTY;
    allow_attest, test_reject_attest_not_granted, Attest, "identity.attest", APP, APP_EMPTY;
    allow_trust_write, test_reject_trust_write_not_granted, TrustWrite, "identity.trust.write", SYS, SYS_EMPTY;
    allow_vault_use, test_reject_vault_use_not_granted, VaultUse, "identity.vault.use", APP, APP_EMPTY;
    allow_user_admin, test_reject_user_admin_not_granted, UserAdmin, "identity.user.admin", SYS, SYS_EMPTY;
    allow_bundle_install, test_reject_bundle_install_not_granted, BundleInstall, "identity.bundle.install", APP, APP_EMPTY;
    allow_update_stage, test_reject_update_stage_not_granted, UpdateStage, "identity.update.stage", SYS, SYS_EMPTY;
    allow_artifact_force, test_reject_artifact_force_not_granted, ArtifactForce, "identity.artifact.force", SYS, SYS_EMPTY;
}

#[test]
fn test_reject_system_only_capabilities_for_app_holding_everything_else() {
    // The best-provisioned app still cannot reach a system-only capability.
    let (engine, sink) = engine();
    for cap in Capability::ALL.into_iter().filter(|c| c.is_system_only()) {
        let err = engine.authorize(&subject(APP), cap, "t").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Eperm);
    }
    let lines = sink.lines().unwrap();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        line(APP, "identity.trust.write", "t", "deny", "not_granted")
    );
    assert_eq!(
        lines[1],
        line(APP, "identity.user.admin", "t", "deny", "not_granted")
    );
    assert_eq!(
        lines[2],
        line(APP, "identity.update.stage", "t", "deny", "not_granted")
    );
    assert_eq!(
        lines[3],
        line(APP, "identity.artifact.force", "t", "deny", "not_granted")
    );
}

#[test]
fn test_reject_unknown_subject_for_every_capability() {
    // Deny by default: subjects without an entry get nothing, including a
    // bare uid and a system name the file does not list.
    let (engine, sink) = engine();
    let strangers = ["app:com.example.stranger", "uid:1000", "system:nobody"];
    for who in strangers {
        for cap in Capability::ALL {
            let err = engine.authorize(&subject(who), cap, "t").unwrap_err();
            assert_eq!(err.code(), ErrorCode::Eperm);
        }
    }
    let lines = sink.lines().unwrap();
    assert_eq!(lines.len(), strangers.len() * Capability::ALL.len());
    let mut i = 0;
    for who in strangers {
        for cap in Capability::ALL {
            assert_eq!(
                lines[i],
                line(who, cap.as_str(), "t", "deny", "unknown_subject")
            );
            i += 1;
        }
    }
}

#[test]
fn every_decision_is_audited_in_order() {
    let (engine, sink) = engine();
    let calls = 1000;
    for i in 0..calls {
        let who = if i % 2 == 0 { APP } else { APP_EMPTY };
        let _ = engine.authorize(&subject(who), Capability::KeySign, &format!("k{i}"));
    }
    let lines = sink.lines().unwrap();
    assert_eq!(lines.len(), calls);
    assert_eq!(
        lines[998],
        line(APP, "identity.key.sign", "k998", "allow", "granted")
    );
    assert_eq!(
        lines[999],
        line(
            APP_EMPTY,
            "identity.key.sign",
            "k999",
            "deny",
            "not_granted"
        )
    );
}

#[test]
fn target_cannot_forge_a_second_line() {
    let (engine, sink) = engine();
    let target = "k\n{\"decision\":\"allow\"}";
    let _ = engine.authorize(&subject(APP_EMPTY), Capability::KeySign, target);
    let lines = sink.lines().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].matches('\n').count(), 1);
    assert_eq!(
        lines[0],
        line(
            APP_EMPTY,
            "identity.key.sign",
            "k\\n{\\\"decision\\\":\\\"allow\\\"}",
            "deny",
            "not_granted"
        )
    );
}
