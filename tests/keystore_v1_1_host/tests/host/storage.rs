//! Persistence, volatile mode, corruption, quotas and the deterministic
//! mode.

use crate::common::{durable, expect_code, key, subject, volatile, T0};
use keymint::{Algorithm, Entropy, KeyOps};
use keystore::{
    DefaultQuota, KeySelector, QuotaResource, RevokeScope, RECORD_MAGIC, RECORD_VERSION,
};
use keystore_v1_1_host::{AllowAll, Stack};
use nexus_core::{ErrorCode, ManualClock, QuotaLimits, Subject};
use statefs::{StateMode, StatePath};
use std::sync::Arc;

fn path(k: &str) -> StatePath {
    StatePath::parse(&format!("state:/keystore/{k}")).unwrap()
}

#[test]
fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let a = subject("app:com.a");
    let sk = key("com.a", "sign", "k");
    let dk = key("com.a", "seal", "k");
    let gone = key("com.a", "sign", "gone");
    let (sig1, sig2, sealed1, sealed2, before) = {
        let st = durable(dir.path(), Arc::new(DefaultQuota));
        let ks = &st.store;
        assert!(!ks.is_volatile());
        ks.create(&a, &AllowAll, &sk, Algorithm::Ed25519).unwrap();
        ks.create(&a, &AllowAll, &dk, Algorithm::XChaCha20Poly1305)
            .unwrap();
        ks.create(&a, &AllowAll, &gone, Algorithm::Ed25519).unwrap();
        let sig1 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
        let sealed1 = ks.seal(&a, &AllowAll, &dk, b"", b"one").unwrap();
        ks.rotate(&a, &AllowAll, &sk).unwrap();
        ks.rotate(&a, &AllowAll, &dk).unwrap();
        let sig2 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
        let sealed2 = ks.seal(&a, &AllowAll, &dk, b"", b"two").unwrap();
        ks.revoke(&a, &AllowAll, &gone, RevokeScope::Key).unwrap();
        let before: Vec<_> = [&sk, &dk, &gone]
            .iter()
            .map(|k| ks.describe(&a, k).unwrap())
            .collect();
        (sig1, sig2, sealed1, sealed2, before)
    };
    // A fresh statefs, keymint and keystore over the same directory.
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    assert!(
        !st.keymint.created_device_secret(),
        "device secret was re-created"
    );
    let ks = &st.store;
    let after: Vec<_> = [&sk, &dk, &gone]
        .iter()
        .map(|k| ks.describe(&a, k).unwrap())
        .collect();
    assert_eq!(before, after);
    assert_eq!(ks.list(&a, &a.app_namespace()).unwrap().len(), 3);
    ks.verify(&a, &sk, KeySelector::Kid(sig1.kid), b"m", &sig1.signature)
        .unwrap();
    ks.verify(&a, &sk, KeySelector::Kid(sig2.kid), b"m", &sig2.signature)
        .unwrap();
    assert_eq!(
        ks.unseal(&a, &AllowAll, &dk, b"", &sealed1.sealed)
            .unwrap()
            .plaintext
            .as_slice(),
        b"one"
    );
    assert_eq!(
        ks.unseal(&a, &AllowAll, &dk, b"", &sealed2.sealed)
            .unwrap()
            .plaintext
            .as_slice(),
        b"two"
    );
    let s3 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
    assert_eq!((s3.version, s3.kid), (2, sig2.kid));
    expect_code(ks.sign(&a, &AllowAll, &gone, b"m"), ErrorCode::Ekeyrevoked);
    // Usage is recounted from disk after the reopen.
    let (u, _) = ks.usage(&a).unwrap();
    assert_eq!(u.keys, 3);
    println!("reopen ok: 3 keys, {} bytes", u.bytes);
}

#[test]
fn volatile_mode_is_explicit() {
    let (st, _) = volatile();
    assert!(st.store.is_volatile());
    assert_eq!(st.store.mode(), StateMode::Volatile);
    let dir = tempfile::tempdir().unwrap();
    let d = durable(dir.path(), Arc::new(DefaultQuota));
    assert!(!d.store.is_volatile());
    assert!(matches!(d.store.mode(), StateMode::Durable(_)));
    // Volatile keys are real (they work) but nothing reaches the disk.
    let a = subject("app:com.a");
    st.store
        .create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k"),
            Algorithm::Ed25519,
        )
        .unwrap();
    assert!(st.state.host_path(&path("com.a/sign/k")).is_none());
    println!("modes: {} / {}", st.store.mode(), d.store.mode());
}

