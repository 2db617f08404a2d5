//! Vault and unlock benchmarks.
//!
//! - `vault_get/N`: one get from a vault of N entries (served from the
//!   decrypted per-user cache, as in steady state).
//! - `vault_put_durable/N`: replace one entry in a vault of N entries on a
//!   disk-backed state directory (re-encode, seal, temp file, fsync,
//!   rename, fsync dir).
//! - `unlock_production_argon2id`: unlock of a locked session with the
//!   production Argon2id parameters (64 MiB, t=3, p=1), including the
//!   throttle check, the verifier compare and keymint's unseal.
//!
//! Run: `cargo bench -p ui_v18b_host --bench vault -- --warm-up-time 1
//! --measurement-time 3 --sample-size 10`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use identity::{KdfParams, Password};
use nexus_core::{ManualClock, SessionId, Subject, UserId};
use std::sync::Arc;
use ui_v18b_host::{caller, RigConfig, Stack};
use vault::Vault;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

/// A disk-backed stack whose user `bench` has `n` entries (16-byte
/// values), with a logged-in session.
fn populated(n: usize) -> (tempfile::TempDir, Stack, SessionId) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let clock = ManualClock::new(1_700_000_000);
    let s = Stack::open(dir.path(), &clock, RigConfig::crash_test()).unwrap();
    let user = UserId::new("bench").unwrap();
    s.identity
        .create_user(&subject("system:identityd"), &user, &Password::new("pw"))
        .unwrap();
    let sid = s
        .identity
        .login(&caller(), &user, &Password::new("pw"))
        .unwrap()
        .sid;
    // Fill through a second vault over a volatile store with the same
    // keymint session (the setup would otherwise do n durable rewrites),
    // then move the sealed file to the disk store.
    let scratch = statefs::StateFs::volatile();
    let filler = Vault::new(
        scratch.clone(),
        s.keymint.clone(),
        s.authz.clone(),
        RigConfig::crash_test().limits,
    );
    let app = subject("app:com.example.bench");
    for i in 0..n {
        filler
            .put(&app, sid, &format!("entry-{i:06}"), &[0x5a; 16])
            .unwrap();
    }
    let path = vault::vault_path(&s.instance(&user).unwrap()).unwrap();
    s.state
        .write(&path, &scratch.read(&path).unwrap().unwrap())
        .unwrap();
    assert_eq!(s.vault.list(&app, sid).unwrap().len(), n);
    (dir, s, sid)
}

fn vault_ops(c: &mut Criterion) {
    let app = subject("app:com.example.bench");
    let mut get = c.benchmark_group("vault_get");
    for n in SIZES {
        let (_dir, s, sid) = populated(n);
        let name = format!("entry-{:06}", n / 2);
        get.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| s.vault.get(&app, sid, &name).unwrap())
        });
    }
    get.finish();
    let mut put = c.benchmark_group("vault_put_durable");
    for n in SIZES {
        let (_dir, s, sid) = populated(n);
        let name = format!("entry-{:06}", n / 2);
        let mut i = 0u8;
        put.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                i = i.wrapping_add(1);
                s.vault.put(&app, sid, &name, &[i; 16]).unwrap()
            })
        });
    }
    put.finish();
}

fn unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let clock = ManualClock::new(1_700_000_000);
    let cfg = RigConfig {
        kdf: KdfParams::PRODUCTION,
        ..RigConfig::default()
    };
    let s = Arc::new(Stack::open(dir.path(), &clock, cfg).unwrap());
    let user = UserId::new("bench").unwrap();
    let pw = Password::new("correct horse battery staple");
    s.identity
        .create_user(&subject("system:identityd"), &user, &pw)
        .unwrap();
    let sid = s.identity.login(&caller(), &user, &pw).unwrap().sid;
    c.bench_function("unlock_production_argon2id", |b| {
        b.iter(|| {
            s.identity.lock(&caller(), sid).unwrap();
            s.identity.unlock(&caller(), sid, &pw).unwrap()
        })
    });
}

criterion_group!(benches, vault_ops, unlock);
criterion_main!(benches);
