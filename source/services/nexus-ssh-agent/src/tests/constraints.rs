//! ADD_IDENTITY and its constraints, over a fake keystore that can import
//! (and one that cannot, as keystored today).

use super::*;
use crate::added::key_name;
use crate::confirm::Helper;
use std::path::PathBuf;

const SEED: [u8; 32] = [42; 32];

fn public_of(seed: [u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

fn importing(tune: impl FnOnce(&mut AgentConfig)) -> Harness {
    let h = Harness::with(tune);
    h.fake.import_enabled.store(true, Ordering::SeqCst);
    h
}

fn asker(allow: bool) -> (Box<dyn Confirm>, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let answer = Answer {
        allow,
        asked: Arc::clone(&asked),
    };
    (Box::new(answer), asked)
}

#[test]
fn test_reject_add_while_the_keystore_cannot_import() {
    let mut h = Harness::new();
    assert_eq!(h.ask(&add_msg(SEED, "me@host", None)), Response::Failure);
    assert!(h.fake.keys.lock().unwrap().is_empty());
}

#[test]
fn add_imports_under_the_purpose_and_lists() {
    let mut h = importing(|_| {});
    assert_eq!(h.ask(&add_msg(SEED, "me@host", None)), Response::Success);
    let name = key_name(b"me@host", &public_of(SEED)).unwrap();
    assert!(name.as_str().starts_with("me-host-"), "{name}");
    let ids = h.identities();
    assert_eq!(
        ids,
        [(
            ed25519_blob(&public_of(SEED)),
            format!("system/ssh/{name} v1")
        )]
    );
    // The agent signs with it through the keystore.
    let reply = h.ask(&sign_msg(&public_of(SEED), b"m", 0));
    assert!(matches!(reply, Response::Signature(_)));
    // Adding the same key again succeeds and imports nothing new.
    assert_eq!(h.ask(&add_msg(SEED, "me@host", None)), Response::Success);
    assert_eq!(h.fake.keys.lock().unwrap().len(), 1);
}

#[test]
fn add_after_remove_lists_the_key_again() {
    let mut h = importing(|_| {});
    assert_eq!(h.ask(&add_msg(SEED, "c", None)), Response::Success);
    assert_eq!(h.ask(&[msg::REMOVE_ALL_IDENTITIES]), Response::Success);
    assert!(h.identities().is_empty());
    assert_eq!(h.ask(&add_msg(SEED, "c", None)), Response::Success);
    assert_eq!(h.identities().len(), 1);
}

#[test]
fn test_reject_add_under_a_name_holding_another_key() {
    let mut h = importing(|_| {});
    let name = key_name(b"c", &public_of(SEED)).unwrap();
    h.fake.add("ssh", name.as_str(), 1);
    assert_eq!(h.ask(&add_msg(SEED, "c", None)), Response::Failure);
}

#[test]
fn lifetime_is_honoured() {
    let mut h = importing(|_| {});
    // ssh-add -t 60
    let c = [1, 0, 0, 0, 60];
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&c))), Response::Success);
    h.clock.advance(Duration::from_secs(59));
    assert_eq!(h.identities().len(), 1);
    assert!(matches!(
        h.ask(&sign_msg(&public_of(SEED), b"m", 0)),
        Response::Signature(_)
    ));
    h.clock.advance(Duration::from_secs(1));
    assert!(h.identities().is_empty());
    assert_eq!(
        h.ask(&sign_msg(&public_of(SEED), b"m", 0)),
        Response::Failure
    );
    // The key itself stays in the keystore.
    assert_eq!(h.fake.keys.lock().unwrap().len(), 1);
}

#[test]
fn test_reject_confirm_without_a_helper_before_importing() {
    let mut h = importing(|_| {});
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&[2]))), Response::Failure);
    assert!(h.fake.keys.lock().unwrap().is_empty(), "nothing imported");
}

