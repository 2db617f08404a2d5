//! Users and sessions over the real statefs and keymint: states, password
//! checks without an enumeration oracle, persisted throttling, password
//! change, user administration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity::{Password, SessionState};
use nexus_core::{Capability, Coded, ErrorCode, ManualClock, Subject, UserId};
use std::path::Path;
use ui_v18b_host::{RigConfig, Stack};

fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

fn pw(s: &str) -> Password {
    Password::new(s)
}

fn admin() -> Subject {
    subject("system:identityd")
}

fn open(dir: &Path, clock: &ManualClock) -> Stack {
    Stack::open(dir, clock, RigConfig::default()).unwrap()
}

fn with_alice(dir: &Path) -> (Stack, ManualClock) {
    let clock = ManualClock::new(1_700_000_000);
    let s = open(dir, &clock);
    s.identity
        .create_user(&admin(), &user("alice"), &pw("alice-pw"))
        .unwrap();
    (s, clock)
}

#[test]
fn login_lock_unlock_logout_follow_the_state_table() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let sess = s.identity.login(&user("alice"), &pw("alice-pw")).unwrap();
    assert_eq!(
        (sess.user.as_str(), sess.state),
        ("alice", SessionState::Active)
    );
    assert_eq!(
        s.identity.session(sess.sid).unwrap().state,
        SessionState::Active
    );
    use keymint::VaultKeyOps;
    assert_eq!(
        s.keymint.session_user(sess.sid).unwrap(),
        Some(user("alice"))
    );
    // Lock forgets the key; locking again is harmless.
    assert_eq!(
        s.identity.lock(sess.sid).unwrap().state,
        SessionState::Locked
    );
    assert_eq!(s.keymint.session_user(sess.sid).unwrap(), None);
    assert_eq!(
        s.identity.lock(sess.sid).unwrap().state,
        SessionState::Locked
    );
    // Unlock needs the password.
    let e = s.identity.unlock(sess.sid, &pw("nope")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert_eq!(
        s.identity.session(sess.sid).unwrap().state,
        SessionState::Locked
    );
    assert_eq!(
        s.identity.unlock(sess.sid, &pw("alice-pw")).unwrap().state,
        SessionState::Active
    );
    assert_eq!(
        s.keymint.session_user(sess.sid).unwrap(),
        Some(user("alice"))
    );
    let e = s.identity.unlock(sess.sid, &pw("alice-pw")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready);
    // Logout ends it: the id names nothing any more.
    s.identity.logout(sess.sid).unwrap();
    assert_eq!(s.keymint.session_user(sess.sid).unwrap(), None);
    assert_eq!(
        s.identity.session(sess.sid).unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.identity.lock(sess.sid).unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.identity
            .unlock(sess.sid, &pw("alice-pw"))
            .unwrap_err()
            .code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.identity.logout(sess.sid).unwrap_err().code(),
        ErrorCode::Enoent
    );
    // Two logins are two sessions with distinct ids.
    let a = s.identity.login(&user("alice"), &pw("alice-pw")).unwrap();
    let b = s.identity.login(&user("alice"), &pw("alice-pw")).unwrap();
    assert_ne!(a.sid, b.sid);
}

#[test]
fn test_reject_wrong_password_and_unknown_user_alike_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let wrong = s.identity.login(&user("alice"), &pw("wrong")).unwrap_err();
    let unknown = s
        .identity
        .login(&user("mallory"), &pw("wrong"))
        .unwrap_err();
    assert_eq!(wrong.code(), ErrorCode::Eperm);
    assert_eq!(unknown.code(), ErrorCode::Eperm);
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(format!("{wrong:?}"), format!("{unknown:?}"));
    // Both ran Argon2 (same cost), and the message never echoes input.
    assert_eq!(s.identity.kdf_runs(), 1 + 2);
    assert!(!wrong.to_string().contains("wrong"));
}

