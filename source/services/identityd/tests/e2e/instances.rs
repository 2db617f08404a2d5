//! A user is an instance, not a name: deleting a user destroys its vault
//! (file and every decrypted copy in keystored and keymintd) and ends its
//! sessions; a re-created name starts empty; a deletion that cannot reach
//! keystored leaves the user in place (pending), never half deleted.

use crate::common::{a, create, get, login, put, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use wire::{Args, Value};

fn names(ks: &mut wire::Client, sid: &str) -> Value {
    crate::common::field(
        &ks.call("vault.list", &a(&[("sid", sid)])).unwrap(),
        "names",
    )
}

#[test]
fn test_reject_recreated_user_reading_the_old_users_vault() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    let mut app = s.identityd.connect(ALPHA);
    let mut ks = s.keystored.connect(ALPHA);
    let mut ks_beta = s.keystored.connect(BETA);
    create(&mut admin, "alice", "pw-old-alice");
    let old = login(&mut app, "alice", "pw-old-alice").unwrap();
    put(&mut ks, &old, "token", b"OLD-ALICE-SECRET").unwrap();
    put(&mut ks_beta, &old, "note", b"OLD-ALICE-NOTE").unwrap();
    // A second session of the old alice, still unsealed at the deletion.
    let old2 = login(&mut app, "alice", "pw-old-alice").unwrap();
    get(&mut ks, &old2, "token").unwrap();

    admin.call("user.delete", &a(&[("user", "alice")])).unwrap();
    create(&mut admin, "alice", "pw-new-alice");
    let new = login(&mut app, "alice", "pw-new-alice").unwrap();

    // Nothing of the old alice reaches the new one.
    let e = get(&mut ks, &new, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent, "{e}");
    assert_eq!(names(&mut ks, &new), Value::Array(vec![]));
    assert_eq!(names(&mut ks_beta, &new), Value::Array(vec![]));
    // A put re-seals only what the new alice stored.
    put(&mut ks, &new, "fresh", b"new").unwrap();
    assert_eq!(names(&mut ks, &new), Value::Array(vec!["fresh".into()]));
    assert_eq!(names(&mut ks_beta, &new), Value::Array(vec![]));
    // The old sessions name nothing, in identityd and in keystored.
    for sid in [&old, &old2] {
        let e = get(&mut ks, sid, "token").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm, "{e}");
        assert_eq!(e.to_string(), "EPERM: no such session");
        let e = app.call("session.status", &a(&[("sid", sid)])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm, "{e}");
    }
    // Restarted keystored (nothing in memory): still only the new data.
    drop(ks);
    let mut s = s;
    s.stop_keystored();
    s.start_keystored();
    let mut ks = s.keystored.connect(ALPHA);
    assert_eq!(names(&mut ks, &new), Value::Array(vec!["fresh".into()]));
    for text in [s.keystored.stderr(), s.identityd.stderr()] {
        assert!(!text.contains("OLD-ALICE"), "{text}");
    }
}

#[test]
fn test_reject_vault_purge_by_anyone_but_identityd() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    let mut app = s.identityd.connect(ALPHA);
    create(&mut admin, "alice", "pw-alice");
    let sid = login(&mut app, "alice", "pw-alice").unwrap();
    let mut ks = s.keystored.connect(ALPHA);
    put(&mut ks, &sid, "token", b"kept").unwrap();
    let instance = "0123456789abcdef0123456789abcdef";
    for subject in [ALPHA, "system:admin", "system:keystored", "system:selftest"] {
        let mut c = s.keystored.connect(subject);
        let e = c
            .call("vault.purge", &a(&[("instance", instance)]))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eperm, "{subject}: {e}");
    }
    // Not even the admin's public-socket connection.
    let mut public = wire::Client::connect(s.dir.path().join("run/keystored.sock")).unwrap();
    let e = public
        .call("vault.purge", &a(&[("instance", instance)]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm, "{e}");
    assert!(get(&mut ks, &sid, "token").is_ok());
    let audit = std::fs::read_to_string(s.state().join("audit/keystored.jsonl")).unwrap();
    assert!(
        audit.contains(r#""capability":"vault.purge","target":"vault:0123456789abcdef0123456789abcdef","decision":"deny""#),
        "{audit}"
    );
}

#[test]
fn test_reject_recreating_a_user_whose_deletion_could_not_reach_keystored() {
    let (mut s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    let mut app = s.identityd.connect(ALPHA);
    create(&mut admin, "alice", "pw-alice");
    let sid = login(&mut app, "alice", "pw-alice").unwrap();
    let mut ks = s.keystored.connect(ALPHA);
    put(&mut ks, &sid, "token", b"OLD").unwrap();
    drop(ks);

    s.stop_keystored();
    let e = admin
        .call("user.delete", &a(&[("user", "alice")]))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
    assert!(e.to_string().contains("keystored"), "{e}");
    // Pending: the name is taken, nobody can log in, the sessions ended.
    let e = admin
        .call(
            "user.create",
            &a(&[("user", "alice"), ("password", "pw-new")]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ealready, "{e}");
    assert_eq!(
        login(&mut app, "alice", "pw-alice").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        app.call("session.status", &a(&[("sid", &sid)]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );

    s.start_keystored();
    admin.call("user.delete", &a(&[("user", "alice")])).unwrap();
    let users = admin.call("user.list", &Args::new()).unwrap();
    assert_eq!(crate::common::field(&users, "users"), Value::Array(vec![]));
    create(&mut admin, "alice", "pw-new");
    let new = login(&mut app, "alice", "pw-new").unwrap();
    let mut ks = s.keystored.connect(ALPHA);
    assert_eq!(
        get(&mut ks, &new, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
}
