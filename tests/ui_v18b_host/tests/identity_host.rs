//! Users and sessions over the real statefs and keymint: states, password
//! checks without an enumeration oracle, persisted throttling per user and
//! caller, audit before effect, password change, user administration,
//! session ownership, the verifier's pepper.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity::{Password, SessionState};
use keymint::{SessionLookup, VaultKeyOps};
use nexus_core::{Capability, Coded, ErrorCode, ManualClock, Subject, UserId};
use std::path::Path;
use ui_v18b_host::{caller, RigConfig, Stack};

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
    let sess = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap();
    assert_eq!(
        (sess.user.as_str(), sess.state),
        ("alice", SessionState::Active)
    );
    assert_eq!(
        s.identity.session(&caller(), sess.sid).unwrap().state,
        SessionState::Active
    );
    let active = |s: &Stack, sid| matches!(s.keymint.session_user(sid).unwrap(), SessionLookup::Active(o) if o.user == user("alice"));
    assert!(active(&s, sess.sid));
    // Lock forgets the key; locking again is harmless.
    assert_eq!(
        s.identity.lock(&caller(), sess.sid).unwrap().state,
        SessionState::Locked
    );
    assert_eq!(
        s.keymint.session_user(sess.sid).unwrap(),
        SessionLookup::Locked
    );
    assert_eq!(
        s.identity.lock(&caller(), sess.sid).unwrap().state,
        SessionState::Locked
    );
    // Unlock needs the password.
    let e = s
        .identity
        .unlock(&caller(), sess.sid, &pw("nope"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert_eq!(
        s.identity.session(&caller(), sess.sid).unwrap().state,
        SessionState::Locked
    );
    assert_eq!(
        s.identity
            .unlock(&caller(), sess.sid, &pw("alice-pw"))
            .unwrap()
            .state,
        SessionState::Active
    );
    assert!(active(&s, sess.sid));
    let e = s
        .identity
        .unlock(&caller(), sess.sid, &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready);
    // Logout ends it: the id names nothing any more (EPERM "no such
    // session", the answer for any id the caller cannot control).
    s.identity.logout(&caller(), sess.sid).unwrap();
    assert_eq!(
        s.keymint.session_user(sess.sid).unwrap(),
        SessionLookup::Unknown
    );
    assert_eq!(
        s.identity.session(&caller(), sess.sid).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.identity.lock(&caller(), sess.sid).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.identity
            .unlock(&caller(), sess.sid, &pw("alice-pw"))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.identity.logout(&caller(), sess.sid).unwrap_err().code(),
        ErrorCode::Eperm
    );
    // Two logins are two sessions with distinct ids.
    let a = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap();
    let b = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap();
    assert_ne!(a.sid, b.sid);
}

#[test]
fn test_reject_wrong_password_and_unknown_user_alike_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let wrong = s
        .identity
        .login(&caller(), &user("alice"), &pw("wrong"))
        .unwrap_err();
    let unknown = s
        .identity
        .login(&caller(), &user("mallory"), &pw("wrong"))
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
        let e = s
            .identity
            .login(&caller(), &alice, &pw("wrong"))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm);
    }
    // Four failures: the next attempt waits 1 s, even with the right
    // password, and Argon2 does not run for it.
    let runs = s.identity.kdf_runs();
    let e = s
        .identity
        .login(&caller(), &alice, &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(e.to_string(), "too many failed attempts; retry in 1 s");
    assert_eq!(s.identity.kdf_runs(), runs);
    clock.advance(1);
    assert_eq!(
        s.identity
            .login(&caller(), &alice, &pw("wrong"))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    let e = s
        .identity
        .login(&caller(), &alice, &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.to_string(), "too many failed attempts; retry in 2 s");
    drop(s);
    // Restart: a new process over the same directory still waits.
    let s = open(dir.path(), &clock);
    let e = s
        .identity
        .login(&caller(), &alice, &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(e.to_string(), "too many failed attempts; retry in 2 s");
    assert_eq!(s.identity.kdf_runs(), 0);
    clock.advance(1);
    assert_eq!(
        s.identity
            .login(&caller(), &alice, &pw("alice-pw"))
            .unwrap_err()
            .to_string(),
        "too many failed attempts; retry in 1 s"
    );
    clock.advance(1);
    let sess = s
        .identity
        .login(&caller(), &alice, &pw("alice-pw"))
        .unwrap();
    // Success cleared the count: three free failures again.
    for _ in 0..3 {
        assert_eq!(
            s.identity
                .login(&caller(), &alice, &pw("x"))
                .unwrap_err()
                .code(),
            ErrorCode::Eperm
        );
    }
    // Unlock shares the counter: failure 4, then throttled.
    s.identity.lock(&caller(), sess.sid).unwrap();
    assert_eq!(
        s.identity
            .unlock(&caller(), sess.sid, &pw("x"))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    let e = s
        .identity
        .unlock(&caller(), sess.sid, &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    // Password change too.
    let e = s
        .identity
        .change_password(&caller(), &alice, &pw("alice-pw"), &pw("new"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
}

#[test]
fn unknown_users_are_throttled_like_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = with_alice(dir.path());
    // Each transcript from a caller of its own, so that the per-caller
    // budget (over every name) is the same for both.
    let transcript = |u: &UserId| {
        let who = subject(&format!("app:com.example.guess-{u}"));
        let mut out = Vec::new();
        for _ in 0..6 {
            let e = s.identity.login(&who, u, &pw("guess")).unwrap_err();
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
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap()
        .sid;
    s.vault.put(&app, sid, "token", b"kept").unwrap();
    let vault_file = s.vault_file(&user("alice"));
    let before = std::fs::read(&vault_file).unwrap();
    let e = s
        .identity
        .change_password(&caller(), &user("alice"), &pw("bad"), &pw("new-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    s.identity
        .change_password(&caller(), &user("alice"), &pw("alice-pw"), &pw("new-pw"))
        .unwrap();
    // Re-wrapped, not re-encrypted: vault.kv is byte-for-byte the same.
    assert_eq!(std::fs::read(&vault_file).unwrap(), before);
    s.identity.logout(&caller(), sid).unwrap();
    let e = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    let sid = s
        .identity
        .login(&caller(), &user("alice"), &pw("new-pw"))
        .unwrap()
        .sid;
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
    let sid = s
        .identity
        .login(&caller(), &user("bob"), &pw("bob-pw"))
        .unwrap()
        .sid;
    s.vault.put(&app, sid, "k", b"v").unwrap();
    let old_vault = s.vault_file(&user("bob"));
    assert!(old_vault.exists());
    s.identity.delete_user(&admin(), &user("bob")).unwrap();
    assert_eq!(
        s.identity.session(&caller(), sid).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        s.vault.get(&app, sid, "k").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(s.identity.list_users(&admin()).unwrap(), [user("alice")]);
    let bob_dir = dir.path().join("identity").join("bob");
    assert!(!old_vault.exists() && !bob_dir.join("user").exists());
    assert!(!bob_dir.join("throttle").exists());
    let e = s.identity.delete_user(&admin(), &user("bob")).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    // A recreated bob starts with an empty vault under a new vault key.
    s.identity
        .create_user(&admin(), &user("bob"), &pw("bob-pw"))
        .unwrap();
    let sid = s
        .identity
        .login(&caller(), &user("bob"), &pw("bob-pw"))
        .unwrap()
        .sid;
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
        s.identity
            .login(&caller(), &user("alice"), &long)
            .unwrap_err()
            .code(),
        ErrorCode::Einval
    );
}

#[test]
fn test_reject_session_control_by_another_subject() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let owner = subject("app:com.example.owner");
    let other = subject("app:com.example.other");
    let sid = s
        .identity
        .login(&owner, &user("alice"), &pw("alice-pw"))
        .unwrap()
        .sid;
    let refused = |e: identity::IdentityError| {
        assert_eq!(e.code(), ErrorCode::Eperm);
        assert_eq!(e.to_string(), "no such session");
    };
    refused(s.identity.lock(&other, sid).unwrap_err());
    refused(s.identity.logout(&other, sid).unwrap_err());
    refused(s.identity.session(&other, sid).unwrap_err());
    assert_eq!(
        s.identity.session(&owner, sid).unwrap().state,
        SessionState::Active
    );
    // An administrator may; the owner may.
    s.identity.lock(&admin(), sid).unwrap();
    refused(s.identity.unlock(&other, sid, &pw("alice-pw")).unwrap_err());
    s.identity.unlock(&owner, sid, &pw("alice-pw")).unwrap();
    s.identity.logout(&owner, sid).unwrap();
    assert!(s
        .audit
        .lines()
        .contains(&"app:com.example.other session.lock user:alice deny not_owner".to_owned()));
}

#[test]
fn test_reject_login_when_its_decision_cannot_be_audited() {
    use keymint::SessionKeyOps;
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = with_alice(dir.path());
    let sid = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap()
        .sid;
    s.identity.lock(&caller(), sid).unwrap();
    let record = std::fs::read(dir.path().join("identity/alice/user")).unwrap();
    s.audit.set_failing(true);
    for e in [
        s.identity
            .login(&caller(), &user("alice"), &pw("alice-pw"))
            .unwrap_err(),
        s.identity
            .login(&caller(), &user("alice"), &pw("wrong"))
            .unwrap_err(),
        s.identity
            .unlock(&caller(), sid, &pw("alice-pw"))
            .unwrap_err(),
        s.identity
            .change_password(&caller(), &user("alice"), &pw("alice-pw"), &pw("new"))
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    }
    // Nothing took effect: the session is locked, keymint holds no key,
    // the record (password) is unchanged.
    s.audit.set_failing(false);
    assert_eq!(
        s.identity.session(&caller(), sid).unwrap().state,
        SessionState::Locked
    );
    assert_eq!(s.keymint.session_user(sid).unwrap(), SessionLookup::Locked);
    let report = s.keymint.sync_sessions(&[]).unwrap();
    assert_eq!(report.ended, 1, "only the locked session was known");
    assert_eq!(
        std::fs::read(dir.path().join("identity/alice/user")).unwrap(),
        record
    );
}

#[test]
fn test_reject_guessing_caller_without_locking_out_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = with_alice(dir.path());
    let guesser = subject("app:com.example.guesser");
    let mut codes = Vec::new();
    for i in 0..8 {
        let e = s
            .identity
            .login(&guesser, &user("alice"), &pw(&format!("guess-{i}")))
            .unwrap_err();
        codes.push(e.code());
    }
    assert_eq!(codes[..4], [ErrorCode::Eperm; 4]);
    assert_eq!(codes[4], ErrorCode::Eagain);
    // The owner's app is not delayed by the guesser's failures.
    let sid = s
        .identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap()
        .sid;
    s.identity.logout(&caller(), sid).unwrap();
    // Fresh names do not reset anything: the guesser's budget over every
    // name runs out (10 failures, then one per 30 s).
    let runs = s.identity.kdf_runs();
    let mut refused = None;
    for i in 0..20 {
        clock.advance(1);
        let e = s
            .identity
            .login(&guesser, &user(&format!("fresh{i}")), &pw("guess"))
            .unwrap_err();
        if e.code() == ErrorCode::Eagain {
            refused = Some(i);
            break;
        }
    }
    assert_eq!(refused, Some(6), "4 failures on alice, then 6 fresh names");
    assert_eq!(s.identity.kdf_runs(), runs + 6);
    // Throttled attempts cost no Argon2id; the owner still logs in.
    let e = s
        .identity
        .login(&guesser, &user("fresh-x"), &pw("guess"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain);
    assert_eq!(s.identity.kdf_runs(), runs + 6);
    s.identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap();
}

/// An offline attacker with a copied user record (and not the device
/// secret) runs Argon2id over a dictionary with the record's parameters
/// and salt. Against the first format (SHA-256 of the verifier half) the
/// record confirms the right guess; against the peppered verifier nothing
/// computed from the password alone matches.
#[test]
fn test_reject_offline_guess_from_a_copied_user_record() {
    let dictionary = ["123456", "password", "alice-pw", "bob-pw", "letmein"];
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(dir.path());
    // Today's records (the fixture's first format) fall to it.
    assert_eq!(
        offline_guess(&dir.path().join("identity/alice/user"), &dictionary),
        Some("alice-pw")
    );
    let clock = ManualClock::new(1_700_000_000);
    let s = open(dir.path(), &clock);
    // The next successful check upgrades the record: peppered.
    s.identity
        .login(&caller(), &user("alice"), &pw("alice-pw"))
        .unwrap();
    assert_eq!(
        offline_guess(&dir.path().join("identity/alice/user"), &dictionary),
        None
    );
    // A new user's record never had an unpeppered verifier.
    s.identity
        .create_user(&admin(), &user("carol"), &pw("letmein"))
        .unwrap();
    assert_eq!(
        offline_guess(&dir.path().join("identity/carol/user"), &dictionary),
        None
    );
    // Bob has not logged in since the upgrade: still the first format's
    // verifier (upgraded at his next successful check).
    s.identity.instance(&admin(), &user("bob")).unwrap();
    assert_eq!(
        offline_guess(&dir.path().join("identity/bob/user"), &dictionary),
        Some("bob-pw")
    );
}

fn copy_fixture(to: &Path) {
    ui_v18b_host::copy_first_format_fixture(to).unwrap();
}

/// The attacker: parse the record (either format) and try each word.
fn offline_guess<'a>(record: &Path, words: &[&'a str]) -> Option<&'a str> {
    use argon2::{Algorithm, Argon2, Params, Version};
    use sha2::{Digest, Sha256};
    let raw = std::fs::read(record).unwrap();
    // Either envelope layout: layout 2 puts 0xFFFF where the first had
    // the version, and the version and generation after it.
    let (version, p) = if raw[4..6] == [0xff, 0xff] {
        (u16::from_be_bytes([raw[8], raw[9]]), &raw[22..])
    } else {
        (u16::from_be_bytes([raw[4], raw[5]]), &raw[10..])
    };
    let ulen = usize::from(p[0]);
    let rest = &p[1 + ulen..];
    let (verifier, params) = match version {
        1 => (&rest[12 + 16..12 + 16 + 32], &rest[..12 + 16]),
        _ => (
            &rest[16 + 2..16 + 2 + 32],
            &rest[16 + 2 + 32..16 + 2 + 32 + 28],
        ),
    };
    let n = |i: usize| u32::from_be_bytes(params[i..i + 4].try_into().unwrap());
    let (m, t, par) = (n(0), n(4), n(8));
    let salt = &params[12..28];
    for w in words {
        let mut out = [0u8; 64];
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m, t, par, Some(64)).unwrap(),
        )
        .hash_password_into(w.as_bytes(), salt, &mut out)
        .unwrap();
        let hashed: [u8; 32] = Sha256::digest(&out[..32]).into();
        if verifier == hashed || verifier == &out[..32] {
            return Some(w);
        }
    }
    None
}
