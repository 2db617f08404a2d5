//! Every keychain method sends exactly the documented op and arguments
//! (the fake also refuses any undocumented argument or wrong type with
//! EINVAL) and maps the documented reply into its typed result.

use crate::common::{assert_last, bytes, label, rig};
use nexus_keychain::testkit::contract::{
    ADDED_KID, DEVICE_KID, FAKE_SIG, KID, PASSWORD, PUBLIC_KEY, SEAL_PREFIX, SID, SYSTEM_KID, TOKEN,
};
use nexus_keychain::{
    CustomClaims, CustomValue, KeyAlg, KeyState, Kid, RootSource, RootStatus, Service,
    SessionState, TrustAdd, VersionState,
};
use wire::Value;

fn kid(s: &str) -> Kid {
    Kid::from_hex(s).unwrap()
}

#[test]
fn key_lifecycle_requests_and_replies() {
    let r = rig();
    let (p, n) = (label("signing"), label("k1"));

    let c = r.kc.create_key(&p, &n, KeyAlg::Ed25519).unwrap();
    assert_last(
        &r.keystored,
        "key.create",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("alg", "Ed25519".into()),
        ],
    );
    assert_eq!(c.version, 1);
    assert_eq!(c.kid, Some(kid(KID)));
    assert_eq!(c.public_key.as_deref(), Some(&PUBLIC_KEY[..]));
    assert!(c.warnings.is_empty());

    let c = r.kc.create_key(&p, &n, KeyAlg::XChaCha20Poly1305).unwrap();
    assert_eq!(
        r.keystored.last().unwrap().1.get("alg"),
        Some(&"XChaCha20-Poly1305".into())
    );
    assert_eq!((c.kid, c.public_key), (None, None));

    let c = r.kc.rotate(&p, &n).unwrap();
    assert_last(
        &r.keystored,
        "key.rotate",
        vec![("purpose", "signing".into()), ("name", "k1".into())],
    );
    assert_eq!(c.version, 3);

    r.kc.revoke(&p, &n, None).unwrap();
    assert_last(
        &r.keystored,
        "key.revoke",
        vec![("purpose", "signing".into()), ("name", "k1".into())],
    );
    r.kc.revoke(&p, &n, Some(2)).unwrap();
    assert_last(
        &r.keystored,
        "key.revoke",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("version", 2u64.into()),
        ],
    );
    r.kc.retire(&p, &n, 2).unwrap();
    assert_last(
        &r.keystored,
        "key.retire",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("min_version", 2u64.into()),
        ],
    );
}

#[test]
fn key_info_is_mapped_in_full() {
    let r = rig();
    let keys = r.kc.list_keys(None).unwrap();
    assert_last(&r.keystored, "key.list", vec![]);
    assert_eq!(keys.len(), 1);
    let app = "com.example.beta".parse().unwrap();
    r.kc.list_keys(Some(&app)).unwrap();
    assert_last(
        &r.keystored,
        "key.list",
        vec![("app", "com.example.beta".into())],
    );

    let info =
        r.kc.show_key(&label("signing"), &label("k1"), Some(&app))
            .unwrap();
    assert_last(
        &r.keystored,
        "key.show",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("app", "com.example.beta".into()),
        ],
    );
    assert_eq!(info.app.as_str(), "com.example.beta");
    assert_eq!(info.alg, KeyAlg::Ed25519);
    assert_eq!(info.state, KeyState::Active);
    assert_eq!((info.primary, info.min_version), (2, 1));
    assert_eq!((info.created, info.rotated), (1_700_000_000, 1_700_000_100));
    assert_eq!(info.versions.len(), 2);
    assert_eq!(info.versions[0].state, VersionState::Retired);
    assert_eq!(info.versions[1].kid, Some(kid(KID)));
}

