//! After keymintd restarts (its session keys live only in its memory),
//! identityd's sessions agree with it: they read `locked`, the vault says
//! `ELOCKED`, and unlock with the password brings them back.

use crate::common::{a, create, get, login, put, status, value, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};

const NOTICED: &str = "keymint restarted (new boot id)";

#[test]
fn test_reject_active_session_after_keymintd_restart() {
    let (mut s, _) = Stack::start(&["--kdf-test-params"]);
    let mut admin = s.admin();
    create(&mut admin, "alice", "pw-alice");
    let mut app = s.identityd.connect(ALPHA);
    let sid = login(&mut app, "alice", "pw-alice").unwrap();
    let mut ks = s.keystored.connect(ALPHA);
    put(&mut ks, &sid, "token", b"kept").unwrap();

    s.restart_keymintd();

    // keymintd lost the key: the session is locked, everywhere.
    let e = get(&mut ks, &sid, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked, "{e}");
    assert_eq!(status(&mut app, &sid).unwrap(), "locked");
    let e = get(&mut ks, &sid, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked, "{e}");
    // Unlock works (not EALREADY) and the vault is back.
    let r = app
        .call(
            "session.unlock",
            &a(&[("sid", &sid), ("password", "pw-alice")]),
        )
        .unwrap();
    assert_eq!(
        crate::common::field(&r, "state"),
        wire::Value::Text("active".into())
    );
    assert_eq!(status(&mut app, &sid).unwrap(), "active");
    assert_eq!(value(&get(&mut ks, &sid, "token").unwrap()), b"kept");
    // A second restart is noticed without any session op: identityd
    // watches keymintd's boot id, and keystored answers ELOCKED.
    s.restart_keymintd();
    let e = get(&mut ks, &sid, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked, "{e}");
    let seen = |s: &Stack| s.identityd.stderr().matches(NOTICED).count();
    let deadline = std::time::Instant::now() + nexus_daemon::testkit::WAIT;
    while seen(&s) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            s.identityd.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let e = get(&mut ks, &sid, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Elocked, "{e}");
    let e = get(&mut ks, "00112233445566778899aabbccddeeff", "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm, "{e}");
    assert_eq!(status(&mut app, &sid).unwrap(), "locked");
}
