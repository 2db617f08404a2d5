//! Isolation between apps, the system subjects' read access, and the
//! authorizer being asked (and obeyed) for every private operation.

use crate::common::{expect_code, key, subject, volatile};
use keymint::Algorithm;
use keystore::{KeyName, KeySelector, KeyStore, RevokeScope};
use keystore_v1_1_host::{AllowAll, DenyAll, Recording};
use nexus_core::{AppId, Authorizer, AuthzError, Capability, ErrorCode, Subject};

/// Every private operation on `k`, with the capability it needs.
fn private_ops(
    ks: &KeyStore,
    s: &Subject,
    z: &dyn Authorizer,
    k: &KeyName,
    sealed: &[u8],
) -> Vec<(Capability, Result<(), keystore::KeystoreError>)> {
    vec![
        (
            Capability::KeyCreate,
            ks.create(s, z, k, Algorithm::Ed25519).map(drop),
        ),
        (Capability::KeyRotate, ks.rotate(s, z, k).map(drop)),
        (
            Capability::KeyRevoke,
            ks.revoke(s, z, k, RevokeScope::Version(1)).map(drop),
        ),
        (
            Capability::KeyRevoke,
            ks.revoke(s, z, k, RevokeScope::Key).map(drop),
        ),
        (Capability::KeyRevoke, ks.retire(s, z, k, 1).map(drop)),
        (Capability::KeySign, ks.sign(s, z, k, b"m").map(drop)),
        (Capability::KeySeal, ks.seal(s, z, k, b"", b"x").map(drop)),
        (
            Capability::KeyDecrypt,
            ks.unseal(s, z, k, b"", sealed).map(drop),
        ),
        (
            Capability::KeyExport,
            ks.export_wrapped(s, z, k, None).map(drop),
        ),
        (Capability::KeyDelete, ks.delete(s, z, k)),
    ]
}

#[test]
fn test_reject_cross_app_access_with_eperm() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let b = subject("app:com.b");
    let k = key("com.a", "sign", "k");
    let d = key("com.a", "seal", "d");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &d, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sig = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    let sealed = ks.seal(&a, &AllowAll, &d, b"", b"x").unwrap().sealed;
    let rec = Recording::default();
    // An existing key and a missing one get the same answer: nothing leaks.
    let missing = key("com.a", "sign", "nope");
    for target in [&k, &d, &missing] {
        for (cap, r) in private_ops(ks, &b, &rec, target, &sealed) {
            let msg = expect_code(r, ErrorCode::Eperm);
            assert_eq!(msg, "app:com.b may not use keys of app com.a", "{cap}");
        }
        expect_code(ks.describe(&b, target), ErrorCode::Eperm);
        expect_code(ks.public_key(&b, target, None), ErrorCode::Eperm);
        expect_code(
            ks.verify(&b, target, KeySelector::Kid(sig.kid), b"m", &sig.signature),
            ErrorCode::Eperm,
        );
    }
    expect_code(ks.list(&b, &AppId::new("com.a").unwrap()), ErrorCode::Eperm);
    assert!(
        rec.asked().is_empty(),
        "authorizer asked about a foreign key"
    );
    // com.a's keys are intact and com.b's own namespace is empty.
    ks.verify(&a, &k, KeySelector::Kid(sig.kid), b"m", &sig.signature)
        .unwrap();
    assert!(ks.list(&b, &b.key_namespace()).unwrap().is_empty());
    // An app that calls itself "system" or "system.attestd" (only possible
    // without parsing) gets nothing of the service's.
    let sys = subject("system:attestd");
    let ak = key("system.attestd", "device-attest", "k");
    ks.create(&sys, &AllowAll, &ak, Algorithm::Ed25519).unwrap();
    for fake in ["system", "system.attestd"] {
        let fake = Subject::App(AppId::new(fake).unwrap());
        expect_code(ks.sign(&fake, &AllowAll, &ak, b"m"), ErrorCode::Eperm);
        expect_code(ks.describe(&fake, &ak), ErrorCode::Eperm);
        expect_code(ks.usage(&fake), ErrorCode::Eperm);
    }
}

