//! The device key's life: created on first start, kept across restarts,
//! rotated by system callers only, old tokens verifiable after rotation;
//! and a start that cannot sign is not a start.

use crate::common::*;
use attestd::KeyRef;
use eat::CustomClaims;
use keystore::KeySelector;
use nexus_core::ErrorCode;

fn attest_alpha(f: &Fixture) -> Vec<u8> {
    f.svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap()
        .token
}

#[test]
fn first_start_creates_the_device_key_in_attestds_own_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let name = device_key();
    assert_eq!(name.to_string(), "system.attestd/device-attest/device");
    let info = f.store.describe(&subject("system:attestd"), &name).unwrap();
    assert_eq!(info.alg, keymint::Algorithm::Ed25519);
    assert_eq!(info.primary, 1);
    let device = f.svc.device_key().unwrap();
    assert_eq!(Some(device.kid), info.versions[0].kid);
    assert_eq!(device.kid, keymint::kid::ed25519_kid(&device.public));
    // Created by attestd under its own subject, through the authorizer.
    let lines = f.audit_lines();
    assert!(
        lines[0].contains("\"subject\":\"system:attestd\",\"capability\":\"identity.key.create\",\"target\":\"system.attestd/device-attest/device\",\"decision\":\"allow\""),
        "{lines:?}"
    );
    // The record is on disk, wrapped: the state dir holds it.
    assert!(dir
        .path()
        .join("keystore/system.attestd/device-attest/device")
        .is_file());
}

#[test]
fn device_key_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (token, before) = {
        let f = Fixture::open(dir.path());
        f.create_key(ALPHA, "sign", "k");
        (attest_alpha(&f), f.svc.device_key().unwrap())
    };
    let f = Fixture::open(dir.path());
    let after = f.svc.device_key().unwrap();
    assert_eq!(after, before);
    // No second create on the second start.
    assert!(
        !f.audit_lines()
            .iter()
            .any(|l| l.contains("identity.key.create")),
        "{:?}",
        f.audit_lines()
    );
    eat::verify_token(&token, after.public.as_bytes(), NONCE, NOW).unwrap();
    let again = attest_alpha(&f);
    let v = eat::verify_token(&again, after.public.as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.device_kid, before.kid);
}

#[test]
fn rotation_gives_a_new_kid_and_old_tokens_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    f.create_key(ALPHA, "sign", "k");
    let v1 = f.svc.device_key().unwrap();
    let old_token = attest_alpha(&f);

    let v2 = f.svc.rotate_device_key(&subject(ADMIN)).unwrap();
    assert_eq!(v2.version, 2);
    assert_ne!(v2.kid, v1.kid);
    assert_eq!(f.svc.device_key().unwrap(), v2);

    let new_token = attest_alpha(&f);
    let verified = eat::verify_token(&new_token, v2.public.as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(verified.device_kid, v2.kid);
    // The old token: verifies with the old public key, refused with the new.
    let verified = eat::verify_token(&old_token, v1.public.as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(verified.device_kid, v1.kid);
    expect_code(
        eat::verify_token(&old_token, v2.public.as_bytes(), NONCE, NOW),
        ErrorCode::Eperm,
    );
    // The keystore still serves version 1 by the kid in the old token.
    let name = device_key();
    let old = f
        .store
        .public_key(&subject(ADMIN), &name, Some(KeySelector::Kid(v1.kid)))
        .unwrap();
    assert_eq!((old.version, old.key), (1, v1.public));
    // And the rotation survives a restart.
    drop(f);
    let f = Fixture::open(dir.path());
    assert_eq!(f.svc.device_key().unwrap(), v2);
}

#[test]
fn test_reject_rotation_by_non_system_or_unauthorized_callers_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let before = f.svc.device_key().unwrap();
    f.audit.clear().unwrap();
    // alpha holds identity.key.rotate, but is not a system subject.
    let m = expect_code(f.svc.rotate_device_key(&subject(ALPHA)), ErrorCode::Eperm);
    assert!(m.contains("only system subjects"), "{m}");
    assert!(f.audit_lines().is_empty());
    // A system subject without identity.key.rotate: denied and audited.
    expect_code(
        f.svc.rotate_device_key(&subject("system:selftest")),
        ErrorCode::Eperm,
    );
    let lines = f.audit_lines();
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("\"subject\":\"system:selftest\",\"capability\":\"identity.key.rotate\",\"target\":\"system.attestd/device-attest/device\",\"decision\":\"deny\""),
        "{lines:?}"
    );
    assert_eq!(f.svc.device_key().unwrap(), before);
}

#[test]
fn test_reject_start_when_the_device_key_cannot_be_used_and_serve_without_one_when_it_cannot_be_made(
) {
    let dir = tempfile::tempdir().unwrap();
    // May sign but not create: no key, yet attestd starts; what needs the
    // key says why it cannot have one (EIO), and asks again each time.
    let sign_only = "version = 1\n[[subjects]]\nsubject = \"system:attestd\"\ncapabilities = [\"identity.key.sign\"]\n";
    let svc = Stack::open(dir.path(), sign_only).start_local().unwrap();
    let msg = expect_code(svc.device_key(), ErrorCode::Eio);
    assert!(
        msg.contains("no device key could be created") && msg.contains("identity.key.create"),
        "{msg}"
    );
    assert!(!svc.status().volatile);
    // May create but not sign: the self-test signature fails, no start (a
    // policy that forbids signing is not a state of the key to heal).
    let create_only = "version = 1\n[[subjects]]\nsubject = \"system:attestd\"\ncapabilities = [\"identity.key.create\"]\n";
    expect_code(
        Stack::open(dir.path(), create_only).start_local(),
        ErrorCode::Eperm,
    );
    // The key now exists: signing alone is enough to start.
    Stack::open(dir.path(), sign_only).start_local().unwrap();
}