#[test]
fn confirm_asks_the_helper_before_each_signature() {
    let (yes, asked) = asker(true);
    let mut h = importing(|c| c.confirm = Some(yes));
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&[2]))), Response::Success);
    for _ in 0..2 {
        assert!(matches!(
            h.ask(&sign_msg(&public_of(SEED), b"m", 0)),
            Response::Signature(_)
        ));
    }
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    let (no, asked) = asker(false);
    let mut h = importing(|c| c.confirm = Some(no));
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&[2]))), Response::Success);
    assert_eq!(
        h.ask(&sign_msg(&public_of(SEED), b"m", 0)),
        Response::Failure
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 0);
}

#[test]
fn test_reject_constraints_the_agent_cannot_enforce() {
    let mut h = importing(|_| {});
    // Maximum signatures (XMSS only).
    assert_eq!(
        h.ask(&add_msg(SEED, "c", Some(&[3, 0, 0, 0, 5]))),
        Response::Failure
    );
    // Destination restriction (ssh-add -h): never silently dropped.
    let mut c = vec![255];
    put_string(&mut c, b"restrict-destination-v00@openssh.com");
    put_string(&mut c, b"");
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&c))), Response::Failure);
    // An unknown constraint extension.
    let mut c = vec![255];
    put_string(&mut c, b"whatever@example.com");
    c.extend_from_slice(b"??");
    assert_eq!(h.ask(&add_msg(SEED, "c", Some(&c))), Response::Failure);
    assert!(h.fake.keys.lock().unwrap().is_empty(), "nothing imported");
}

#[test]
fn test_reject_add_of_other_key_types() {
    let mut h = importing(|_| {});
    let mut m = vec![msg::ADD_IDENTITY];
    put_string(&mut m, b"ecdsa-sha2-nistp256");
    m.extend_from_slice(&[1; 100]);
    assert_eq!(h.ask(&m), Response::Failure);
}

#[test]
fn test_reject_add_while_locked() {
    let mut h = importing(|_| {});
    assert_eq!(h.ask(&pass_msg(msg::LOCK, b"pw")), Response::Success);
    assert_eq!(h.ask(&add_msg(SEED, "c", None)), Response::Failure);
    assert!(h.fake.keys.lock().unwrap().is_empty());
}

#[test]
fn key_names_are_labels_and_stable() {
    let p = public_of(SEED);
    let plain = key_name(b"", &p).unwrap();
    let tag = &plain.as_str()[4..];
    assert_eq!(key_name(b"", &p).unwrap().as_str(), format!("key-{tag}"));
    assert_eq!(
        key_name(b"alice@laptop", &p).unwrap().as_str(),
        format!("alice-laptop-{tag}")
    );
    assert_eq!(
        key_name(b"/home/a/.ssh/id_ed25519", &p).unwrap().as_str(),
        format!("home-a-.ssh-id_ed25519-{tag}")
    );
    let long = key_name("é".repeat(100).as_bytes(), &p).unwrap();
    assert_eq!(long.as_str(), format!("key-{tag}"));
    let long = key_name(&[b'a'; 100], &p).unwrap();
    assert_eq!(long.as_str().len(), 40 + 1 + 8);
    assert_ne!(
        key_name(b"c", &public_of([1; 32])).unwrap(),
        key_name(b"c", &p).unwrap()
    );
}

#[test]
fn helper_program_answers_by_exit_status() {
    assert!(Helper::new(PathBuf::from("/bin/true")).confirm("Allow?"));
    assert!(!Helper::new(PathBuf::from("/bin/false")).confirm("Allow?"));
    assert!(!Helper::new(PathBuf::from("/nonexistent/helper")).confirm("Allow?"));
}

#[test]
fn test_reject_helper_that_does_not_answer() {
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), "#!/bin/sh\nsleep 30\n").unwrap();
    let path = script.into_temp_path();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let helper = Helper::new(path.to_path_buf()).with_timeout(Duration::from_millis(200));
    assert!(!helper.confirm("Allow?"));
}