#[test]
fn test_reject_a_services_key_to_every_other_subject_with_eperm() {
    let (st, _) = volatile();
    let ks = &st.store;
    let attestd = subject("system:attestd");
    let dk = key("system.attestd", "device-attest", "device");
    let data = key("system.attestd", "seal", "d");
    ks.create(&attestd, &AllowAll, &dk, Algorithm::Ed25519)
        .unwrap();
    ks.create(&attestd, &AllowAll, &data, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sig = ks.sign(&attestd, &AllowAll, &dk, b"m").unwrap();
    let sealed = ks
        .seal(&attestd, &AllowAll, &data, b"", b"x")
        .unwrap()
        .sealed;
    let rec = Recording::default();
    // Every other system subject, the administrator first, and any app:
    // every private operation is EPERM, and the authorizer is never asked
    // (holding every capability changes nothing).
    for other in [
        "system:admin",
        "system:selftest",
        "system:keystored",
        "app:com.a",
    ] {
        let other = subject(other);
        for target in [&dk, &data] {
            for (cap, r) in private_ops(ks, &other, &rec, target, &sealed) {
                let msg = expect_code(r, ErrorCode::Eperm);
                assert!(
                    msg.ends_with("(they belong to system:attestd)"),
                    "{cap}: {msg}"
                );
            }
        }
    }
    assert!(rec.asked().is_empty(), "{:?}", rec.asked());
    // The key is untouched, and system subjects still read its public half.
    let admin = subject("system:admin");
    let info = ks.describe(&admin, &dk).unwrap();
    assert_eq!((info.primary, info.versions.len()), (1, 1));
    ks.verify(&admin, &dk, KeySelector::Kid(sig.kid), b"m", &sig.signature)
        .unwrap();
    assert_eq!(
        ks.list(&admin, &dk.app).unwrap(),
        vec![dk.clone(), data.clone()]
    );
    // The shared `system` namespace of old belongs to no one.
    let old = key("system", "device-attest", "device");
    for s in ["system:attestd", "system:admin"] {
        expect_code(
            ks.create(&subject(s), &AllowAll, &old, Algorithm::Ed25519),
            ErrorCode::Eperm,
        );
    }
}

#[test]
fn system_reads_public_metadata_of_any_app_but_uses_only_its_own() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let sys = subject("system:attestd");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let sig = ks.sign(&a, &AllowAll, &k, b"m").unwrap();
    assert_eq!(ks.list(&sys, &k.app).unwrap(), vec![k.clone()]);
    assert_eq!(ks.describe(&sys, &k).unwrap(), ks.describe(&a, &k).unwrap());
    assert_eq!(ks.public_key(&sys, &k, None).unwrap().kid, sig.kid);
    ks.verify(&sys, &k, KeySelector::Kid(sig.kid), b"m", &sig.signature)
        .unwrap();
    for (_, r) in private_ops(ks, &sys, &AllowAll, &k, b"") {
        expect_code(r, ErrorCode::Eperm);
    }
    // In its own namespace the system subject has the full set.
    let ak = key("system.attestd", "device-attest", "k");
    ks.create(&sys, &AllowAll, &ak, Algorithm::Ed25519).unwrap();
    ks.sign(&sys, &AllowAll, &ak, b"statement").unwrap();
    // Apps may not read the system namespace.
    expect_code(ks.describe(&a, &ak), ErrorCode::Eperm);
}

struct Unavailable;
impl Authorizer for Unavailable {
    fn authorize(&self, _: &Subject, _: Capability, _: &str) -> Result<(), AuthzError> {
        Err(AuthzError::Unavailable("policy unreachable"))
    }
}

#[test]
fn test_reject_denied_by_authorizer_with_eperm() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "seal", "k");
    let fresh = key("com.a", "seal", "fresh");
    ks.create(&a, &AllowAll, &k, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &k, b"", b"x").unwrap().sealed;
    let before = ks.describe(&a, &k).unwrap();
    for target in [&k, &fresh] {
        for (cap, r) in private_ops(ks, &a, &DenyAll, target, &sealed) {
            let msg = expect_code(r, ErrorCode::Eperm);
            assert!(msg.contains(cap.as_str()), "{msg}");
        }
        // Fail closed when the policy cannot answer.
        for (_, r) in private_ops(ks, &a, &Unavailable, target, &sealed) {
            expect_code(r, ErrorCode::Eio);
        }
    }
    assert_eq!(
        ks.describe(&a, &k).unwrap(),
        before,
        "a denied operation changed the key"
    );
    expect_code(ks.describe(&a, &fresh), ErrorCode::Enoent);
}

#[test]
fn authorizer_is_asked_with_capability_and_target() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "seal", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &k, b"", b"x").unwrap().sealed;
    let rec = Recording::default();
    let ops = private_ops(ks, &a, &rec, &k, &sealed);
    let asked = rec.asked();
    assert_eq!(asked.len(), ops.len(), "one question per operation");
    for ((cap, _), (s, c, t)) in ops.iter().zip(&asked) {
        assert_eq!((s, c, t.as_str()), (&a, cap, "com.a/seal/k"));
    }
}
