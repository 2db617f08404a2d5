//! Error mapping: a service's refusal keeps its code and message; a
//! service that cannot be reached, or answers nonsense, is a transport
//! error and never looks like a refusal.

use crate::common::{config, label, rig};
use nexus_core::Coded;
use nexus_keychain::testkit::contract::{LOCKED_SID, SID, SYSTEM_KID};
use nexus_keychain::testkit::FakeService;
use nexus_keychain::{ErrorCode, Keychain, KeychainError, Kid, Service};
use wire::{Subject, Value};

fn remote(e: &KeychainError) -> ErrorCode {
    assert!(!e.is_transport(), "{e}");
    e.remote_code().unwrap()
}

#[test]
fn test_reject_bad_signature_is_eperm() {
    let r = rig();
    let e =
        r.kc.verify(
            &label("signing"),
            &label("k1"),
            b"m",
            &[0u8; 64],
            None,
            None,
        )
        .unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Eperm);
    assert_eq!(e.to_string(), "EPERM: signature does not verify");
}

#[test]
fn test_reject_missing_key_is_enoent() {
    let r = rig();
    let e =
        r.kc.sign(&label("signing"), &label("missing"), b"m")
            .unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Enoent);
}

#[test]
fn test_reject_existing_key_is_ealready() {
    let r = rig();
    let e =
        r.kc.create_key(
            &label("signing"),
            &label("exists"),
            nexus_keychain::KeyAlg::Ed25519,
        )
        .unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Ealready);
}

#[test]
fn test_reject_locked_session_is_elocked_not_enoent() {
    let r = rig();
    let e = r.kc.get(&LOCKED_SID.parse().unwrap(), "x").err().unwrap();
    assert_eq!(remote(&e), ErrorCode::Elocked);
    let e = r.kc.get(&SID.parse().unwrap(), "x").err().unwrap();
    assert_eq!(remote(&e), ErrorCode::Enoent);
    assert!(e.to_string().contains("no such entry `x`"), "{e}");
}

#[test]
fn test_reject_unknown_session_with_eperm_everywhere() {
    let r = rig();
    let unknown = "0123456789abcdef0123456789abcdef".parse().unwrap();
    for e in [
        r.kc.get(&unknown, "x").err().unwrap(),
        r.kc.list(&unknown).err().unwrap(),
        r.kc.lock(&unknown).err().unwrap(),
        r.kc.logout(&unknown).err().unwrap(),
        r.kc.session_status(&unknown).err().unwrap(),
    ] {
        assert_eq!(remote(&e), ErrorCode::Eperm);
        assert!(e.to_string().contains("no such session"), "{e}");
    }
}

#[test]
fn test_reject_wrong_password_is_eperm() {
    let r = rig();
    let e = r.kc.login(&"alice".parse().unwrap(), "wrong").unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Eperm);
    assert!(!e.to_string().contains("wrong\""));
}

#[test]
fn test_reject_short_nonce_is_einval() {
    let r = rig();
    let e =
        r.kc.attest(&label("a"), &label("b"), &[1; 4], &Default::default())
            .unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Einval);
}

#[test]
fn test_reject_system_root_removal_is_eperm() {
    let r = rig();
    let e =
        r.kc.trust_rm(&Kid::from_hex(SYSTEM_KID).unwrap())
            .unwrap_err();
    assert_eq!(remote(&e), ErrorCode::Eperm);
}

#[test]
fn test_reject_unreachable_service_is_transport() {
    let dir = tempfile::tempdir().unwrap();
    let kc = Keychain::connect_with(dir.path(), config());
    let e = kc.sign(&label("a"), &label("b"), b"m").unwrap_err();
    assert!(e.is_transport());
    assert_eq!(e.remote_code(), None);
    assert_eq!(e.code(), ErrorCode::Eio);
    assert!(matches!(
        e,
        KeychainError::Transport {
            service: Service::Keystored,
            ..
        }
    ));
}

#[test]
fn test_reject_malformed_reply_is_transport_eio() {
    let dir = tempfile::tempdir().unwrap();
    let _ks = FakeService::listen(
        Service::Keystored.socket_in(dir.path()),
        Subject::Uid(0),
        |op, _| match op {
            // sig as text, kid not hex: both break the documented shape.
            "key.sign" => Ok(Value::Map(vec![
                ("sig".into(), "not bytes".into()),
                ("kid".into(), "zz".into()),
                ("version".into(), 1u64.into()),
            ])),
            _ => Ok(Value::Bool(true)),
        },
    )
    .unwrap();
    let kc = Keychain::connect_with(dir.path(), config());
    let e = kc.sign(&label("a"), &label("b"), b"m").unwrap_err();
    assert!(
        matches!(e, KeychainError::BadReply { op: "key.sign", .. }),
        "{e}"
    );
    assert_eq!(e.code(), ErrorCode::Eio);
    assert!(e.is_transport());
    let e = kc.status(Service::Keystored).unwrap_err();
    assert!(matches!(e, KeychainError::BadReply { .. }));
}

#[test]
fn test_reject_oversized_request_is_einval_before_sending() {
    let r = rig();
    let big = vec![0u8; wire::MAX_FRAME_LEN + 1];
    let before = r.keystored.requests().len();
    let e = r.kc.sign(&label("a"), &label("b"), &big).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Einval);
    assert!(matches!(e, KeychainError::Invalid(_)));
    assert_eq!(r.keystored.requests().len(), before);
}
