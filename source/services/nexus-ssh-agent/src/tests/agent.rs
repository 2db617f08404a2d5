//! The agent's answers: identities, signatures, removal, lock, extensions.

use super::*;
use crate::bind::MAX_BINDINGS;
use crate::lock::MAX_DELAY;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// Check a `SIGN_RESPONSE` body: an ssh-ed25519 signature by `public`
/// over `data`.
fn assert_signed(reply: Response, public: &[u8; 32], data: &[u8]) {
    let Response::Signature(blob) = reply else {
        panic!("not a signature: {reply:?}")
    };
    let mut c = crate::proto::cursor::Cursor::new(&blob);
    assert_eq!(c.string().unwrap(), b"ssh-ed25519");
    let sig = Signature::from_bytes(c.fixed::<64>("sig").unwrap());
    c.finish().unwrap();
    VerifyingKey::from_bytes(public)
        .unwrap()
        .verify(data, &sig)
        .unwrap();
}

#[test]
fn identities_are_the_active_ed25519_keys_of_the_purpose() {
    let mut h = Harness::new();
    let laptop = h.fake.add("ssh", "laptop", 1);
    h.fake.add("release", "signer", 2);
    let revoked = h.fake.add("ssh", "old", 3);
    h.fake.keys.lock().unwrap()[2].revoked = true;
    h.fake.add("ssh", "sealer", 4);
    h.fake.keys.lock().unwrap()[3].alg = KeyAlg::XChaCha20Poly1305;
    let ids = h.identities();
    assert_eq!(
        ids,
        [(ed25519_blob(&laptop), "system/ssh/laptop v1".to_owned())]
    );
    assert_ne!(ids[0].0, ed25519_blob(&revoked));
}

#[test]
fn identities_list_the_primary_version_only() {
    let mut h = Harness::new();
    h.fake.add("ssh", "laptop", 1);
    h.fake.rotate("laptop", 9);
    let v2 = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
    assert_eq!(
        h.identities(),
        [(ed25519_blob(&v2), "system/ssh/laptop v2".to_owned())]
    );
}

#[test]
fn another_purpose_can_be_configured() {
    let mut h = Harness::with(|c| c.purpose = label("git"));
    h.fake.add("ssh", "laptop", 1);
    let git = h.fake.add("git", "signing", 2);
    assert_eq!(
        h.identities(),
        [(ed25519_blob(&git), "system/git/signing v1".to_owned())]
    );
}

#[test]
fn test_reject_identities_when_the_keystore_refuses() {
    let mut h = Harness::new();
    h.fake.list_fails.store(true, Ordering::SeqCst);
    assert_eq!(h.ask(&[msg::REQUEST_IDENTITIES]), Response::Failure);
}

#[test]
fn signs_through_the_keystore() {
    let mut h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    // No listing first: a sign for a key not yet listed refreshes.
    let reply = h.ask(&sign_msg(&public, b"to be signed", 0));
    assert_signed(reply, &public, b"to be signed");
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 1);
}

#[test]
fn test_reject_sign_of_a_bare_64_byte_digest() {
    let mut h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    assert_eq!(h.ask(&sign_msg(&public, &[7; 64], 0)), Response::Failure);
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 0);
    // One byte more or less is signed as usual.
    for len in [63, 65] {
        let data = vec![7; len];
        assert_signed(h.ask(&sign_msg(&public, &data, 0)), &public, &data);
    }
}

#[test]
fn test_reject_rsa_sign_flags() {
    let mut h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    for flags in [2, 4, 6, 1, 8] {
        assert_eq!(h.ask(&sign_msg(&public, b"x", flags)), Response::Failure);
    }
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 0);
}

#[test]
fn test_reject_sign_with_unknown_key() {
    let mut h = Harness::new();
    h.fake.add("ssh", "laptop", 1);
    let other = h.fake.add("release", "signer", 2);
    assert_eq!(h.ask(&sign_msg(&[5; 32], b"x", 0)), Response::Failure);
    // A key of another purpose is not an identity of this agent.
    assert_eq!(h.ask(&sign_msg(&other, b"x", 0)), Response::Failure);
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 0);
}

