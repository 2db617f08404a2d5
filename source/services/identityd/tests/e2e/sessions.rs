//! Users and sessions over the wire, and the vault they gate in
//! keystored: login → put/get, lock → ELOCKED, unlock, logout; two users
//! isolated; admin-only user management; uniform EPERM for wrong
//! passwords and unknown users; malformed requests; markers and audit.

use crate::common::{a, field, get, login, put, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use std::time::Instant;
use wire::{Args, Client, Value};

#[test]
fn test_kdf_flag_is_in_the_ready_marker_and_status_answers() {
    let (s, ready) = Stack::start(&["--kdf-test-params"]);
    assert_eq!(ready, "identityd: ready (TEST-KDF)");
    let mut c = s.identityd.connect(ALPHA);
    let st = c.call("status", &Args::new()).unwrap();
    assert_eq!(field(&st, "service"), Value::Text("identityd".into()));
    // stderr is read by a thread of its own: wait for the line.
    s.identityd.wait_stderr("TEST-ONLY Argon2id parameters");
}

#[test]
fn production_kdf_by_default() {
    let (s, ready) = Stack::start(&[]);
    assert_eq!(ready, "identityd: ready");
    // One user with the production parameters (64 MiB, 3 passes).
    let mut admin = Client::connect(s.socket()).unwrap();
    let t0 = Instant::now();
    admin
        .call(
            "user.create",
            &a(&[("user", "carol"), ("password", "pw-carol")]),
        )
        .unwrap();
    eprintln!("user.create with production Argon2id: {:?}", t0.elapsed());
    let mut c = s.identityd.connect(ALPHA);
    login(&mut c, "carol", "pw-carol").unwrap();
}

#[test]
fn users_sessions_and_the_vault_they_gate() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = Client::connect(s.socket()).unwrap();
    let mut alpha = s.identityd.connect(ALPHA);
    let mut ks_alpha = s.keystored.connect(ALPHA);
    let mut ks_beta = s.keystored.connect(BETA);

    // User management is for system:admin only.
    assert_eq!(
        alpha
            .call("user.create", &a(&[("user", "mallory"), ("password", "x")]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        alpha.call("user.list", &Args::new()).unwrap_err().code(),
        ErrorCode::Eperm
    );
    for (u, p) in [("alice", "pw-alice-Sekr1t"), ("bob", "pw-bob-Sekr1t")] {
        admin
            .call("user.create", &a(&[("user", u), ("password", p)]))
            .unwrap();
    }
    assert_eq!(
        admin
            .call("user.create", &a(&[("user", "bob"), ("password", "x")]))
            .unwrap_err()
            .code(),
        ErrorCode::Ealready
    );
    let users = field(&admin.call("user.list", &Args::new()).unwrap(), "users");
    assert_eq!(users, Value::Array(vec!["alice".into(), "bob".into()]));

    // Wrong password and unknown user: the same EPERM.
    let wrong = login(&mut alpha, "alice", "nope").unwrap_err();
    let unknown = login(&mut alpha, "nobody", "nope").unwrap_err();
    assert_eq!(wrong.code(), ErrorCode::Eperm);
    assert_eq!(wrong.to_string(), unknown.to_string());

    let alice = login(&mut alpha, "alice", "pw-alice-Sekr1t").unwrap();
    let bob = login(&mut alpha, "bob", "pw-bob-Sekr1t").unwrap();
    let st = alpha
        .call("session.status", &a(&[("sid", &alice)]))
        .unwrap();
    assert_eq!(field(&st, "user"), Value::Text("alice".into()));

    // The vault in keystored: per user (session) and per app (channel).
    put(&mut ks_alpha, &alice, "token", b"alice-VALUE").unwrap();
    put(&mut ks_alpha, &bob, "token", b"bob-VALUE").unwrap();
    assert_eq!(
        field(&get(&mut ks_alpha, &alice, "token").unwrap(), "value"),
        Value::Bytes(b"alice-VALUE".to_vec())
    );
    assert_eq!(
        field(&get(&mut ks_alpha, &bob, "token").unwrap(), "value"),
        Value::Bytes(b"bob-VALUE".to_vec())
    );
    assert_eq!(
        get(&mut ks_beta, &alice, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );

    // Lock: the vault is locked (never "not found"); unlock needs the
    // password; bob's session is unaffected.
    let r = alpha.call("session.lock", &a(&[("sid", &alice)])).unwrap();
    assert_eq!(field(&r, "state"), Value::Text("locked".into()));
    assert_eq!(
        get(&mut ks_alpha, &alice, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
    get(&mut ks_alpha, &bob, "token").unwrap();
    // Failures beyond three free ones cost a growing delay (1 s, 2 s, …).
    // Fail until the delay is at least 2 s, so that one tick of the clock
    // cannot end it before the next attempt.
    let retry_secs = |e: &wire::ClientError| -> u64 {
        let m = e.to_string();
        let n = m.split("retry in ").nth(1).unwrap();
        n.split(' ').next().unwrap().parse().unwrap()
    };
    let mut wait = 0;
    for _ in 0..20 {
        let e = alpha
            .call(
                "session.unlock",
                &a(&[("sid", &alice), ("password", "pw-bob-Sekr1t")]),
            )
            .unwrap_err();
        match e.code() {
            ErrorCode::Eperm => continue,
            ErrorCode::Eagain if retry_secs(&e) >= 2 => {
                wait = retry_secs(&e);
                break;
            }
            ErrorCode::Eagain => std::thread::sleep(std::time::Duration::from_secs(retry_secs(&e))),
            other => panic!("unexpected {other:?}: {e}"),
        }
    }
    assert!(wait >= 2);
    // Throttled: EAGAIN even for the right password, before Argon2id.
    let e = alpha
        .call(
            "session.unlock",
            &a(&[("sid", &alice), ("password", "pw-alice-Sekr1t")]),
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eagain, "{e}");
    assert_eq!(
        get(&mut ks_alpha, &alice, "token").unwrap_err().code(),
        ErrorCode::Elocked
    );
    std::thread::sleep(std::time::Duration::from_secs(wait + 1));
    let r = alpha
        .call(
            "session.unlock",
            &a(&[("sid", &alice), ("password", "pw-alice-Sekr1t")]),
        )
        .unwrap();
    assert_eq!(field(&r, "state"), Value::Text("active".into()));
    assert_eq!(
        field(&get(&mut ks_alpha, &alice, "token").unwrap(), "value"),
        Value::Bytes(b"alice-VALUE".to_vec())
    );

    // Password change: the vault key is rewrapped, entries survive.
    admin
        .call(
            "user.passwd",
            &a(&[
                ("user", "bob"),
                ("old", "pw-bob-Sekr1t"),
                ("new", "pw-bob-2"),
            ]),
        )
        .unwrap();
    alpha.call("session.logout", &a(&[("sid", &bob)])).unwrap();
    // An ended session names nothing: EPERM "no such session".
    assert_eq!(
        get(&mut ks_alpha, &bob, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        alpha
            .call("session.status", &a(&[("sid", &bob)]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        login(&mut alpha, "bob", "pw-bob-Sekr1t")
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    let bob2 = login(&mut alpha, "bob", "pw-bob-2").unwrap();
    assert_eq!(
        field(&get(&mut ks_alpha, &bob2, "token").unwrap(), "value"),
        Value::Bytes(b"bob-VALUE".to_vec())
    );

    // Deleting a user ends their sessions.
    admin.call("user.delete", &a(&[("user", "bob")])).unwrap();
    assert_eq!(
        get(&mut ks_alpha, &bob2, "token").unwrap_err().code(),
        ErrorCode::Eperm
    );

    // Malformed requests get EINVAL and the connection stays usable.
    for (op, args) in [
        ("session.login", a(&[("user", "alice")])),
        ("session.login", a(&[("user", "../x"), ("password", "p")])),
        ("session.lock", a(&[("sid", "xyz")])),
        ("session.nope", Args::new()),
        ("user.list", a(&[("extra", "1")])),
    ] {
        assert_eq!(
            alpha.call(op, &args).unwrap_err().code(),
            ErrorCode::Einval,
            "{op}"
        );
    }
    alpha.call("status", &Args::new()).unwrap();

    // Audit: admin decisions by the policy engine, password checks by
    // identityd; never a password.
    let audit = s.audit();
    for needle in [
        r#""subject":"app:com.example.alpha","capability":"identity.user.admin","target":"user:mallory","decision":"deny""#,
        r#""subject":"system:admin","capability":"identity.user.admin","target":"user:alice","decision":"allow""#,
        r#""capability":"session.login","target":"user:alice","decision":"deny","reason":"password""#,
        r#""capability":"session.login","target":"user:alice","decision":"allow""#,
        r#""capability":"session.unlock","target":"user:alice","decision":"deny","reason":"throttled""#,
    ] {
        assert!(audit.contains(needle), "missing {needle} in {audit}");
    }
    // identityd asked keymintd only for its own ops (no refusals there).
    assert!(
        !s.keymintd.stderr().contains("denied"),
        "{}",
        s.keymintd.stderr()
    );
    for text in [audit, s.identityd.stderr(), s.identityd.stdout().join("\n")] {
        assert!(
            !text.contains("Sekr1t") && !text.contains("VALUE"),
            "{text}"
        );
    }
}
