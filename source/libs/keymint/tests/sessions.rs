//! Session keys: vault keys bound to a user instance (and the first,
//! name-bound format read for upgraded users only), lock that keeps the
//! session known, end, end of an instance, sync with the session owner,
//! the unsynced table after a start, the verifier's pepper, boot ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use keymint::{
    AuthSecret, Entropy, KeyMint, SessionKeyOps, SessionLookup, SessionRef, VaultKeyOps,
    VaultOwner, VerifierInput,
};
use nexus_core::{Coded, ErrorCode, InstanceId, SessionId, UserId};
use statefs::StateFs;

fn km() -> KeyMint {
    KeyMint::open(&StateFs::volatile(), Entropy::os()).unwrap()
}

fn owner(user: &str, instance: u8) -> VaultOwner {
    VaultOwner {
        user: UserId::new(user).unwrap(),
        instance: InstanceId::from_bytes([instance; 16]),
        legacy: false,
    }
}

fn sid(b: u8) -> SessionId {
    SessionId::from_bytes([b; 16])
}

fn synced() -> KeyMint {
    let k = km();
    k.sync_sessions(&[]).unwrap();
    k
}

#[test]
fn session_unseal_lock_end_and_rewrap() {
    let km = synced();
    let alice = owner("alice", 1);
    let pw1 = AuthSecret::from_bytes([1; 32]);
    let wrapped = km.create_vault_key(&alice, &pw1).unwrap();
    assert!(!wrapped.is_name_bound());
    assert_eq!(wrapped.as_bytes()[..2], [b'V', 2]);

    assert_eq!(km.session_user(sid(9)).unwrap(), SessionLookup::Unknown);
    assert_eq!(
        km.vault_seal(sid(9), b"a", b"x").unwrap_err().code(),
        ErrorCode::Elocked
    );
    km.unseal_session(sid(9), &alice, &pw1, &wrapped).unwrap();
    assert_eq!(
        km.session_user(sid(9)).unwrap(),
        SessionLookup::Active(alice.clone())
    );
    let sealed = km.vault_seal(sid(9), b"a", b"value").unwrap();
    assert_eq!(
        &km.vault_unseal(sid(9), b"a", &sealed).unwrap()[..],
        b"value"
    );
    assert_eq!(
        km.vault_unseal(sid(9), b"b", &sealed).unwrap_err().code(),
        ErrorCode::Eio
    );

    // Lock forgets the key, the session stays known.
    assert!(km.lock_session(sid(9)).unwrap());
    assert!(!km.lock_session(sid(9)).unwrap());
    assert_eq!(km.session_user(sid(9)).unwrap(), SessionLookup::Locked);
    assert_eq!(
        km.vault_unseal(sid(9), b"a", &sealed).unwrap_err().code(),
        ErrorCode::Elocked
    );
    // End forgets it entirely.
    assert!(!km.end_session(sid(9)).unwrap());
    assert_eq!(km.session_user(sid(9)).unwrap(), SessionLookup::Unknown);
    km.unseal_session(sid(9), &alice, &pw1, &wrapped).unwrap();
    assert!(km.end_session(sid(9)).unwrap());

    // Password change: same vault key under the new credential.
    let pw2 = AuthSecret::from_bytes([2; 32]);
    let rewrapped = km.rewrap_vault_key(&alice, &pw1, &pw2, &wrapped).unwrap();
    km.unseal_session(sid(8), &alice, &pw2, &rewrapped).unwrap();
    assert_eq!(
        &km.vault_unseal(sid(8), b"a", &sealed).unwrap()[..],
        b"value"
    );
}

