//! `trust::verify` of a small signed bundle (8 files of 4 KiB) against a
//! store with one system root, including loading the store from disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use nexus_core::Label;
use statefs::StateFs;
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, verify, Kind, Scope, TrustRoot, TrustStore, Version};

fn bench_verify(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let sys = tmp.path().join("pkg-trust");
    fs::create_dir(&sys).unwrap();
    let key = MinisignSecretKey::generate().unwrap();
    let root = TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("bench").unwrap(),
        &[Scope::Packages],
        0,
        u32::MAX.into(),
    )
    .unwrap();
    fs::write(sys.join(root.file_name()), root.to_toml()).unwrap();
    let store = TrustStore::open(&sys, StateFs::open(&tmp.path().join("state")).unwrap()).unwrap();

    let art = tmp.path().join("bundle");
    for i in 0..8u8 {
        let d = art.join(format!("d{}", i % 2));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join(format!("f{i}")), vec![i; 4096]).unwrap();
    }
    sign_artifact(
        &art,
        Kind::Bundle,
        Label::new("com.example.bench").unwrap(),
        Version::parse("1.0.0").unwrap(),
        Scope::Packages,
        &key,
        "bench",
    )
    .unwrap();

    c.bench_function("verify_bundle_8x4KiB", |b| {
        b.iter(|| verify(&store, &art, Scope::Packages, 1_000_000).unwrap())
    });
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
