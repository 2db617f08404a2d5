//! The km.* operations through RemoteKeyMint, as keystored and identityd
//! use them.

use crate::common::{Keymintd, Mode, IDENTITYD, KEYSTORED};
use keymint::{
    Algorithm, AuthSecret, KeyIdentity, KeyMintError, KeyOps, SessionKeyOps, SessionLookup,
    SessionRef, VaultKeyOps, VaultOwner, VerifierInput, WrappedKey,
};
use keymint_client::RemoteKeyMint;
use nexus_core::{AppId, Coded, ErrorCode, InstanceId, Label, SessionId, UserId};

fn owner(user: &str, instance: u8) -> VaultOwner {
    VaultOwner {
        user: UserId::new(user).unwrap(),
        instance: InstanceId::from_bytes([instance; 16]),
        legacy: false,
    }
}

fn ident(name: &str, alg: Algorithm) -> KeyIdentity {
    KeyIdentity {
        app: AppId::new("com.example.alpha").unwrap(),
        purpose: Label::new("test").unwrap(),
        name: Label::new(name).unwrap(),
        version: 1,
        alg,
    }
}

#[test]
fn generate_sign_seal_unseal_through_remote_keymint() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let km = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    assert_eq!(km.is_insecure(), keymint::INSECURE_BUILD);

    let id = ident("signer", Algorithm::Ed25519);
    let g = km.generate(&id).unwrap();
    let public = g.public.unwrap();
    for msg in [&b""[..], b"hello", &[0xa5; 4096]] {
        let sig = km.sign(&id, &g.wrapped, msg).unwrap();
        keymint::ed25519::verify(&public, msg, &sig).unwrap();
        assert!(keymint::ed25519::verify(&public, b"other", &sig).is_err());
    }
    // The blob is bound to its identity: another version does not open.
    let mut v2 = id.clone();
    v2.version = 2;
    let e = km.sign(&v2, &g.wrapped, b"x").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);

    let data = ident("data", Algorithm::XChaCha20Poly1305);
    let d = km.generate(&data).unwrap();
    assert!(d.public.is_none());
    let sealed = km.seal(&data, &d.wrapped, b"aad", b"secret value").unwrap();
    assert!(!sealed.windows(12).any(|w| w == b"secret value"));
    let pt = km.unseal(&data, &d.wrapped, b"aad", &sealed).unwrap();
    assert_eq!(pt.as_slice(), b"secret value");
    let e = km.unseal(&data, &d.wrapped, b"other", &sealed).unwrap_err();
    assert!(matches!(
        e,
        KeyMintError::Remote {
            code: ErrorCode::Eio,
            ..
        }
    ));
    // keymintd's own words cross the socket: opaque, but meaningful.
    assert_eq!(e.to_string(), "authentication failed");
    // A signing op on a data key is a bad argument, not a crypto failure.
    let e = km.sign(&data, &d.wrapped, b"x").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    // A truncated blob is malformed; a tampered one fails opaquely.
    let e = km
        .sign(&id, &WrappedKey::from_bytes(vec![0; 10]), b"x")
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    let mut tampered = g.wrapped.as_bytes().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x80;
    let e = km
        .sign(&id, &WrappedKey::from_bytes(tampered), b"x")
        .unwrap_err();
    assert!(matches!(
        e,
        KeyMintError::Remote {
            code: ErrorCode::Eio,
            ..
        }
    ));
    assert_eq!(e.to_string(), "authentication failed");
}