#[test]
fn sign_verify_seal_unseal_export() {
    let r = rig();
    let (p, n) = (label("signing"), label("k1"));
    let s = r.kc.sign(&p, &n, b"hello").unwrap();
    assert_last(
        &r.keystored,
        "key.sign",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("msg", bytes(b"hello")),
        ],
    );
    assert_eq!(
        (s.sig.as_slice(), s.kid, s.version),
        (&FAKE_SIG[..], kid(KID), 2)
    );

    let v =
        r.kc.verify(&p, &n, b"hello", &s.sig, Some(2), None)
            .unwrap();
    assert_last(
        &r.keystored,
        "key.verify",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("msg", bytes(b"hello")),
            ("sig", bytes(&FAKE_SIG)),
            ("version", 2u64.into()),
        ],
    );
    assert_eq!((v.version, v.kid), (2, kid(KID)));

    let sealed = r.kc.seal(&p, &n, b"secret", Some(b"ctx")).unwrap();
    assert_last(
        &r.keystored,
        "key.seal",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("pt", bytes(b"secret")),
            ("aad", bytes(b"ctx")),
        ],
    );
    assert!(sealed.sealed.starts_with(SEAL_PREFIX));
    assert_eq!(sealed.version, 2);
    let opened = r.kc.unseal(&p, &n, &sealed.sealed, None).unwrap();
    assert_last(
        &r.keystored,
        "key.unseal",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("sealed", bytes(&sealed.sealed)),
        ],
    );
    assert!(opened.plaintext.ct_eq(b"secret"));
    assert_eq!(opened.version, 2);

    let e = r.kc.export_wrapped(&p, &n, Some(1)).unwrap();
    assert_last(
        &r.keystored,
        "key.export",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("version", 1u64.into()),
        ],
    );
    assert_eq!(e.blob, b"wrapped-blob");
    assert_eq!((e.purpose.as_str(), e.name.as_str()), ("signing", "k1"));
    assert_eq!(e.alg, KeyAlg::Ed25519);

    let d = r.kc.device_info().unwrap();
    assert_last(&r.keystored, "device.info", vec![]);
    assert_eq!(d.device_id.len(), 32);
    assert!(d.volatile && !d.insecure);
}

#[test]
fn vault_round_trip() {
    let r = rig();
    let sid = SID.parse().unwrap();
    let warnings = r.kc.put(&sid, "db-password", b"s3cret").unwrap();
    assert!(warnings.is_empty());
    assert_last(
        &r.keystored,
        "vault.put",
        vec![
            ("sid", SID.into()),
            ("name", "db-password".into()),
            ("value", bytes(b"s3cret")),
        ],
    );
    let v = r.kc.get(&sid, "db-password").unwrap();
    assert_last(
        &r.keystored,
        "vault.get",
        vec![("sid", SID.into()), ("name", "db-password".into())],
    );
    assert!(v.ct_eq(b"s3cret"));
    assert_eq!(r.kc.list(&sid).unwrap(), vec!["db-password".to_owned()]);
    assert_last(&r.keystored, "vault.list", vec![("sid", SID.into())]);
    r.kc.del(&sid, "db-password").unwrap();
    assert_last(
        &r.keystored,
        "vault.del",
        vec![("sid", SID.into()), ("name", "db-password".into())],
    );
    assert!(r.kc.list(&sid).unwrap().is_empty());
}

#[test]
fn sessions_and_users() {
    let r = rig();
    let alice = "alice".parse().unwrap();
    let s = r.kc.login(&alice, PASSWORD).unwrap();
    assert_last(
        &r.identityd,
        "session.login",
        vec![("user", "alice".into()), ("password", PASSWORD.into())],
    );
    assert_eq!(s.sid.to_string(), SID);
    assert_eq!((s.user.as_str(), s.state), ("alice", SessionState::Active));

    r.kc.lock(&s.sid).unwrap();
    assert_last(&r.identityd, "session.lock", vec![("sid", SID.into())]);
    r.kc.unlock(&s.sid, PASSWORD).unwrap();
    assert_last(
        &r.identityd,
        "session.unlock",
        vec![("sid", SID.into()), ("password", PASSWORD.into())],
    );
    let st = r.kc.session_status(&s.sid).unwrap();
    assert_last(&r.identityd, "session.status", vec![("sid", SID.into())]);
    assert_eq!(
        (st.user.as_str(), st.state),
        ("alice", SessionState::Active)
    );
    r.kc.logout(&s.sid).unwrap();
    assert_last(&r.identityd, "session.logout", vec![("sid", SID.into())]);

    let bob = "bob".parse().unwrap();
    r.kc.user_create(&bob, "pw").unwrap();
    assert_last(
        &r.identityd,
        "user.create",
        vec![("user", "bob".into()), ("password", "pw".into())],
    );
    r.kc.user_passwd(&bob, PASSWORD, "new").unwrap();
    assert_last(
        &r.identityd,
        "user.passwd",
        vec![
            ("user", "bob".into()),
            ("old", PASSWORD.into()),
            ("new", "new".into()),
        ],
    );
    let users: Vec<String> =
        r.kc.user_list()
            .unwrap()
            .iter()
            .map(|u| u.to_string())
            .collect();
    assert_eq!(users, ["alice", "bob"]);
    assert_last(&r.identityd, "user.list", vec![]);
    r.kc.user_delete(&bob).unwrap();
    assert_last(&r.identityd, "user.delete", vec![("user", "bob".into())]);
}