#[test]
fn test_reject_throttled_login_with_eagain_and_it_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = with_alice(dir.path());
    let alice = user("alice");
    for _ in 0..4 {
        let e = s.identity.login(&alice, &pw("wrong")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm);
    }
    // Four failures: the next attempt waits 1 s, even with the right
    // password, and Argon2 does not run for it.
    let runs = s.identity.kdf_runs();
    let e = s.identity.login(&alice, &pw("alice-pw")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(e.to_string(), "too many failed attempts; retry in 1 s");
    assert_eq!(s.identity.kdf_runs(), runs);
    clock.advance(1);
    assert_eq!(
        s.identity.login(&alice, &pw("wrong")).unwrap_err().code(),
        ErrorCode::Eperm
    );
    let e = s.identity.login(&alice, &pw("alice-pw")).unwrap_err();
    assert_eq!(e.to_string(), "too many failed attempts; retry in 2 s");
    drop(s);
    // Restart: a new process over the same directory still waits.
    let s = open(dir.path(), &clock);
    let e = s.identity.login(&alice, &pw("alice-pw")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(e.to_string(), "too many failed attempts; retry in 2 s");
    assert_eq!(s.identity.kdf_runs(), 0);
    clock.advance(1);
    assert_eq!(
        s.identity
            .login(&alice, &pw("alice-pw"))
            .unwrap_err()
            .to_string(),
        "too many failed attempts; retry in 1 s"
    );
    clock.advance(1);
    let sess = s.identity.login(&alice, &pw("alice-pw")).unwrap();
    // Success cleared the count: three free failures again.
    for _ in 0..3 {
        assert_eq!(
            s.identity.login(&alice, &pw("x")).unwrap_err().code(),
            ErrorCode::Eperm
        );
    }
    // Unlock shares the counter: failure 4, then throttled.
    s.identity.lock(sess.sid).unwrap();
    assert_eq!(
        s.identity.unlock(sess.sid, &pw("x")).unwrap_err().code(),
        ErrorCode::Eperm
    );
    let e = s.identity.unlock(sess.sid, &pw("alice-pw")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    // Password change too.
    let e = s
        .identity
        .change_password(&alice, &pw("alice-pw"), &pw("new"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
}

#[test]
fn unknown_users_are_throttled_like_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = with_alice(dir.path());
    let transcript = |u: &UserId| {
        let mut out = Vec::new();
        for _ in 0..6 {
            let e = s.identity.login(u, &pw("guess")).unwrap_err();
            out.push(e.to_string());
            clock.advance(1);
        }
        out
    };
    let known = transcript(&user("alice"));
    let unknown = transcript(&user("mallory"));
    assert_eq!(known, unknown);
    assert!(known
        .iter()
        .any(|m| m.starts_with("too many failed attempts")));
}

#[test]
fn password_change_keeps_the_vault_data() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let app = subject("app:com.example.a");
    let sid = s
        .identity
        .login(&user("alice"), &pw("alice-pw"))
        .unwrap()
        .sid;
    s.vault.put(&app, sid, "token", b"kept").unwrap();
    let vault_file = s
        .state
        .host_path(&vault::vault_path(&user("alice")).unwrap())
        .unwrap();
    let before = std::fs::read(&vault_file).unwrap();
    let e = s
        .identity
        .change_password(&user("alice"), &pw("bad"), &pw("new-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    s.identity
        .change_password(&user("alice"), &pw("alice-pw"), &pw("new-pw"))
        .unwrap();
    // Re-wrapped, not re-encrypted: vault.kv is byte-for-byte the same.
    assert_eq!(std::fs::read(&vault_file).unwrap(), before);
    s.identity.logout(sid).unwrap();
    let e = s
        .identity
        .login(&user("alice"), &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    let sid = s.identity.login(&user("alice"), &pw("new-pw")).unwrap().sid;
    assert_eq!(s.vault.get(&app, sid, "token").unwrap().as_slice(), b"kept");
}

#[test]
fn users_are_created_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    s.identity
        .create_user(&admin(), &user("bob"), &pw("bob-pw"))
        .unwrap();
    let e = s
        .identity
        .create_user(&admin(), &user("bob"), &pw("x"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready);
    assert_eq!(
        s.identity.list_users(&admin()).unwrap(),
        [user("alice"), user("bob")]
    );
    let app = subject("app:com.example.a");
    let sid = s.identity.login(&user("bob"), &pw("bob-pw")).unwrap().sid;
    s.vault.put(&app, sid, "k", b"v").unwrap();
    s.identity.delete_user(&admin(), &user("bob")).unwrap();
    assert_eq!(
        s.identity.session(sid).unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        s.vault.get(&app, sid, "k").unwrap_err().code(),
        ErrorCode::Elocked
    );
    assert_eq!(s.identity.list_users(&admin()).unwrap(), [user("alice")]);
    let bob_dir = dir.path().join("identity").join("bob");
    assert!(!bob_dir.join("vault.kv").exists() && !bob_dir.join("user").exists());
    let e = s.identity.delete_user(&admin(), &user("bob")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    // A recreated bob starts with an empty vault under a new vault key.
    s.identity
        .create_user(&admin(), &user("bob"), &pw("bob-pw"))
        .unwrap();
    let sid = s.identity.login(&user("bob"), &pw("bob-pw")).unwrap().sid;
    assert_eq!(s.vault.list(&app, sid).unwrap(), Vec::<String>::new());
}

#[test]
fn test_reject_user_admin_without_capability() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let app = subject("app:com.example.a");
    let e = s
        .identity
        .create_user(&app, &user("eve"), &pw("x"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert_eq!(
        s.identity
            .delete_user(&app, &user("alice"))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.identity
            .list_users(&subject("uid:1000"))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    s.authz.revoke(&admin(), Capability::UserAdmin);
    assert_eq!(
        s.identity.list_users(&admin()).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert!(!dir.path().join("identity").join("eve").exists());
}

#[test]
fn test_reject_empty_or_oversized_password_with_einval() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let e = s
        .identity
        .create_user(&admin(), &user("bob"), &pw(""))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    let long = Password::new(vec![b'a'; identity::PASSWORD_MAX_LEN + 1]);
    assert_eq!(
        s.identity.login(&user("alice"), &long).unwrap_err().code(),
        ErrorCode::Einval
    );
}
