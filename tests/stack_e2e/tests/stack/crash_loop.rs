//! keymintd, the core of the stack, killed again and again under the real
//! nexus-init: init never gives up on it, the stack serves again on its
//! own (init is not restarted), and while keymintd is down its callers get
//! `EAGAIN` naming it at once, never `ELOCKED` and never after a wait.

use crate::harness::{must, Stack, BOOT_WAIT, WAIT};
use nexus_core::Coded;
use nexus_keychain::{ErrorCode, KeyAlg, Keychain, KeychainError, Label, UserId};
use rustix::process::Signal;
use std::time::{Duration, Instant};

const USER: &str = "crash-loop";
// Not a secret: a throwaway user in a temporary state directory.
const PASSWORD: &str = "crash loop password, only for this test";

fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

/// How long a call answered while keymintd is down may take: far less than
/// the 10 s the old upstream wait took, with room for a loaded machine.
const AT_ONCE: Duration = Duration::from_secs(5);

/// What a call may answer while keymintd is being killed: success, or
/// `EAGAIN` saying keymintd is unavailable (and, for the vault after a
/// restart, `ELOCKED`: the restarted keymintd no longer holds the session
/// key). `down` says keymintd was down before and after the call: then
/// only `EAGAIN` will do.
fn check<T>(what: &str, r: Result<T, KeychainError>, took: Duration, down: bool, vault: bool) {
    assert!(took < AT_ONCE, "{what} took {took:?}");
    match r {
        Ok(_) => assert!(!down, "{what} succeeded while keymintd was down"),
        Err(KeychainError::Remote { code, msg }) => match code {
            ErrorCode::Eagain => assert!(
                msg.contains("keymintd is unavailable; try again"),
                "{what}: {msg}"
            ),
            ErrorCode::Elocked if vault && !down => {}
            other => panic!("{what} answered {other}: {msg} (keymintd down: {down})"),
        },
        Err(e) => panic!("{what} failed in transport: {e}"),
    }
}

#[test]
fn keymintd_killed_twenty_times_comes_back_and_callers_see_eagain() {
    let stack = Stack::start();
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let run = stack.run_dir();
    let kc = Keychain::connect(&run);
    let user = UserId::new(USER).unwrap();
    must(kc.user_create(&user, PASSWORD), "user.create");
    let sid = must(kc.login(&user, PASSWORD), "session.login").sid;
    let (purpose, key) = (label("crash-loop"), label("k"));
    must(kc.create_key(&purpose, &key, KeyAlg::Ed25519), "key.create");
    must(kc.put(&sid, "e", b"v"), "vault.put");

    // Twenty SIGKILLs 200 ms apart, each aimed at whatever keymintd runs
    // at that moment (none while init waits out a restart delay).
    let (mut kills, mut down_probes) = (0, 0);
    for _ in 0..20 {
        if let Some(p) = stack.daemon("keymintd") {
            crate::harness::signal(p.pid, Signal::Kill);
            kills += 1;
        }
        let before = stack.state_of("keymintd") != "up";
        let t = Instant::now();
        let signed = kc.sign(&purpose, &key, b"m");
        let sign_took = t.elapsed();
        let t = Instant::now();
        let got = kc.get(&sid, "e");
        let get_took = t.elapsed();
        let after = stack.state_of("keymintd") != "up";
        let down = before && after;
        down_probes += usize::from(down);
        check("key.sign", signed, sign_took, down, false);
        check("vault.get", got, get_took, down, true);
        std::thread::sleep(Duration::from_millis(200));
    }
    // More deaths than the crash-loop count (5 a minute): the old policy
    // gave up here and left the stack down until init itself restarted.
    assert!(kills > 5, "only {kills} kills landed");
    assert!(
        down_probes >= 3,
        "keymintd was seen down only {down_probes} times"
    );

    // It comes back on its own, under the same init.
    let init_pid = stack.pid();
    let until = Instant::now() + WAIT;
    while stack.state_of("keymintd") != "up" {
        assert!(Instant::now() < until, "keymintd did not come back");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(stack.pid(), init_pid);
    let out = stack.stdout();
    assert!(
        !out.iter().any(|l| l.starts_with("init: failed")),
        "init gave up: {out:#?}"
    );
    let restarts = out
        .iter()
        .filter(|l| l.starts_with("init: restart keymintd"))
        .count();
    assert_eq!(restarts, kills, "one restart per kill");

    // Serving again: keystored and identityd reach the new keymintd through
    // re-issued endpoints. (The restarted keymintd holds no session key, so
    // the vault needs a fresh login.)
    let until = Instant::now() + WAIT;
    loop {
        match kc.sign(&purpose, &key, b"after") {
            Ok(_) => break,
            Err(e) if e.code() == ErrorCode::Eagain && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("key.sign after recovery: {e}"),
        }
    }
    let again = must(kc.login(&user, PASSWORD), "session.login after recovery").sid;
    must(kc.put(&again, "after", b"w"), "vault.put after recovery");
    assert_eq!(
        must(kc.get(&again, "after"), "vault.get after recovery").expose(),
        b"w"
    );
    for svc in ["keystored", "identityd", "attestd", "bundlemgrd", "updated"] {
        assert_eq!(stack.state_of(svc), "up", "{svc}");
    }
    eprintln!("stack_e2e: {kills} kills of keymintd landed, {down_probes} probes saw it down");
}