#[test]
fn test_reject_corrupted_record_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let ks = &st.store;
    let a = subject("app:com.a");
    let bad = key("com.a", "sign", "bad");
    let good = key("com.a", "sign", "good");
    ks.create(&a, &AllowAll, &bad, Algorithm::Ed25519).unwrap();
    ks.create(&a, &AllowAll, &good, Algorithm::Ed25519).unwrap();
    let sig = ks.sign(&a, &AllowAll, &bad, b"m").unwrap();
    let file = st.state.host_path(&path("com.a/sign/bad")).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(&file, &bytes).unwrap();
    // A record the keystore has cached is read again from disk only after
    // a restart (or an eviction): restart.
    drop(st);
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let ks = &st.store;

    expect_code(ks.describe(&a, &bad), ErrorCode::Eio);
    expect_code(ks.sign(&a, &AllowAll, &bad, b"m"), ErrorCode::Eio);
    expect_code(
        ks.verify(&a, &bad, KeySelector::Version(1), b"m", &sig.signature),
        ErrorCode::Eio,
    );
    expect_code(ks.rotate(&a, &AllowAll, &bad), ErrorCode::Eio);
    expect_code(
        ks.revoke(&a, &AllowAll, &bad, RevokeScope::Key),
        ErrorCode::Eio,
    );
    expect_code(ks.retire(&a, &AllowAll, &bad, 1), ErrorCode::Eio);
    expect_code(ks.export_wrapped(&a, &AllowAll, &bad, None), ErrorCode::Eio);
    // Create over a corrupt record is EIO too, never an overwrite.
    expect_code(
        ks.create(&a, &AllowAll, &bad, Algorithm::Ed25519),
        ErrorCode::Eio,
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "corrupt file was touched"
    );
    // Other keys keep working; the corrupt key is still listed.
    let s = ks.sign(&a, &AllowAll, &good, b"m").unwrap();
    ks.verify(&a, &good, KeySelector::Kid(s.kid), b"m", &s.signature)
        .unwrap();
    ks.rotate(&a, &AllowAll, &good).unwrap();
    assert_eq!(ks.list(&a, &a.app_namespace()).unwrap(), vec![bad, good]);
}

/// The stack over `dir` again, as after a restart (`st` is closed first).
fn reopened(dir: &std::path::Path, st: keystore_v1_1_host::Stack) -> keystore_v1_1_host::Stack {
    drop(st);
    durable(dir, Arc::new(DefaultQuota))
}

/// The record cache's trade-off, stated: a record changed on disk behind
/// the running keystore is not read again while it is cached; after a
/// restart it is, with every check.
#[test]
fn a_record_changed_behind_the_running_keystore_is_checked_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    st.store
        .create(&a, &AllowAll, &k, Algorithm::Ed25519)
        .unwrap();
    st.store.sign(&a, &AllowAll, &k, b"m").unwrap();
    let file = st.state.host_path(&path("com.a/sign/k")).unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x04;
    std::fs::write(&file, &bytes).unwrap();
    // Cached: the running keystore still uses what it checked and wrote.
    st.store.sign(&a, &AllowAll, &k, b"m").unwrap();
    let st = reopened(dir.path(), st);
    expect_code(st.store.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Eio);
    expect_code(st.store.describe(&a, &k), ErrorCode::Eio);
}

#[test]
fn test_reject_unknown_record_version_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let st = durable(dir.path(), Arc::new(DefaultQuota));
    let ks = &st.store;
    let a = subject("app:com.a");
    let k = key("com.a", "sign", "k");
    ks.create(&a, &AllowAll, &k, Algorithm::Ed25519).unwrap();
    let p = path("com.a/sign/k");
    let (v, payload) = st
        .state
        .read_record(&p, RECORD_MAGIC, &[RECORD_VERSION])
        .unwrap()
        .unwrap();
    assert_eq!(v, RECORD_VERSION);
    // A well-formed envelope of a future version: refused, not reset.
    st.state
        .write_record(&p, RECORD_MAGIC, RECORD_VERSION + 1, &payload)
        .unwrap();
    // Written behind the keystore's back: seen after a restart.
    let st = reopened(dir.path(), st);
    let ks = &st.store;
    let msg = expect_code(ks.describe(&a, &k), ErrorCode::Eio);
    assert!(msg.contains("unsupported version 3"), "{msg}");
    expect_code(ks.sign(&a, &AllowAll, &k, b"m"), ErrorCode::Eio);
    // A current envelope whose payload is not a key record.
    st.state
        .write_record(&p, RECORD_MAGIC, RECORD_VERSION, b"\xa1\x61x\x01")
        .unwrap();
    let st = reopened(dir.path(), st);
    let ks = &st.store;
    expect_code(ks.describe(&a, &k), ErrorCode::Eio);
}

fn limits(soft_bytes: u64, hard_bytes: u64, soft_count: u64, hard_count: u64) -> QuotaLimits {
    QuotaLimits {
        soft_bytes,
        hard_bytes,
        soft_count,
        hard_count,
    }
}

