//! Deleting keys: record and material gone, quota and name freed, a
//! damaged record deletable, the owner alone; and the listing that names
//! damaged records instead of failing.

use crate::common::{durable, expect_code, key, subject, volatile};
use keymint::Algorithm;
use keystore::{KeySelector, QuotaSource, RevokeScope};
use keystore_v1_1_host::{AllowAll, DenyAll};
use nexus_core::{ErrorCode, QuotaLimits, Subject};
use std::sync::Arc;

#[test]
fn delete_frees_quota_and_name_and_the_old_key_is_gone() {
    let limits = QuotaLimits {
        soft_bytes: 1 << 20,
        hard_bytes: 1 << 20,
        soft_count: 2,
        hard_count: 2,
    };
    let quota: Arc<dyn QuotaSource> = Arc::new(move |_: &Subject| limits);
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), quota);
    let ks = &st.store;
    let a = subject("app:com.a");
    let k1 = key("com.a", "sign", "k1");
    let k2 = key("com.a", "sign", "k2");
    let k3 = key("com.a", "sign", "k3");
    ks.create(&a, &AllowAll, &k1, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &k2, Algorithm::Ed25519).unwrap();
    let old = ks.sign(&a, &AllowAll, &k1, b"m").unwrap();
    // Revoked keys used to count against the quota forever.
    ks.revoke(&a, &AllowAll, &k1, RevokeScope::Key).unwrap();
    expect_code(
        ks.create(&a, &AllowAll, &k3, Algorithm::Ed25519),
        ErrorCode::Edquota,
    );
    expect_code(
        ks.create(&a, &AllowAll, &k1, Algorithm::Ed25519),
        ErrorCode::Ealready,
    );
    let (before, _) = ks.usage(&a).unwrap();
    ks.delete(&a, &AllowAll, &k1).unwrap();
    let (after, _) = ks.usage(&a).unwrap();
    assert_eq!(after.keys, before.keys - 1);
    assert!(after.bytes < before.bytes);
    let file = st
        .state
        .host_path(&statefs::StatePath::parse("state:/keystore/com.a/sign/k1").unwrap());
    assert!(!file.unwrap().exists(), "the record is still on disk");
    expect_code(ks.describe(&a, &k1), ErrorCode::Enoent);
    expect_code(ks.delete(&a, &AllowAll, &k1), ErrorCode::Enoent);
    // The quota and the name are free again; the new key is a new key.
    ks.create(&a, &AllowAll, &k3, Algorithm::Ed25519).unwrap();
    ks.delete(&a, &AllowAll, &k3).unwrap();
    let fresh = ks.create(&a, &AllowAll, &k1, Algorithm::Ed25519).unwrap();
    assert_ne!(fresh.value.versions[0].kid, Some(old.kid));
    expect_code(
        ks.verify(&a, &k1, KeySelector::Kid(old.kid), b"m", &old.signature),
        ErrorCode::Enoent,
    );
    // An active key deletes too, and what it sealed is gone with it.
    let d = key("com.a", "seal", "d");
    ks.delete(&a, &AllowAll, &k2).unwrap();
    ks.create(&a, &AllowAll, &d, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &d, b"", b"secret").unwrap();
    ks.delete(&a, &AllowAll, &d).unwrap();
    ks.create(&a, &AllowAll, &d, Algorithm::XChaCha20Poly1305)
        .unwrap();
    expect_code(
        ks.unseal(&a, &AllowAll, &d, b"", &sealed.sealed),
        ErrorCode::Eio,
    );
    // Usage agrees with what is on disk after all of that.
    let reopened = durable(dir.path(), Arc::new(move |_: &Subject| limits));
    assert_eq!(reopened.store.usage(&a).unwrap().0, ks.usage(&a).unwrap().0);
}

#[test]
fn test_reject_delete_without_capability_or_of_another_namespace_with_eperm() {
    let (st, _) = volatile();
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let msg = expect_code(ks.delete(&a, &DenyAll, &k), ErrorCode::Eperm);
    assert!(msg.contains("identity.key.delete"), "{msg}");
    expect_code(
        ks.delete(&subject("app:com.b"), &AllowAll, &k),
        ErrorCode::Eperm,
    );
    let attestd = subject("system:attestd");
    let dk = key("system.attestd", "device-attest", "device");
    ks.create(&attestd, &AllowAll, &dk, Algorithm::Ed25519)
        .unwrap();
    let msg = expect_code(
        ks.delete(&subject("system:admin"), &AllowAll, &dk),
        ErrorCode::Eperm,
    );
    assert!(msg.contains("belong to system:attestd"), "{msg}");
    ks.describe(&attestd, &dk).unwrap();
    ks.describe(&a, &k).unwrap();
}

#[test]
fn a_damaged_record_is_listed_apart_and_can_be_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(keystore::DefaultQuota));
    let ks = &st.store;
    let a = subject("app:com.a");
    let good = key("com.a", "sign", "good");
    let bad = key("com.a", "sign", "bad");
    ks.create(&a, &AllowAll, &good, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &bad, Algorithm::Ed25519).unwrap();
    let file = st
        .state
        .host_path(&statefs::StatePath::parse("state:/keystore/com.a/sign/bad").unwrap())
        .unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();

    let listing = ks.list_keys(&a, &a.key_namespace()).unwrap();
    assert_eq!(listing.keys.len(), 1);
    assert_eq!(listing.keys[0].name, good);
    assert_eq!(listing.damaged.len(), 1);
    let d = &listing.damaged[0];
    assert_eq!(d.name, bad);
    assert_eq!(d.record, "state:/keystore/com.a/sign/bad");
    assert!(
        d.error
            .to_string()
            .contains("state:/keystore/com.a/sign/bad"),
        "{}",
        d.error
    );
    // The owner deletes it; the name is free again.
    ks.delete(&a, &AllowAll, &bad).unwrap();
    assert!(ks
        .list_keys(&a, &a.key_namespace())
        .unwrap()
        .damaged
        .is_empty());
    ks.create(&a, &AllowAll, &bad, Algorithm::Ed25519).unwrap();
    assert_eq!(ks.list_keys(&a, &a.key_namespace()).unwrap().keys.len(), 2);
}
