//! attestd over the wire to a keystored stand-in that speaks the
//! documented ops over a real keystore: the remote backend behaves like the
//! in-process one, and refuses answers it cannot check.

use crate::common::*;
use crate::fake_keystored::{FakeKeystored, Tamper};
use attestd::{Attestd, KeyRef, RemoteBackend};
use eat::CustomClaims;
use nexus_core::ErrorCode;
use std::sync::Arc;

fn remote(stack: &Stack, tamper: Tamper) -> (FakeKeystored, Result<Attestd, attestd::AttestError>) {
    let (fake, stream) = FakeKeystored::start(stack, tamper);
    let up = nexus_daemon::SingleClient::new("keystored", wire::Client::from_stream(stream));
    let backend = RemoteBackend::new(Box::new(up)).unwrap();
    let svc = Attestd::start(
        Box::new(backend),
        stack.engine.clone(),
        Arc::new(stack.clock.clone()),
    );
    (fake, svc)
}

#[test]
fn remote_backend_creates_the_device_key_and_attests() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(dir.path(), POLICY);
    stack.create_key(ALPHA, "sign", "k");
    let (fake, svc) = remote(&stack, Tamper::None);
    let svc = svc.unwrap();
    // First start over the wire: device.info, the device keys (none),
    // create, read back, then the self-test signature.
    assert_eq!(
        fake.calls(),
        [
            "device.info",
            "key.list",
            "key.create",
            "key.show",
            "key.sign"
        ]
    );
    let name = device_key();
    let in_store = stack
        .store
        .public_key(&subject("system:attestd"), &name, None)
        .unwrap();
    let device = svc.device_key().unwrap();
    assert_eq!(
        (device.kid, device.public, device.version),
        (in_store.kid, in_store.key, 1)
    );

    let a = svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    let v = eat::verify_token(&a.token, device.public.as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.claims.app_id.as_str(), "com.example.alpha");
    let alpha_pk = stack
        .store
        .public_key(
            &subject(ALPHA),
            &keystore::KeyName::parse("com.example.alpha", "sign", "k").unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(v.attested_kid, alpha_pk.kid);
    assert_eq!(
        v.claims.ueid.random_part(),
        &keymint::KeyOps::device_id(&*stack.keymint)
    );
    let work = tempfile::tempdir().unwrap();
    let out = pycose(
        work.path(),
        &a.token,
        device.public.as_bytes(),
        NONCE,
        "com.example.alpha",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Rotation through keystored.
    let v2 = svc.rotate_device_key(&subject(ADMIN)).unwrap();
    assert_eq!(v2.version, 2);
    assert_ne!(v2.kid, device.kid);
    let b = svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    assert_eq!(b.device_kid, v2.kid);
    eat::verify_token(&b.token, v2.public.as_bytes(), NONCE, NOW).unwrap();
    eat::verify_token(&a.token, device.public.as_bytes(), NONCE, NOW).unwrap();
}

#[test]
fn a_rotation_made_elsewhere_is_picked_up_on_the_next_token() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(dir.path(), POLICY);
    stack.create_key(ALPHA, "sign", "k");
    let (_fake, svc) = remote(&stack, Tamper::None);
    let svc = svc.unwrap();
    let v1 = svc.device_key().unwrap();
    // Another attestd (the same subject) rotates the device key in the
    // keystore directly; no other subject could.
    let name = device_key();
    expect_code(
        stack.store.rotate(&subject(ADMIN), &*stack.engine, &name),
        ErrorCode::Eperm,
    );
    stack
        .store
        .rotate(&subject("system:attestd"), &*stack.engine, &name)
        .unwrap();
    let a = svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    assert_ne!(a.device_kid, v1.kid);
    let v2 = stack
        .store
        .public_key(&subject(ADMIN), &name, None)
        .unwrap();
    assert_eq!(a.device_kid, v2.kid);
    eat::verify_token(&a.token, v2.key.as_bytes(), NONCE, NOW).unwrap();
}

#[test]
fn a_remembered_attested_key_costs_one_keystored_call_per_token() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(dir.path(), POLICY);
    stack.create_key(ALPHA, "sign", "k");
    let (fake, svc) = remote(&stack, Tamper::None);
    let svc = svc.unwrap();
    let alpha_k = KeyRef::own(label("sign"), label("k"));
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let started = fake.calls().len();
        let a = svc
            .attest(&subject(ALPHA), &alpha_k, NONCE, CustomClaims::new())
            .unwrap();
        eat::verify_token(
            &a.token,
            svc.device_key().unwrap().public.as_bytes(),
            NONCE,
            NOW,
        )
        .unwrap();
        tokens.push(fake.calls()[started..].to_vec());
    }
    // The first token reads the key, then signs showing it; later ones
    // only sign, showing it (device_key() adds one key.show each).
    assert_eq!(tokens[0], ["key.show", "key.sign", "key.show"]);
    assert_eq!(tokens[1], ["key.sign", "key.show"]);
    assert_eq!(tokens[2], ["key.sign", "key.show"]);
}

#[test]
fn test_reject_remote_errors_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(dir.path(), POLICY);
    let (fake, svc) = remote(&stack, Tamper::None);
    let svc = svc.unwrap();
    expect_code(
        svc.attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("none")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Enoent,
    );
    // Another app's key: refused by attestd before keystored is asked.
    let n = fake.calls().len();
    let other = KeyRef {
        app: Some(nexus_core::AppId::new("com.example.beta").unwrap()),
        purpose: label("sign"),
        name: label("k"),
    };
    expect_code(
        svc.attest(&subject(ALPHA), &other, NONCE, CustomClaims::new()),
        ErrorCode::Eperm,
    );
    assert_eq!(fake.calls().len(), n);
}

#[test]
fn test_reject_unusable_keystored_answers_with_eio() {
    for tamper in [Tamper::WeakAttestedKey, Tamper::WrongKid, Tamper::OtherKey] {
        let dir = tempfile::tempdir().unwrap();
        let stack = Stack::open(dir.path(), POLICY);
        stack.create_key(ALPHA, "sign", "k");
        let (_fake, svc) = remote(&stack, tamper);
        let svc = svc.unwrap();
        let m = expect_code(
            svc.attest(
                &subject(ALPHA),
                &KeyRef::own(label("sign"), label("k")),
                NONCE,
                CustomClaims::new(),
            ),
            ErrorCode::Eio,
        );
        assert!(
            m.starts_with("unusable answer from the keystore"),
            "{tamper:?}: {m}"
        );
    }
}

#[test]
fn test_reject_start_when_keystored_signs_with_another_key_with_eio() {
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::open(dir.path(), POLICY);
    let (_fake, svc) = remote(&stack, Tamper::ForeignSignature);
    let m = expect_code(svc, ErrorCode::Eio);
    assert!(m.contains("device signature does not verify"), "{m}");
}
