//! `key.import` and the prehashed sign/verify send the documented
//! arguments (the private key and the digest as byte strings, `prehash`
//! as its word) and map the replies.

use crate::common::{assert_last, bytes, label, rig};
use nexus_keychain::testkit::contract::{FAKE_SIG, KID, PUBLIC_KEY};
use nexus_keychain::{ErrorCode, KeyAlg, Kid};

#[test]
fn import_sends_the_seed_once_as_bytes() {
    let r = rig();
    let (p, n) = (label("ssh"), label("laptop"));
    let c = r.kc.import_key(&p, &n, KeyAlg::Ed25519, &[5; 32]).unwrap();
    assert_last(
        &r.keystored,
        "key.import",
        vec![
            ("purpose", "ssh".into()),
            ("name", "laptop".into()),
            ("alg", "Ed25519".into()),
            ("private", bytes(&[5; 32])),
        ],
    );
    assert_eq!(c.version, 1);
    assert_eq!(c.public_key.as_deref(), Some(&PUBLIC_KEY[..]));
    // Refusals keep their code; an import is never sent twice.
    let e =
        r.kc.import_key(&p, &label("exists"), KeyAlg::Ed25519, &[5; 32])
            .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Ealready));
    let e =
        r.kc.import_key(&p, &n, KeyAlg::Ed25519, &[5; 31])
            .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Einval));
}

#[test]
fn prehashed_sign_and_verify_send_the_digest_and_the_word() {
    let r = rig();
    let (p, n) = (label("signing"), label("k1"));
    let digest = [9u8; 64];
    let s = r.kc.sign_prehashed(&p, &n, &digest).unwrap();
    assert_last(
        &r.keystored,
        "key.sign",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("msg", bytes(&digest)),
            ("prehash", "BLAKE2b-512".into()),
        ],
    );
    assert_eq!(s.sig, FAKE_SIG);
    assert_eq!(s.kid, Kid::from_hex(KID).unwrap());
    let v =
        r.kc.verify_prehashed(&p, &n, &digest, &FAKE_SIG, Some(2), None)
            .unwrap();
    assert_last(
        &r.keystored,
        "key.verify",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("msg", bytes(&digest)),
            ("sig", bytes(&FAKE_SIG)),
            ("version", 2u64.into()),
            ("prehash", "BLAKE2b-512".into()),
        ],
    );
    assert_eq!(v.version, 2);
    let e =
        r.kc.verify_prehashed(&p, &n, &digest, &[0; 64], None, None)
            .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Eperm));
}
