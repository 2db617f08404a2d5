//! The vault over the wire: two users and two apps fully isolated, session
//! gating (ELOCKED for a locked session, EPERM "no such session" for an
//! unknown or ended one, never ENOENT), per-subject quotas from the
//! policy, the put marker (names only) and one audit line per request.

use crate::common::{args, bytes, field, text, Stack, ALPHA, BETA};
use keymint::SessionKeyOps;
use nexus_core::{Coded, ErrorCode, SessionId};
use wire::Value;

fn sid(s: SessionId) -> Value {
    text(&s.to_string())
}

fn put(
    c: &mut wire::Client,
    s: SessionId,
    name: &str,
    v: &[u8],
) -> Result<Value, wire::ClientError> {
    c.call(
        "vault.put",
        &args(&[("sid", sid(s)), ("name", text(name)), ("value", bytes(v))]),
    )
}

fn get(c: &mut wire::Client, s: SessionId, name: &str) -> Result<Value, wire::ClientError> {
    c.call("vault.get", &args(&[("sid", sid(s)), ("name", text(name))]))
}

fn names(c: &mut wire::Client, s: SessionId) -> Value {
    field(
        &c.call("vault.list", &args(&[("sid", sid(s))])).unwrap(),
        "names",
    )
}

#[test]
fn users_and_apps_are_isolated_and_sessions_gate_access() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let alice = s.login("alice", 0x11, 0xa1);
    let bob = s.login("bob", 0x22, 0xb0);
    let mut alpha = s.keystored.connect(ALPHA);
    let mut beta = s.keystored.connect(BETA);

    put(&mut alpha, alice, "token", b"alice-alpha-SECRET-1").unwrap();
    put(&mut alpha, bob, "token", b"bob-alpha-SECRET-2").unwrap();
    put(&mut beta, alice, "other", b"alice-beta-SECRET-3").unwrap();

    assert_eq!(
        field(&get(&mut alpha, alice, "token").unwrap(), "value"),
        bytes(b"alice-alpha-SECRET-1")
    );
    assert_eq!(
        field(&get(&mut alpha, bob, "token").unwrap(), "value"),
        bytes(b"bob-alpha-SECRET-2")
    );
    // Beta sees neither alpha's entries nor their names, in either user.
    assert_eq!(
        get(&mut beta, alice, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(
        get(&mut beta, bob, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    assert_eq!(names(&mut beta, alice), Value::Array(vec![text("other")]));
    assert_eq!(names(&mut beta, bob), Value::Array(vec![]));
    assert_eq!(names(&mut alpha, alice), Value::Array(vec![text("token")]));
    // Alice's entries are not bob's.
    assert_eq!(
        get(&mut alpha, bob, "other").unwrap_err().code(),
        ErrorCode::Enoent
    );
    // A payload cannot name another app.
    let e = alpha
        .call(
            "vault.get",
            &args(&[
                ("sid", sid(alice)),
                ("name", text("other")),
                ("app", text("com.example.beta")),
            ]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);

    // Unknown and ended sessions name nothing (EPERM "no such
    // session"), a locked one is ELOCKED: never "not found".
    let unknown = SessionId::from_bytes([0x77; 16]);
    let e = get(&mut alpha, unknown, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert_eq!(e.to_string(), "EPERM: no such session");
    assert!(s.identityd.lock_session(bob).unwrap());
    assert_eq!(
        get(&mut alpha, bob, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
    assert!(!s.identityd.end_session(bob).unwrap());
    assert_eq!(
        get(&mut alpha, bob, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        put(&mut alpha, bob, "x", b"y").unwrap_err().code(),
        ErrorCode::Eperm
    );

    // Delete, then it is gone.
    alpha
        .call(
            "vault.del",
            &args(&[("sid", sid(alice)), ("name", text("token"))]),
        )
        .unwrap();
    let e = get(&mut alpha, alice, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    assert_eq!(e.to_string(), "ENOENT: no such entry `token`");

    // An app without identity.vault.use is refused (and audited).
    let mut gamma = s.keystored.connect("app:com.example.gamma");
    assert_eq!(
        get(&mut gamma, alice, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );

    // Markers: names only, never a value.
    let out = s.keystored.stdout().join("\n");
    assert!(
        out.contains("keystore: put (app=com.example.alpha, key=token)"),
        "{out}"
    );
    assert!(
        out.contains("keystore: put (app=com.example.beta, key=other)"),
        "{out}"
    );
    let audit = s.audit();
    for text in [&out, &s.keystored.stderr(), &audit] {
        assert!(!text.contains("SECRET"), "a value leaked: {text}");
    }
    let alpha_lines = audit
        .lines()
        .filter(|l| {
            l.contains(r#""subject":"app:com.example.alpha","capability":"identity.vault.use""#)
        })
        .count();
    // 3 puts, 7 gets, 1 list, 1 delete: one line each.
    assert_eq!(alpha_lines, 12, "{audit}");
    assert!(audit.contains(r#""subject":"app:com.example.gamma","capability":"identity.vault.use","target":"vault:com.example.gamma","decision":"deny""#));
}

#[test]
fn per_subject_vault_quota_comes_from_the_policy() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let alice = s.login("alice", 0x11, 0xa1);
    let mut beta = s.keystored.connect(BETA);
    let mut alpha = s.keystored.connect(ALPHA);
    // beta: soft 2 entries, hard 3.
    for (i, warned) in [(1, false), (2, false), (3, true)] {
        let r = put(&mut beta, alice, &format!("n{i}"), b"v").unwrap();
        assert_eq!(
            !field(&r, "warnings").as_array().unwrap().is_empty(),
            warned,
            "{i}"
        );
    }
    // Replacing an entry does not add one.
    put(&mut beta, alice, "n3", b"replaced").unwrap();
    let e = put(&mut beta, alice, "n4", b"v").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Edquota);
    assert!(e.to_string().contains("hard limit 3"), "{e}");
    s.keystored
        .wait_stderr("vault warning for app:com.example.beta");
    // Alpha has the default quota, in the same user's vault.
    for i in 0..5 {
        put(&mut alpha, alice, &format!("a{i}"), b"v").unwrap();
    }
    // Deleting frees room.
    beta.call(
        "vault.del",
        &args(&[("sid", sid(alice)), ("name", text("n1"))]),
    )
    .unwrap();
    put(&mut beta, alice, "n4", b"v").unwrap();
    assert_eq!(names(&mut beta, alice).as_array().unwrap().len(), 3);
}

/// Two sessions of one user share the decrypted vault: locking one makes
/// its very next get `ELOCKED` while the other still reads; once both are
/// locked, a new session reads the vault from disk again; logout (end) is
/// `EPERM` at once.
#[test]
fn test_reject_a_locked_session_at_once_while_another_of_the_user_reads() {
    use keymint::{AuthSecret, VaultOwner};
    use nexus_core::{InstanceId, UserId};
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let owner = VaultOwner {
        user: UserId::new("carol").unwrap(),
        instance: InstanceId::from_bytes([0x33; 16]),
        legacy: false,
    };
    let auth = AuthSecret::from_bytes([0x33; 32]);
    let wrapped = s.identityd.create_vault_key(&owner, &auth).unwrap();
    let open = |b: u8| {
        let sid = SessionId::from_bytes([b; 16]);
        s.identityd
            .unseal_session(sid, &owner, &auth, &wrapped)
            .unwrap();
        sid
    };
    let (one, two) = (open(0xc1), open(0xc2));
    let mut alpha = s.keystored.connect(ALPHA);
    put(&mut alpha, one, "token", b"carol-SECRET").unwrap();
    let value = |c: &mut wire::Client, sid| field(&get(c, sid, "token").unwrap(), "value");
    assert_eq!(value(&mut alpha, two), bytes(b"carol-SECRET"));

    assert!(s.identityd.lock_session(one).unwrap());
    assert_eq!(
        get(&mut alpha, one, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
    assert_eq!(value(&mut alpha, two), bytes(b"carol-SECRET"));
    assert!(s.identityd.end_session(two).unwrap());
    let e = get(&mut alpha, two, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert_eq!(
        get(&mut alpha, one, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
    // A new session of the same instance opens the vault from disk.
    let three = open(0xc3);
    assert_eq!(value(&mut alpha, three), bytes(b"carol-SECRET"));
}
