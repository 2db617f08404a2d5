#![allow(clippy::unwrap_used, clippy::expect_used)]
//! sign_token and verify_token on a typical token (no custom claims) and
//! on the largest one the profile allows (16 custom claims of 256 bytes).
//! The signer is an in-process ed25519-dalek key; in the system it is
//! keymint, whose own cost (and IPC) adds to sign_token's.
//!
//! cargo bench -p eat --bench token -- --warm-up-time 1 --measurement-time 3

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use eat::{sign_token, verify_token, Claims, CustomClaims, CustomValue, Nonce, SwVersion, Ueid};
use ed25519_dalek::{Signer, SigningKey};
use keymint::kid::ed25519_kid;
use nexus_core::{AppId, ErrorCode, Label};

const NOW: u64 = 1_767_225_600;
const NONCE: &[u8] = b"nonce-0123456789";

struct Never;

impl nexus_core::Coded for Never {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

fn claims(custom: CustomClaims) -> Claims {
    Claims {
        iat: NOW,
        nonce: Nonce::new(NONCE).unwrap(),
        ueid: Ueid::from_random([0x5a; 32]),
        attested_key: SigningKey::from_bytes(&[2; 32]).verifying_key(),
        app_id: AppId::new("com.example.notes").unwrap(),
        swname: Label::new("nexus-attestd").unwrap(),
        swversion: SwVersion::new("0.1.0").unwrap(),
        custom,
    }
}

fn largest_custom() -> CustomClaims {
    let mut c = CustomClaims::new();
    for i in 0..16 {
        c.insert(-65538 - i, CustomValue::Bytes(vec![0xee; 256]))
            .unwrap();
    }
    c
}

fn bench(c: &mut Criterion) {
    let dev = SigningKey::from_bytes(&[1; 32]);
    let pk = dev.verifying_key();
    let kid = ed25519_kid(&pk);
    for (name, input) in [
        ("typical", claims(CustomClaims::new())),
        ("largest", claims(largest_custom())),
    ] {
        let token = sign_token(&input, &kid, |m: &[u8]| {
            Ok::<_, Never>(dev.sign(m).to_bytes())
        })
        .unwrap();
        c.bench_function(&format!("sign_token/{name} ({} B)", token.len()), |b| {
            b.iter(|| {
                sign_token(black_box(&input), &kid, |m: &[u8]| {
                    Ok::<_, Never>(dev.sign(m).to_bytes())
                })
                .unwrap()
            })
        });
        c.bench_function(&format!("verify_token/{name} ({} B)", token.len()), |b| {
            b.iter(|| verify_token(black_box(&token), pk.as_bytes(), NONCE, NOW).unwrap())
        });
    }
    // Reference point: the bare Ed25519 operations inside each call.
    let msg = vec![0u8; 400];
    let sig = dev.sign(&msg);
    c.bench_function("ed25519 sign (400 B, reference)", |b| {
        b.iter(|| dev.sign(black_box(&msg)))
    });
    c.bench_function("ed25519 verify_strict (400 B, reference)", |b| {
        b.iter(|| pk.verify_strict(black_box(&msg), &sig).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
