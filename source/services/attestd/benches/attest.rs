//! How long one attestation takes in-process: the Attest decision (audited
//! to memory), reading the caller's key record, building the claims,
//! signing the Sig_structure through the keystore (record read, keymint
//! unwrap and Ed25519 sign) and checking that signature. Real keymint with
//! OS entropy, durable statefs on a temp dir.
//!
//! `cargo bench -p attestd --bench attest -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attestd::{Attestd, KeyRef, LocalBackend};
use criterion::{criterion_group, criterion_main, Criterion};
use eat::{CustomClaims, CustomValue};
use keymint::{Algorithm, Entropy, KeyMint};
use keystore::{DefaultQuota, KeyName, KeyStore};
use nexus_core::{Label, Subject, SystemClock};
use policy::{MemorySink, Policy, PolicyEngine};
use std::sync::Arc;

const POLICY: &str = r#"
version = 1
[[subjects]]
subject = "system:attestd"
capabilities = ["identity.key.create", "identity.key.sign"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.attest"]
"#;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let state = statefs::StateFs::open(dir.path()).unwrap();
    let km = Arc::new(KeyMint::open(&state, Entropy::os()).unwrap());
    let clock = Arc::new(SystemClock);
    let store = Arc::new(KeyStore::new(
        state,
        km.clone(),
        clock.clone(),
        Arc::new(DefaultQuota),
    ));
    let audit = MemorySink::new();
    let engine = Arc::new(PolicyEngine::new(
        Policy::from_toml_str(POLICY).unwrap(),
        Box::new(audit.clone()),
        clock.clone(),
    ));
    let me: Subject = "system:attestd".parse().unwrap();
    let backend = LocalBackend::new(store.clone(), km, engine.clone(), me).unwrap();
    let svc = Attestd::start(Box::new(backend), engine.clone(), clock.clone()).unwrap();
    let alpha: Subject = "app:com.example.alpha".parse().unwrap();
    let key = KeyName::parse("com.example.alpha", "sign", "k").unwrap();
    store
        .create(&alpha, &*engine, &key, Algorithm::Ed25519)
        .unwrap();
    let k = KeyRef::own(Label::new("sign").unwrap(), Label::new("k").unwrap());
    let nonce = [0x5a; 32];

    let mut largest = CustomClaims::new();
    for i in 0..16 {
        largest
            .insert(-65538 - i, CustomValue::Bytes(vec![0xa5; 256]))
            .unwrap();
    }

    let mut g = c.benchmark_group("attest");
    g.bench_function("typical (no custom claims)", |b| {
        b.iter(|| {
            let t = svc.attest(&alpha, &k, &nonce, CustomClaims::new()).unwrap();
            // Keep the in-memory audit log from growing without bound.
            audit.clear().unwrap();
            t
        })
    });
    g.bench_function("largest (16 x 256-byte custom claims)", |b| {
        b.iter(|| {
            let t = svc.attest(&alpha, &k, &nonce, largest.clone()).unwrap();
            audit.clear().unwrap();
            t
        })
    });
    let token = svc
        .attest(&alpha, &k, &nonce, CustomClaims::new())
        .unwrap()
        .token;
    let device = svc.device_key().unwrap();
    let now = nexus_core::Clock::now_unix(&SystemClock);
    g.bench_function("reference: eat::verify_token of a typical token", |b| {
        b.iter(|| eat::verify_token(&token, device.public.as_bytes(), &nonce, now).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