#[test]
fn attest_and_device_key() {
    let r = rig();
    let mut claims = CustomClaims::new();
    claims
        .insert(-65538, CustomValue::Text("blue".into()))
        .unwrap();
    claims.insert(-65539, CustomValue::Int(-5)).unwrap();
    let nonce = [1u8; 16];
    let t =
        r.kc.attest(&label("signing"), &label("k1"), &nonce, &claims)
            .unwrap();
    assert_last(
        &r.attestd,
        "attest",
        vec![
            ("purpose", "signing".into()),
            ("name", "k1".into()),
            ("nonce", bytes(&nonce)),
            (
                "claims",
                Value::Map(vec![
                    (
                        Value::Integer((-65539i64).into()),
                        Value::Integer((-5i64).into()),
                    ),
                    (
                        Value::Integer((-65538i64).into()),
                        Value::Text("blue".into()),
                    ),
                ]),
            ),
        ],
    );
    assert_eq!((t.token.as_slice(), t.device_kid), (TOKEN, kid(DEVICE_KID)));
    r.kc.attest(
        &label("signing"),
        &label("k1"),
        &nonce,
        &CustomClaims::new(),
    )
    .unwrap();
    assert!(r.attestd.last().unwrap().1.get("claims").is_none());

    let d = r.kc.device_key().unwrap();
    assert_last(&r.attestd, "attest.device_key", vec![]);
    assert_eq!(
        (d.public_key.as_slice(), d.kid, d.version),
        (&PUBLIC_KEY[..], kid(DEVICE_KID), 1)
    );
    r.kc.rotate_device_key().unwrap();
    assert_last(&r.attestd, "attest.rotate_device_key", vec![]);
}

#[test]
fn trust_store_ops() {
    let r = rig();
    let add = TrustAdd::Key {
        public_key: "RWQ...".into(),
        label: label("publisher"),
        scopes: vec!["packages".into()],
        not_before: None,
        not_after: Some(4_102_444_800),
    };
    assert_eq!(r.kc.trust_add(&add).unwrap(), kid(ADDED_KID));
    assert_last(
        &r.keystored,
        "trust.add",
        vec![
            ("public_key", "RWQ...".into()),
            ("label", "publisher".into()),
            ("scopes", Value::Array(vec!["packages".into()])),
            ("not_after", 4_102_444_800u64.into()),
        ],
    );
    r.kc.trust_add(&TrustAdd::RootFile("format = 1\n".into()))
        .unwrap();
    assert_last(
        &r.keystored,
        "trust.add",
        vec![("root_file", "format = 1\n".into())],
    );

    let roots = r.kc.trust_list().unwrap();
    assert_last(&r.keystored, "trust.list", vec![]);
    assert_eq!(roots.len(), 2);
    assert_eq!(roots[0].source, RootSource::System);
    assert_eq!(roots[1].status, RootStatus::Valid);
    assert_eq!(roots[1].public_key, None);

    let shown = r.kc.trust_show(&kid(SYSTEM_KID)).unwrap();
    assert_last(&r.keystored, "trust.show", vec![("kid", SYSTEM_KID.into())]);
    assert_eq!(shown.public_key.as_deref(), Some(&PUBLIC_KEY[..]));
    r.kc.trust_rm(&kid(ADDED_KID)).unwrap();
    assert_last(&r.keystored, "trust.rm", vec![("kid", ADDED_KID.into())]);
    r.kc.trust_distrust(&kid(SYSTEM_KID)).unwrap();
    assert_last(
        &r.keystored,
        "trust.distrust",
        vec![("kid", SYSTEM_KID.into())],
    );
}

#[test]
fn status_of_each_service() {
    let r = rig();
    for (svc, st) in r.kc.status_all() {
        let st = st.unwrap();
        assert_eq!(st.service, svc.name());
        assert!(st.volatile);
        assert_eq!(st.version, "0.1.0");
    }
    assert_last(&r.attestd, "status", vec![]);
    assert!(r.kc.status(Service::Updated).is_err());
}
