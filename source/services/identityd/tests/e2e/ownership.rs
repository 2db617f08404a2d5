//! Session ids are handles, not credentials: session control (status,
//! lock, unlock, logout) needs the subject that logged the session in or
//! `identity.user.admin`; an unknown, ended or foreign session id is
//! `EPERM` "no such session" everywhere, `ELOCKED` only for a known
//! locked session. The vault ops work for any subject holding the id, each
//! in its own app namespace.

use crate::common::{a, create, get, login, put, status, value, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};

const UNKNOWN: &str = "00112233445566778899aabbccddeeff";

fn no_such_session(r: Result<wire::Value, wire::ClientError>, what: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm, "{what}: {e}");
    assert_eq!(e.to_string(), "EPERM: no such session", "{what}");
}

#[test]
fn test_reject_lock_and_logout_of_another_subjects_session() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let mut alpha = s.identityd.connect(ALPHA);
    let mut beta = s.identityd.connect(BETA);
    let sid = login(&mut alpha, "alice", "pw-alice").unwrap();
    let mut ks_alpha = s.keystored.connect(ALPHA);
    put(&mut ks_alpha, &sid, "token", b"alpha-value").unwrap();

    // Another app that learned the id cannot control the session.
    for op in ["session.lock", "session.logout", "session.status"] {
        no_such_session(beta.call(op, &a(&[("sid", &sid)])), op);
    }
    no_such_session(
        beta.call(
            "session.unlock",
            &a(&[("sid", &sid), ("password", "pw-alice")]),
        ),
        "session.unlock",
    );
    assert_eq!(status(&mut alpha, &sid).unwrap(), "active");
    assert_eq!(
        value(&get(&mut ks_alpha, &sid, "token").unwrap()),
        b"alpha-value"
    );

    // The vault ops work for whoever holds the id, in its own namespace.
    let mut ks_beta = s.keystored.connect(BETA);
    assert_eq!(
        get(&mut ks_beta, &sid, "token").unwrap_err().code(),
        ErrorCode::Enoent
    );
    put(&mut ks_beta, &sid, "token", b"beta-value").unwrap();
    assert_eq!(
        value(&get(&mut ks_alpha, &sid, "token").unwrap()),
        b"alpha-value"
    );

    // The owner and the administrator can.
    admin.call("session.lock", &a(&[("sid", &sid)])).unwrap();
    assert_eq!(status(&mut alpha, &sid).unwrap(), "locked");
    alpha
        .call(
            "session.unlock",
            &a(&[("sid", &sid), ("password", "pw-alice")]),
        )
        .unwrap();
    alpha.call("session.logout", &a(&[("sid", &sid)])).unwrap();
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.beta","capability":"session.lock","#),
        "{audit}"
    );
}

#[test]
fn test_reject_unknown_or_ended_session_with_eperm_everywhere() {
    let (s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let mut alpha = s.identityd.connect(ALPHA);
    let mut ks = s.keystored.connect(ALPHA);
    let sid = login(&mut alpha, "alice", "pw-alice").unwrap();
    put(&mut ks, &sid, "token", b"v").unwrap();

    // A known, locked session: ELOCKED in the vault, for every op.
    alpha.call("session.lock", &a(&[("sid", &sid)])).unwrap();
    for (op, args) in vault_ops(&sid) {
        let e = ks.call(op, &args).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Elocked, "{op}: {e}");
    }
    alpha.call("session.logout", &a(&[("sid", &sid)])).unwrap();

    // Ended and never-issued ids: EPERM "no such session", everywhere.
    for id in [sid.as_str(), UNKNOWN] {
        for (op, args) in vault_ops(id) {
            no_such_session(ks.call(op, &args), op);
        }
        for op in ["session.lock", "session.logout", "session.status"] {
            no_such_session(alpha.call(op, &a(&[("sid", id)])), op);
            no_such_session(admin.call(op, &a(&[("sid", id)])), op);
        }
        no_such_session(
            alpha.call(
                "session.unlock",
                &a(&[("sid", id), ("password", "pw-alice")]),
            ),
            "session.unlock",
        );
    }
}

fn vault_ops(sid: &str) -> Vec<(&'static str, wire::Args)> {
    vec![
        ("vault.get", a(&[("sid", sid), ("name", "token")])),
        ("vault.get", a(&[("sid", sid), ("name", "missing")])),
        ("vault.del", a(&[("sid", sid), ("name", "token")])),
        ("vault.list", a(&[("sid", sid)])),
        (
            "vault.put",
            a(&[("sid", sid), ("name", "x")]).with("value", wire::Value::Bytes(b"y".to_vec())),
        ),
    ]
}
