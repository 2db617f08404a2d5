//! Audit before effect: a login, unlock or password change takes effect
//! only after its audit record and the failure counter are written. When
//! either write fails (a real failing write: a file size limit on the
//! audit log, or a full filesystem under identityd's records), the attempt
//! is denied and nothing changes: no guess is free and a correct password
//! does not unlock.

use crate::common::{a, create, login, Limit, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};
use wire::Args;

/// No session was left unsealed in keymintd: a fresh identityd ends
/// (and reports) every session an earlier run left behind.
fn assert_no_session_left(s: &mut Stack) {
    s.restart_identityd(Limit::None);
    let err = s.identityd.stderr();
    assert!(!err.contains("left unsealed by an earlier run"), "{err}");
}

/// Start with alice and an audit log of at least 2 KiB (so that every
/// state record is smaller than it).
fn stack_with_alice() -> Stack {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    while std::fs::metadata(s.audit_path()).unwrap().len() < 2048 {
        admin.call("user.list", &Args::new()).unwrap();
    }
    s
}

#[test]
fn test_reject_login_unlock_and_passwd_when_the_audit_log_cannot_be_written() {
    let mut s = stack_with_alice();
    let mut app = s.identityd.connect(ALPHA);
    let sid = login(&mut app, "alice", "pw-alice").unwrap();
    app.call("session.lock", &a(&[("sid", &sid)])).unwrap();
    let size = std::fs::metadata(s.audit_path()).unwrap().len();
    let record = std::fs::read(s.state().join("identity/alice/user")).unwrap();

    s.restart_identityd(Limit::FileSize(size));
    let mut app = s.identityd.connect(ALPHA);
    let e = login(&mut app, "alice", "pw-alice").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    let e = login(&mut app, "alice", "wrong").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    let e = app
        .call(
            "user.passwd",
            &a(&[("user", "alice"), ("old", "pw-alice"), ("new", "pw-new")]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio, "{e}");
    assert_eq!(std::fs::metadata(s.audit_path()).unwrap().len(), size);

    // Nothing changed: no session, the old password still the password.
    assert_no_session_left(&mut s);
    let after = std::fs::read(s.state().join("identity/alice/user")).unwrap();
    assert_eq!(after, record);
    let mut app = s.identityd.connect(ALPHA);
    login(&mut app, "alice", "pw-alice").unwrap();
    assert_eq!(
        login(&mut app, "alice", "pw-new").unwrap_err().code(),
        ErrorCode::Eperm
    );
}

#[test]
fn test_reject_free_guesses_when_the_failure_counter_cannot_be_written() {
    let mut s = stack_with_alice();
    s.restart_identityd(Limit::FullDir("identity"));
    let mut app = s.identityd.connect(ALPHA);
    // Every attempt is refused before it is judged: wrong guesses and the
    // right password alike, so a full disk gives an attacker nothing.
    for pw in [
        "guess-1", "guess-2", "guess-3", "guess-4", "guess-5", "pw-alice",
    ] {
        let e = login(&mut app, "alice", pw).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio, "{pw}: {e}");
    }
    let audit = s.audit();
    assert!(
        audit.contains(r#""capability":"session.login","target":"user:alice","decision":"deny","reason":"error""#),
        "{audit}"
    );
    assert!(
        !audit.contains(r#""capability":"session.login","target":"user:alice","decision":"allow""#),
        "{audit}"
    );
    assert_no_session_left(&mut s);
}
