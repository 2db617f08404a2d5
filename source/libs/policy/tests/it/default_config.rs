//! The policy shipped for the running system (`config/policy.toml`) loads
//! and says what its comments say.

use nexus_core::{Authorizer, Capability, ManualClock, Subject};
use policy::{MemorySink, Policy, PolicyEngine};
use std::path::PathBuf;
use std::sync::Arc;

fn shipped() -> Policy {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml");
    Policy::load(&path).unwrap()
}

fn s(x: &str) -> Subject {
    x.parse().unwrap()
}

#[test]
fn default_policy_loads_with_expected_subjects() {
    let p = shipped();
    let names: Vec<String> = p.subjects().map(|s| s.to_string()).collect();
    for want in [
        "system:keystored",
        "system:attestd",
        "system:identityd",
        "system:bundlemgrd",
        "system:updated",
        "system:selftest",
        "system:admin",
        "app:com.example.alpha",
        "app:com.example.beta",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing");
    }
    assert_eq!(p.subject_for_uid(0), s("system:admin"));
    assert_eq!(p.subject_for_uid(1000), Subject::Uid(1000));
}

#[test]
fn default_policy_apps_have_key_vault_attest_but_nothing_system_only() {
    let p = shipped();
    for app in ["app:com.example.alpha", "app:com.example.beta"] {
        let caps = p.capabilities(&s(app));
        for want in [
            Capability::KeyCreate,
            Capability::KeySign,
            Capability::VaultUse,
            Capability::Attest,
        ] {
            assert!(caps.contains(&want), "{app} lacks {want}");
        }
        assert!(caps.iter().all(|c| !c.is_system_only()), "{app}: {caps:?}");
    }
}

#[test]
fn default_policy_admin_holds_everything_and_apps_cannot_write_trust() {
    let p = shipped();
    assert_eq!(p.capabilities(&s("system:admin")), Capability::ALL.to_vec());
    let sink = MemorySink::new();
    let engine = PolicyEngine::new(p, Box::new(sink.clone()), Arc::new(ManualClock::new(1)));
    let admin = engine.policy().subject_for_uid(0);
    engine
        .authorize(&admin, Capability::TrustWrite, "kid")
        .unwrap();
    assert!(engine
        .authorize(&s("app:com.example.alpha"), Capability::TrustWrite, "kid")
        .is_err());
    assert!(engine
        .authorize(&Subject::Uid(1000), Capability::KeySign, "k")
        .is_err());
    assert_eq!(sink.lines().unwrap().len(), 3);
}

#[test]
fn default_policy_attestd_can_sign_with_device_key() {
    let p = shipped();
    assert!(p
        .decide(&s("system:attestd"), Capability::KeySign)
        .is_allow());
    assert!(!p
        .decide(&s("system:attestd"), Capability::TrustWrite)
        .is_allow());
}