#[test]
fn session_unseal_vault_ops_lock_end_and_sync() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let identityd = RemoteKeyMint::connect(k.single(IDENTITYD)).unwrap();
    let keystored = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    assert_eq!(identityd.device_id(), keystored.device_id());
    let boot = identityd.boot_id().unwrap();
    assert_eq!(identityd.boot_id().unwrap(), boot);

    let user = owner("alice", 1);
    let auth = AuthSecret::from_bytes([0x11; 32]);
    let wrapped = identityd.create_vault_key(&user, &auth).unwrap();
    let sid: SessionId = "0123456789abcdef0123456789abcdef".parse().unwrap();

    // A fresh keymintd cannot tell unknown from lost: "locked" until
    // identityd synced it.
    assert_eq!(keystored.session_user(sid).unwrap(), SessionLookup::Locked);
    identityd.sync_sessions(&[]).unwrap();
    assert_eq!(keystored.session_user(sid).unwrap(), SessionLookup::Unknown);
    // Before unseal: locked, never "not found".
    let e = keystored.vault_seal(sid, b"a", b"v").unwrap_err();
    assert!(matches!(e, KeyMintError::Locked));

    // The wrong secret does not unseal (opaque EIO).
    let e = identityd
        .unseal_session(sid, &user, &AuthSecret::from_bytes([0x22; 32]), &wrapped)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
    // Another instance (the same name, re-created) does not open it.
    assert!(identityd
        .unseal_session(sid, &owner("alice", 2), &auth, &wrapped)
        .is_err());

    identityd
        .unseal_session(sid, &user, &auth, &wrapped)
        .unwrap();
    assert_eq!(
        keystored.session_user(sid).unwrap(),
        SessionLookup::Active(user.clone())
    );
    let sealed = keystored
        .vault_seal(sid, b"alice/v1", b"vault value")
        .unwrap();
    let pt = keystored.vault_unseal(sid, b"alice/v1", &sealed).unwrap();
    assert_eq!(pt.as_slice(), b"vault value");
    let e = keystored.vault_unseal(sid, b"bob/v1", &sealed).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);

    // Lock: the key is gone, the session known.
    assert!(identityd.lock_session(sid).unwrap());
    assert_eq!(keystored.session_user(sid).unwrap(), SessionLookup::Locked);
    assert!(!identityd.end_session(sid).unwrap());
    assert_eq!(keystored.session_user(sid).unwrap(), SessionLookup::Unknown);
    for e in [
        keystored.vault_seal(sid, b"a", b"v").unwrap_err(),
        keystored
            .vault_unseal(sid, b"alice/v1", &sealed)
            .unwrap_err(),
    ] {
        assert!(matches!(e, KeyMintError::Locked));
        assert_eq!(e.code(), ErrorCode::Elocked);
    }

    // A password change re-wraps the same vault key.
    let new = AuthSecret::from_bytes([0x33; 32]);
    let rewrapped = identityd
        .rewrap_vault_key(&user, &auth, &new, &wrapped)
        .unwrap();
    assert!(identityd
        .unseal_session(sid, &user, &auth, &rewrapped)
        .is_err());
    identityd
        .unseal_session(sid, &user, &new, &rewrapped)
        .unwrap();
    let pt = keystored.vault_unseal(sid, b"alice/v1", &sealed).unwrap();
    assert_eq!(pt.as_slice(), b"vault value");
    let e = identityd
        .rewrap_vault_key(&user, &auth, &new, &rewrapped)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);

    // Sync: listed and active stays; a deleted instance ends.
    let report = identityd
        .sync_sessions(&[SessionRef {
            sid,
            owner: user.clone(),
            active: true,
        }])
        .unwrap();
    assert_eq!(report.active, [sid]);
    assert_eq!(identityd.end_instance(user.instance).unwrap(), 1);
    assert_eq!(keystored.session_user(sid).unwrap(), SessionLookup::Unknown);

    // The pepper: a MAC per device, never the input.
    let input = VerifierInput::from_bytes([5; 32]);
    let mac = identityd.verifier_mac(&input).unwrap();
    assert_eq!(identityd.verifier_mac(&input).unwrap(), mac);
    assert_ne!(mac, [5; 32]);
}

/// `km.session.user` answers for the session and, in the same round trip,
/// which of the others are unsealed sessions of the same instance.
#[test]
fn session_check_names_the_live_sessions_of_the_same_instance_only() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let identityd = RemoteKeyMint::connect(k.single(IDENTITYD)).unwrap();
    let keystored = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    identityd.sync_sessions(&[]).unwrap();
    let (alice, bob) = (owner("alice", 1), owner("bob", 2));
    let auth = AuthSecret::from_bytes([0x11; 32]);
    let (wa, wb) = (
        identityd.create_vault_key(&alice, &auth).unwrap(),
        identityd.create_vault_key(&bob, &auth).unwrap(),
    );
    let s = |b: u8| SessionId::from_bytes([b; 16]);
    for n in [1, 2, 3] {
        identityd.unseal_session(s(n), &alice, &auth, &wa).unwrap();
    }
    identityd.unseal_session(s(4), &bob, &auth, &wb).unwrap();
    identityd.lock_session(s(3)).unwrap();
    let (lookup, alive) = keystored
        .session_check(s(1), &[s(2), s(3), s(4), s(5)])
        .unwrap();
    assert_eq!(lookup, SessionLookup::Active(alice.clone()));
    assert_eq!(alive, [s(2)]);
    // A locked session learns nothing about the others.
    let (lookup, alive) = keystored.session_check(s(3), &[s(1), s(2)]).unwrap();
    assert_eq!(lookup, SessionLookup::Locked);
    assert!(alive.is_empty());
}

/// `km.forget` drops keymintd's unwrapped copies; the blob still opens
/// when presented again (the keystore no longer presents it).
#[test]
fn forget_drops_the_copies_and_signing_still_works() {
    let k = Keymintd::spawn(Mode::Volatile);
    k.ready();
    let km = RemoteKeyMint::connect(k.single(KEYSTORED)).unwrap();
    let id = ident("signer", Algorithm::Ed25519);
    let g = km.generate(&id).unwrap();
    let s1 = km.sign(&id, &g.wrapped, b"m").unwrap();
    km.forget(&id.app, &id.purpose, &id.name).unwrap();
    let s2 = km.sign(&id, &g.wrapped, b"m").unwrap();
    assert_eq!(s1, s2, "Ed25519 is deterministic: the same key signed");
    let identityd = RemoteKeyMint::connect(k.single(IDENTITYD)).unwrap();
    let e = identityd
        .forget(&id.app, &id.purpose, &id.name)
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
}