#[test]
fn test_reject_signature_after_rotation() {
    let mut h = Harness::new();
    let v1 = h.fake.add("ssh", "laptop", 1);
    h.identities();
    h.fake.rotate("laptop", 9);
    // The keystore now signs with v2: that signature is not v1's.
    assert_eq!(h.ask(&sign_msg(&v1, b"x", 0)), Response::Failure);
    // After listing again, the new version signs.
    let v2 = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
    h.identities();
    assert_signed(h.ask(&sign_msg(&v2, b"x", 0)), &v2, b"x");
}

#[test]
fn test_reject_sign_with_revoked_key() {
    let mut h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    h.identities();
    h.fake.keys.lock().unwrap()[0].revoked = true;
    assert_eq!(h.ask(&sign_msg(&public, b"x", 0)), Response::Failure);
}

#[test]
fn remove_hides_from_this_agent_only() {
    let mut h = Harness::new();
    let a = h.fake.add("ssh", "a", 1);
    let b = h.fake.add("ssh", "b", 2);
    let mut m = vec![msg::REMOVE_IDENTITY];
    put_string(&mut m, &ed25519_blob(&a));
    assert_eq!(h.ask(&m), Response::Success);
    assert_eq!(h.identities().len(), 1);
    assert_eq!(h.ask(&sign_msg(&a, b"x", 0)), Response::Failure);
    // Removing it again: no such identity.
    assert_eq!(h.ask(&m), Response::Failure);
    assert_eq!(h.ask(&[msg::REMOVE_ALL_IDENTITIES]), Response::Success);
    assert!(h.identities().is_empty());
    assert_eq!(h.ask(&sign_msg(&b, b"x", 0)), Response::Failure);
    // The keystore still has both.
    assert_eq!(h.fake.keys.lock().unwrap().len(), 2);
    // A key created afterwards is listed.
    h.fake.add("ssh", "c", 3);
    assert_eq!(h.identities().len(), 1);
}

#[test]
fn lock_and_unlock() {
    let mut h = Harness::new();
    let public = h.fake.add("ssh", "laptop", 1);
    assert_eq!(h.ask(&pass_msg(msg::LOCK, b"secret")), Response::Success);
    // Locked: no identities, no signatures, no second lock.
    assert!(h.identities().is_empty());
    assert_eq!(h.ask(&sign_msg(&public, b"x", 0)), Response::Failure);
    assert_eq!(h.ask(&pass_msg(msg::LOCK, b"other")), Response::Failure);
    assert_eq!(h.ask(&[msg::REMOVE_ALL_IDENTITIES]), Response::Failure);
    assert_eq!(h.fake.signs.load(Ordering::SeqCst), 0);
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"secret")), Response::Success);
    assert_signed(h.ask(&sign_msg(&public, b"x", 0)), &public, b"x");
    // Unlocking an unlocked agent fails.
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"secret")), Response::Failure);
}

#[test]
fn test_reject_wrong_passphrase_and_throttle() {
    let mut h = Harness::new();
    h.fake.add("ssh", "laptop", 1);
    assert_eq!(h.ask(&pass_msg(msg::LOCK, b"secret")), Response::Success);
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"wrong")), Response::Failure);
    // Inside the throttle window even the right passphrase is refused,
    // without being compared.
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"secret")), Response::Failure);
    assert!(h.identities().is_empty(), "still locked");
    h.clock.advance(Duration::from_millis(100));
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"wrong")), Response::Failure);
    // The second failure doubles the wait.
    h.clock.advance(Duration::from_millis(100));
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"secret")), Response::Failure);
    h.clock.advance(Duration::from_millis(100));
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"secret")), Response::Success);
    assert_eq!(h.identities().len(), 1);
}

#[test]
fn throttle_is_capped_and_shared_by_every_connection() {
    let mut h = Harness::new();
    h.fake.add("ssh", "laptop", 1);
    assert_eq!(h.ask(&pass_msg(msg::LOCK, b"secret")), Response::Success);
    for _ in 0..20 {
        assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"wrong")), Response::Failure);
        h.clock.advance(MAX_DELAY);
    }
    // Another connection is throttled too: the window is the agent's.
    assert_eq!(h.ask(&pass_msg(msg::UNLOCK, b"wrong")), Response::Failure);
    let mut other = Connection::default();
    let unlock = pass_msg(msg::UNLOCK, b"secret");
    let req = parse_request(&unlock).unwrap();
    assert_eq!(h.agent.handle(&mut other, req), Response::Failure);
    h.clock.advance(MAX_DELAY);
    let req = parse_request(&unlock).unwrap();
    assert_eq!(h.agent.handle(&mut other, req), Response::Success);
}