#[test]
fn test_reject_vault_key_of_another_instance_secret_or_name() {
    let km = synced();
    let alice = owner("alice", 1);
    let wrapped = km
        .create_vault_key(&alice, &AuthSecret::from_bytes([1; 32]))
        .unwrap();
    let right = AuthSecret::from_bytes([1; 32]);
    // The same name, re-created (another instance): does not open.
    let recreated = owner("alice", 2);
    let e = km.unseal_session(sid(1), &recreated, &right, &wrapped);
    assert_eq!(e.unwrap_err().code(), ErrorCode::Eio);
    // Another name, same instance bytes: the instance is what counts.
    let renamed = VaultOwner {
        user: UserId::new("bob").unwrap(),
        ..alice.clone()
    };
    km.unseal_session(sid(1), &renamed, &right, &wrapped)
        .unwrap();
    km.end_session(sid(1)).unwrap();
    let wrong = km.unseal_session(sid(1), &alice, &AuthSecret::from_bytes([2; 32]), &wrapped);
    assert_eq!(wrong.unwrap_err().code(), ErrorCode::Eio);
    assert_eq!(km.session_user(sid(1)).unwrap(), SessionLookup::Unknown);
    // A blob claiming the name-bound format is refused for an owner that
    // was not upgraded from a name-bound user.
    let mut v1 = wrapped.as_bytes().to_vec();
    v1[1] = 1;
    let v1 = keymint::WrappedVaultKey::from_bytes(v1);
    assert!(v1.is_name_bound());
    let e = km.unseal_session(sid(1), &alice, &right, &v1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    let legacy = VaultOwner {
        legacy: true,
        ..alice
    };
    let e = km.unseal_session(sid(1), &legacy, &right, &v1).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
}

#[test]
fn end_instance_forgets_every_session_of_that_instance_only() {
    let km = synced();
    let (a1, a2) = (owner("alice", 1), owner("alice", 2));
    let auth = AuthSecret::from_bytes([1; 32]);
    let w1 = km.create_vault_key(&a1, &auth).unwrap();
    let w2 = km.create_vault_key(&a2, &auth).unwrap();
    km.unseal_session(sid(1), &a1, &auth, &w1).unwrap();
    km.unseal_session(sid(2), &a1, &auth, &w1).unwrap();
    km.lock_session(sid(2)).unwrap();
    km.unseal_session(sid(3), &a2, &auth, &w2).unwrap();
    assert_eq!(km.end_instance(a1.instance).unwrap(), 2);
    assert_eq!(km.session_user(sid(1)).unwrap(), SessionLookup::Unknown);
    assert_eq!(km.session_user(sid(2)).unwrap(), SessionLookup::Unknown);
    assert_eq!(
        km.session_user(sid(3)).unwrap(),
        SessionLookup::Active(a2.clone())
    );
    assert_eq!(km.end_instance(a1.instance).unwrap(), 0);
}

#[test]
fn a_fresh_table_answers_locked_until_synced() {
    let km = km();
    // Fresh (as after a restart): an id the owner may still know.
    assert_eq!(km.session_user(sid(5)).unwrap(), SessionLookup::Locked);
    let alice = owner("alice", 1);
    let auth = AuthSecret::from_bytes([1; 32]);
    let w = km.create_vault_key(&alice, &auth).unwrap();
    km.unseal_session(sid(1), &alice, &auth, &w).unwrap();
    km.unseal_session(sid(2), &alice, &auth, &w).unwrap();
    km.unseal_session(sid(3), &alice, &auth, &w).unwrap();
    let r = |s: u8, active: bool| SessionRef {
        sid: sid(s),
        owner: alice.clone(),
        active,
    };
    // The owner knows 1 (active), 2 (locked), 4 (active, but this keymint
    // never saw it); 3 is unknown to it.
    let report = km
        .sync_sessions(&[r(1, true), r(2, false), r(4, true)])
        .unwrap();
    assert_eq!(report.active, [sid(1)]);
    assert_eq!(report.ended, 1);
    assert_eq!(
        km.session_user(sid(1)).unwrap(),
        SessionLookup::Active(alice.clone())
    );
    assert_eq!(km.session_user(sid(2)).unwrap(), SessionLookup::Locked);
    assert_eq!(km.session_user(sid(3)).unwrap(), SessionLookup::Unknown);
    assert_eq!(km.session_user(sid(4)).unwrap(), SessionLookup::Locked);
    assert_eq!(km.session_user(sid(5)).unwrap(), SessionLookup::Unknown);
    // An empty sync (the owner restarted) forgets everything.
    assert_eq!(km.sync_sessions(&[]).unwrap().ended, 3);
    assert_eq!(km.session_user(sid(1)).unwrap(), SessionLookup::Unknown);
}

#[test]
fn verifier_mac_is_keyed_by_the_device_and_boot_ids_differ() {
    let dir = tempfile::tempdir().unwrap();
    let state = StateFs::open(dir.path()).unwrap();
    let a = KeyMint::open(&state, Entropy::os()).unwrap();
    let again = KeyMint::open(&state, Entropy::os()).unwrap();
    let other = km();
    let input = || VerifierInput::from_bytes([7; 32]);
    let mac = a.verifier_mac(&input()).unwrap();
    assert_eq!(again.verifier_mac(&input()).unwrap(), mac);
    assert_ne!(other.verifier_mac(&input()).unwrap(), mac);
    assert_ne!(
        a.verifier_mac(&VerifierInput::from_bytes([8; 32])).unwrap(),
        mac
    );
    // The MAC is not a hash of the input alone.
    use sha2::Digest;
    let plain: [u8; 32] = sha2::Sha256::digest([7u8; 32]).into();
    assert_ne!(mac, plain);
    // One boot id per start, stable within it.
    assert_eq!(a.boot_id().unwrap(), a.boot_id().unwrap());
    assert_ne!(a.boot_id().unwrap(), again.boot_id().unwrap());
}

#[test]
fn session_check_answers_for_others_of_the_same_instance_only() {
    let km = synced();
    let (alice, bob) = (owner("alice", 1), owner("bob", 2));
    let pw = AuthSecret::from_bytes([1; 32]);
    let (wa, wb) = (
        km.create_vault_key(&alice, &pw).unwrap(),
        km.create_vault_key(&bob, &pw).unwrap(),
    );
    km.unseal_session(sid(1), &alice, &pw, &wa).unwrap();
    km.unseal_session(sid(2), &alice, &pw, &wa).unwrap();
    km.unseal_session(sid(3), &alice, &pw, &wa).unwrap();
    km.unseal_session(sid(4), &bob, &pw, &wb).unwrap();
    km.lock_session(sid(2)).unwrap();
    let (l, alive) = km
        .session_check(sid(1), &[sid(2), sid(3), sid(4), sid(5)])
        .unwrap();
    assert_eq!(l, SessionLookup::Active(alice));
    assert_eq!(alive, [sid(3)]);
    let (l, alive) = km.session_check(sid(2), &[sid(1)]).unwrap();
    assert_eq!((l, alive.len()), (SessionLookup::Locked, 0));
    let (l, alive) = km.session_check(sid(9), &[sid(1)]).unwrap();
    assert_eq!((l, alive.len()), (SessionLookup::Unknown, 0));
}

#[test]
fn every_change_of_the_table_changes_the_stamp_and_reads_do_not() {
    let km = synced();
    let alice = owner("alice", 1);
    let pw = AuthSecret::from_bytes([1; 32]);
    let wa = km.create_vault_key(&alice, &pw).unwrap();
    let mut seen = vec![km.session_stamp().unwrap()];
    let mut changed = |km: &KeyMint, what: &str| {
        let now = km.session_stamp().unwrap();
        assert!(!seen.contains(&now), "{what} did not change the stamp");
        seen.push(now);
    };
    km.unseal_session(sid(1), &alice, &pw, &wa).unwrap();
    changed(&km, "unseal");
    km.unseal_session(sid(2), &alice, &pw, &wa).unwrap();
    changed(&km, "a second unseal");
    // Reads leave it alone, and the stamped answer carries the stamp of
    // the moment it was given.
    let before = km.session_stamp().unwrap();
    let (l, _, stamp) = km.session_check_stamped(sid(1), &[sid(2)]).unwrap();
    assert_eq!(l, SessionLookup::Active(alice.clone()));
    assert_eq!(stamp, Some(before));
    km.session_user(sid(1)).unwrap();
    km.vault_seal(sid(1), b"a", b"x").unwrap();
    assert_eq!(km.session_stamp().unwrap(), before);
    km.lock_session(sid(1)).unwrap();
    changed(&km, "lock");
    km.lock_session(sid(1)).unwrap();
    changed(&km, "locking a locked session");
    km.end_session(sid(1)).unwrap();
    changed(&km, "end");
    km.end_instance(alice.instance).unwrap();
    changed(&km, "end of the instance");
    km.sync_sessions(&[]).unwrap();
    changed(&km, "sync");
    // Another run never shares a stamp with this one.
    let other = synced();
    assert_ne!(other.session_stamp(), km.session_stamp());
}
