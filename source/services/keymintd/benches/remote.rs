//! What the process boundary costs: an Ed25519 sign and a 1 KiB seal in
//! process (`KeyMint`) and through keymintd's handler over a Unix socket
//! (`RemoteKeyMint` → wire → `KeymintService`).
//!
//! Run: `cargo bench -p keymintd --bench remote -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use keymint::{Algorithm, Entropy, KeyIdentity, KeyMint, KeyOps};
use keymint_client::RemoteKeyMint;
use keymintd::KeymintService;
use nexus_core::{AppId, Label, Subject};
use nexus_daemon::SingleClient;
use statefs::StateFs;
use std::os::unix::net::UnixStream;
use wire::{Client, Server, ServerConfig};

fn ident(alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new("com.example.alpha").unwrap(),
        purpose: Label::new("bench").unwrap(),
        name: Label::new("k").unwrap(),
        version: 1,
        alg,
    }
}

fn bench(c: &mut Criterion) {
    let local = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let served = KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap();
    let server = Server::new(
        KeymintService::new(
            served,
            false,
            nexus_proto::StatusReply {
                service: "keymintd".into(),
                volatile: true,
                insecure: false,
                version: "bench".into(),
                damaged: None,
            },
            None,
        ),
        ServerConfig::default(),
    );
    let (ours, theirs) = UnixStream::pair().unwrap();
    let subject: Subject = "system:keystored".parse().unwrap();
    server.add_connection(theirs, subject).unwrap();
    let remote =
        RemoteKeyMint::connect(SingleClient::new("keymintd", Client::from_stream(ours))).unwrap();

    let sign_id = ident(Algorithm::Ed25519);
    let seal_id = ident(Algorithm::XChaCha20Poly1305);
    let local_sign = local.generate(&sign_id).unwrap().wrapped;
    let local_seal = local.generate(&seal_id).unwrap().wrapped;
    let remote_sign = remote.generate(&sign_id).unwrap().wrapped;
    let remote_seal = remote.generate(&seal_id).unwrap().wrapped;
    let msg = [0x5a; 32];
    let pt = [0x5a; 1024];

    c.bench_function("sign/in-process", |b| {
        b.iter(|| local.sign(&sign_id, &local_sign, &msg).unwrap())
    });
    c.bench_function("sign/keymintd", |b| {
        b.iter(|| remote.sign(&sign_id, &remote_sign, &msg).unwrap())
    });
    c.bench_function("seal-1KiB/in-process", |b| {
        b.iter(|| local.seal(&seal_id, &local_seal, b"aad", &pt).unwrap())
    });
    c.bench_function("seal-1KiB/keymintd", |b| {
        b.iter(|| remote.seal(&seal_id, &remote_seal, b"aad", &pt).unwrap())
    });
    server.shutdown();
}

criterion_group!(benches, bench);
criterion_main!(benches);