#[test]
fn test_reject_unknown_extension_with_extension_failure() {
    let mut h = Harness::new();
    let mut m = vec![msg::EXTENSION];
    put_string(&mut m, b"query");
    assert_eq!(h.ask(&m), Response::ExtensionFailure);
    let mut m = vec![msg::EXTENSION];
    put_string(&mut m, b"no-such@example.com");
    m.extend_from_slice(b"anything");
    assert_eq!(h.ask(&m), Response::ExtensionFailure);
    assert_eq!(Response::ExtensionFailure.encode(), [28]);
}

#[test]
fn test_reject_smartcard_and_unknown_messages() {
    let mut h = Harness::new();
    for t in [
        msg::ADD_SMARTCARD_KEY,
        msg::REMOVE_SMARTCARD_KEY,
        msg::ADD_SMARTCARD_KEY_CONSTRAINED,
        1,
        24,
        99,
    ] {
        assert_eq!(h.ask(&[t, 0, 0, 0, 0]), Response::Failure);
    }
}

/// A session-bind extension message from a host key made of `host_seed`.
fn bind_msg(host_seed: u8, session_id: &[u8], forwarding: bool, good: bool) -> Vec<u8> {
    let host = SigningKey::from_bytes(&[host_seed; 32]);
    let mut sig_over = session_id.to_vec();
    if !good {
        sig_over.push(0);
    }
    let mut sig = Vec::new();
    put_string(&mut sig, b"ssh-ed25519");
    put_string(&mut sig, &host.sign(&sig_over).to_bytes());
    let mut m = vec![msg::EXTENSION];
    put_string(&mut m, b"session-bind@openssh.com");
    put_string(&mut m, &ed25519_blob(&host.verifying_key().to_bytes()));
    put_string(&mut m, session_id);
    put_string(&mut m, &sig);
    m.push(u8::from(forwarding));
    m
}

#[test]
fn session_bind_is_verified_and_recorded() {
    let mut h = Harness::new();
    assert_eq!(
        h.ask(&bind_msg(7, b"session-1", true, true)),
        Response::Success
    );
    assert_eq!(
        h.ask(&bind_msg(7, b"session-2", false, true)),
        Response::Success
    );
    let host = SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes();
    assert_eq!(h.conn.bindings.len(), 2);
    assert_eq!(
        h.conn.bindings[0].host,
        crate::identities::fingerprint(&host)
    );
    assert!(h.conn.bindings[0].forwarding && !h.conn.bindings[1].forwarding);
    // Bindings are per connection.
    assert!(Connection::default().bindings.is_empty());
}

#[test]
fn test_reject_session_bind_with_bad_signature() {
    let mut h = Harness::new();
    assert_eq!(h.ask(&bind_msg(7, b"sid", false, false)), Response::Failure);
    assert!(h.conn.bindings.is_empty());
}

#[test]
fn test_reject_session_bind_rebinding() {
    let mut h = Harness::new();
    assert_eq!(h.ask(&bind_msg(7, b"a", true, true)), Response::Success);
    // The same session twice.
    assert_eq!(h.ask(&bind_msg(7, b"a", true, true)), Response::Failure);
    assert_eq!(h.ask(&bind_msg(7, b"b", false, true)), Response::Success);
    // Anything after a binding for authentication.
    assert_eq!(h.ask(&bind_msg(7, b"c", true, true)), Response::Failure);
    let mut h = Harness::new();
    for i in 0..MAX_BINDINGS {
        assert_eq!(
            h.ask(&bind_msg(7, format!("s{i}").as_bytes(), true, true)),
            Response::Success
        );
    }
    assert_eq!(
        h.ask(&bind_msg(7, b"one too many", true, true)),
        Response::Failure
    );
}

#[test]
fn test_reject_session_bind_with_unverifiable_host_key() {
    let mut h = Harness::new();
    let mut key = Vec::new();
    put_string(&mut key, b"ecdsa-sha2-nistp256");
    put_string(&mut key, b"nistp256");
    put_string(&mut key, &[4; 65]);
    let mut m = vec![msg::EXTENSION];
    put_string(&mut m, b"session-bind@openssh.com");
    put_string(&mut m, &key);
    put_string(&mut m, b"sid");
    put_string(&mut m, b"sig");
    m.push(0);
    assert_eq!(h.ask(&m), Response::Failure);
}