#[test]
fn test_reject_over_hard_quota_with_edquota_after_soft_warning() {
    // Key count: soft 2, hard 3.
    let (st, _) = {
        let clock = ManualClock::new(T0);
        let q = |_: &Subject| limits(u64::MAX, u64::MAX, 2, 3);
        (
            Stack::over(
                statefs::StateFs::volatile(),
                Entropy::os(),
                Arc::new(clock.clone()),
                Arc::new(q),
            )
            .unwrap(),
            clock,
        )
    };
    let ks = &st.store;
    let a = subject("app:com.a");
    for i in 1..=2 {
        let out = ks
            .create(
                &a,
                &AllowAll,
                &key("com.a", "sign", &format!("k{i}")),
                Algorithm::Ed25519,
            )
            .unwrap();
        assert!(out.warnings.is_empty());
    }
    let out = ks
        .create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k3"),
            Algorithm::Ed25519,
        )
        .unwrap();
    assert_eq!(out.warnings.len(), 1);
    let w = &out.warnings[0];
    assert_eq!(
        (w.resource, w.used, w.soft_limit, w.hard_limit),
        (QuotaResource::Keys, 3, 2, 3)
    );
    println!("  warning: {w}");
    let msg = expect_code(
        ks.create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k4"),
            Algorithm::Ed25519,
        ),
        ErrorCode::Edquota,
    );
    assert!(
        msg.contains("keys used 3, would be 4, hard limit 3"),
        "{msg}"
    );
    // The quota is per app: another app is unaffected.
    let b = subject("app:com.b");
    ks.create(
        &b,
        &AllowAll,
        &key("com.b", "sign", "k1"),
        Algorithm::Ed25519,
    )
    .unwrap();

    // Bytes: measure one record, then allow 1 record soft, 2.5 hard.
    let (m, _) = volatile();
    m.store
        .create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k1"),
            Algorithm::Ed25519,
        )
        .unwrap();
    let one = m.store.usage(&a).unwrap().0.bytes;
    let q = move |_: &Subject| limits(one, one * 5 / 2, u64::MAX, u64::MAX);
    let st = Stack::over(
        statefs::StateFs::volatile(),
        Entropy::os(),
        Arc::new(ManualClock::new(T0)),
        Arc::new(q),
    )
    .unwrap();
    let ks = &st.store;
    assert!(ks
        .create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k1"),
            Algorithm::Ed25519
        )
        .unwrap()
        .warnings
        .is_empty());
    let out = ks
        .create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k2"),
            Algorithm::Ed25519,
        )
        .unwrap();
    assert_eq!(out.warnings.len(), 1);
    assert_eq!(
        (out.warnings[0].resource, out.warnings[0].used),
        (QuotaResource::Bytes, 2 * one)
    );
    println!("  warning: {}", out.warnings[0]);
    let msg = expect_code(
        ks.create(
            &a,
            &AllowAll,
            &key("com.a", "sign", "k3"),
            Algorithm::Ed25519,
        ),
        ErrorCode::Edquota,
    );
    let want = format!(
        "bytes used {}, would be {}, hard limit {}",
        2 * one,
        3 * one,
        one * 5 / 2
    );
    assert!(msg.contains(&want), "{msg} / {want}");
    // Nothing was stored by the refused create; shrinking still works.
    assert_eq!(ks.usage(&a).unwrap().0.keys, 2);
    expect_code(
        ks.describe(&a, &key("com.a", "sign", "k3")),
        ErrorCode::Enoent,
    );
    ks.revoke(&a, &AllowAll, &key("com.a", "sign", "k2"), RevokeScope::Key)
        .unwrap();
    assert!(ks.usage(&a).unwrap().0.bytes < 2 * one);
}

/// One deterministic run: every observable byte it produces.
fn deterministic_run(seed: u64) -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let st = Stack::open(
        dir.path(),
        Entropy::insecure_seeded(seed),
        Arc::new(clock.clone()),
        Arc::new(DefaultQuota),
    )
    .unwrap();
    assert!(st.keymint.is_insecure() && st.store.is_insecure() && keymint::INSECURE_BUILD);
    let ks = &st.store;
    let a = subject("app:com.a");
    let sk = key("com.a", "sign", "k");
    let dk = key("com.a", "seal", "k");
    let mut out = Vec::new();
    ks.create(&a, &AllowAll, &sk, Algorithm::Ed25519).unwrap();
    let s1 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
    clock.advance(10);
    ks.rotate(&a, &AllowAll, &sk).unwrap();
    let s2 = ks.sign(&a, &AllowAll, &sk, b"m").unwrap();
    ks.create(&a, &AllowAll, &dk, Algorithm::XChaCha20Poly1305)
        .unwrap();
    let sealed = ks.seal(&a, &AllowAll, &dk, b"ctx", b"pt").unwrap();
    for s in [&s1, &s2] {
        out.push(s.kid.as_bytes().to_vec());
        out.push(s.signature.to_vec());
    }
    out.push(sealed.sealed);
    for p in ["com.a/sign/k", "com.a/seal/k"] {
        out.push(st.state.read(&path(p)).unwrap().unwrap());
    }
    out
}

#[test]
fn deterministic_mode_is_reproducible() {
    let a = deterministic_run(42);
    let b = deterministic_run(42);
    assert_eq!(
        a, b,
        "same seed, same clock: identical kids, signatures, records"
    );
    let c = deterministic_run(43);
    for (x, y) in a.iter().zip(&c) {
        assert_ne!(x, y, "another seed must change every output");
    }
    println!("deterministic (INSECURE) mode: kid v1 {}", hex(&a[0]));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
