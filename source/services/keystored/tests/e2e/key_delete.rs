//! `key.delete` over the wire: the record and its material go, the quota
//! and the name are freed, the decision is audited; without the
//! capability, or for another namespace's key, `EPERM` and nothing goes.

use crate::common::{args, field, text, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use wire::{Args, Value};

fn key(purpose: &str, name: &str, more: &[(&'static str, Value)]) -> Args {
    let mut v = vec![("purpose", text(purpose)), ("name", text(name))];
    v.extend_from_slice(more);
    args(&v)
}

#[test]
fn delete_removes_the_key_frees_its_name_and_is_audited() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    let made = alpha
        .call(
            "key.create",
            &key("signing", "old", &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    let old_kid = field(&made, "kid");
    alpha
        .call("key.revoke", &key("signing", "old", &[]))
        .unwrap();
    // A revoked name used to stay taken forever.
    let e = alpha
        .call(
            "key.create",
            &key("signing", "old", &[("alg", text("Ed25519"))]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready);
    let record = s.state().join("keystore/com.example.alpha/signing/old");
    assert!(record.is_file());
    assert_eq!(
        alpha
            .call("key.delete", &key("signing", "old", &[]))
            .unwrap(),
        Value::Map(vec![])
    );
    assert!(!record.exists());
    let e = alpha
        .call("key.show", &key("signing", "old", &[]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    let e = alpha
        .call("key.delete", &key("signing", "old", &[]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    let again = alpha
        .call(
            "key.create",
            &key("signing", "old", &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    assert_ne!(field(&again, "kid"), old_kid);
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.alpha","capability":"identity.key.delete","target":"com.example.alpha/signing/old","decision":"allow""#),
        "{audit}"
    );
    // stderr is read by a thread of its own: wait for the line.
    s.keystored
        .wait_stderr("app:com.example.alpha deleted key com.example.alpha/signing/old");
}

#[test]
fn test_reject_delete_without_the_capability_or_of_anothers_key_with_eperm() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    let mut beta = s.keystored.connect(BETA);
    alpha
        .call(
            "key.create",
            &key("signing", "k", &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    beta.call(
        "key.create",
        &key("signing", "k", &[("alg", text("Ed25519"))]),
    )
    .unwrap();
    // beta lacks identity.key.delete.
    let e = beta
        .call("key.delete", &key("signing", "k", &[]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    // alpha holds it, but only for its own keys.
    let e = alpha
        .call(
            "key.delete",
            &key("signing", "k", &[("app", text("com.example.beta"))]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    beta.call("key.show", &key("signing", "k", &[])).unwrap();
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.beta","capability":"identity.key.delete","target":"com.example.beta/signing/k","decision":"deny""#),
        "{audit}"
    );
    assert!(
        audit.contains(r#""subject":"app:com.example.alpha","capability":"key.delete","target":"com.example.beta/signing/k","decision":"deny","reason":"other_namespace""#),
        "{audit}"
    );
}
