//! Tokens from the in-process stack: what they bind, that they verify with
//! our verifier and with pycose, that the payload is deterministic CBOR,
//! and whose app id they carry.

use crate::common::*;
use attestd::KeyRef;
use detcbor::Value;
use eat::{Assurance, CustomClaims, CustomValue};
use nexus_core::ErrorCode;

fn alpha_key(f: &Fixture) -> keystore::KeyName {
    f.create_key(ALPHA, "sign", "k")
}

#[test]
fn token_binds_device_app_key_nonce_time_and_stub() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    let key = alpha_key(&f);
    let app_pk = f.store.public_key(&subject(ALPHA), &key, None).unwrap();
    let device = f.svc.device_key().unwrap();

    let mut custom = CustomClaims::new();
    custom
        .insert(-65538, CustomValue::Text("build-42".into()))
        .unwrap();
    custom.insert(-65539, CustomValue::Int(-7)).unwrap();
    let a = f
        .svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            custom.clone(),
        )
        .unwrap();

    let v = eat::verify_token(&a.token, device.public.as_bytes(), NONCE, NOW).unwrap();
    assert_eq!(v.claims.app_id.as_str(), "com.example.alpha");
    assert_eq!(v.attested_kid, app_pk.kid);
    assert_eq!(v.claims.attested_key, app_pk.key);
    assert_eq!(v.device_kid, device.kid);
    assert_eq!(v.claims.nonce.as_bytes(), NONCE);
    assert_eq!(v.claims.iat, NOW);
    assert_eq!(
        v.claims.ueid.random_part(),
        &keymint::KeyOps::device_id(&*f.keymint)
    );
    assert_eq!(v.claims.swname.as_str(), "nexus-attestd");
    assert_eq!(v.claims.swversion.as_str(), env!("CARGO_PKG_VERSION"));
    assert_eq!(v.claims.custom, custom);
    assert_eq!(v.assurance, Assurance::SoftwareStub);

    assert_eq!(a.app.as_str(), "com.example.alpha");
    assert_eq!(a.attested_kid, app_pk.kid);
    assert_eq!(a.attested_version, 1);
    assert_eq!(a.device_kid, device.kid);
    assert_eq!(
        attestd::attest_marker(&a.app, &a.attested_kid),
        format!(
            "attest: ok app=com.example.alpha key={}",
            app_pk.kid.to_hex()
        )
    );
}

#[test]
fn token_verifies_with_pycose() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    alpha_key(&f);
    let a = f
        .svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    let device = f.svc.device_key().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = pycose(
        work.path(),
        &a.token,
        device.public.as_bytes(),
        NONCE,
        "com.example.alpha",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pycose refused attestd's token:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("OK app=com.example.alpha"), "{stdout}");
    assert!(
        stdout.contains(&format!("device_kid={}", device.kid)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("attested_kid={}", a.attested_kid)),
        "{stdout}"
    );

    // The same script refuses the token for another app id or nonce, so
    // the check above is a real one.
    let other_app = pycose(
        work.path(),
        &a.token,
        device.public.as_bytes(),
        NONCE,
        "com.example.beta",
    );
    assert_eq!(other_app.status.code(), Some(1));
    let other_nonce = pycose(
        work.path(),
        &a.token,
        device.public.as_bytes(),
        b"another-nonce-01",
        "com.example.alpha",
    );
    assert_eq!(other_nonce.status.code(), Some(1));
}

#[test]
fn token_and_payload_are_deterministic_cbor() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    alpha_key(&f);
    let mut custom = CustomClaims::new();
    custom
        .insert(-70000, CustomValue::Bytes(vec![0xff; 40]))
        .unwrap();
    custom.insert(-65538, CustomValue::Bool(true)).unwrap();
    let a = f
        .svc
        .attest(
            &subject(ALPHA),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            custom,
        )
        .unwrap();
    let Value::Tag(18, body) = detcbor::check_deterministic(&a.token).unwrap() else {
        panic!("not a tagged COSE_Sign1")
    };
    let Value::Array(parts) = *body else {
        panic!("not an array")
    };
    let (Value::Bytes(protected), Value::Bytes(payload)) = (&parts[0], &parts[2]) else {
        panic!("header or payload not bytes")
    };
    detcbor::check_deterministic(protected).unwrap();
    let Value::Map(claims) = detcbor::check_deterministic(payload).unwrap() else {
        panic!("payload not a map")
    };
    // §4.2.1 order: encoded bytes, so 6 < 8 < 10 < 256 < … < -65537 < -65538 < -70000.
    let labels: Vec<i64> = claims
        .iter()
        .map(|(k, _)| match k {
            Value::Integer(i) => i64::try_from(*i).unwrap(),
            _ => panic!("non-integer label"),
        })
        .collect();
    assert_eq!(
        labels,
        [6, 8, 10, 256, 265, 266, 270, 271, -65537, -65538, -70000]
    );
}

#[test]
fn two_callers_get_their_own_app_ids() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    f.create_key(ALPHA, "sign", "k");
    f.create_key(BETA, "sign", "k");
    let device = f.svc.device_key().unwrap();
    let same_request = KeyRef::own(label("sign"), label("k"));
    let mut kids = Vec::new();
    for (caller, app) in [(ALPHA, "com.example.alpha"), (BETA, "com.example.beta")] {
        let a = f
            .svc
            .attest(&subject(caller), &same_request, NONCE, CustomClaims::new())
            .unwrap();
        let v = eat::verify_token(&a.token, device.public.as_bytes(), NONCE, NOW).unwrap();
        assert_eq!(v.claims.app_id.as_str(), app);
        let own = f
            .store
            .public_key(
                &subject(caller),
                &keystore::KeyName::parse(app, "sign", "k").unwrap(),
                None,
            )
            .unwrap();
        assert_eq!(v.attested_kid, own.kid, "{caller} got another app's key");
        kids.push(v.attested_kid);
    }
    assert_ne!(kids[0], kids[1]);

    // A system caller's tokens name its own key namespace, and attest its
    // own key there; attestd's device key is not the administrator's.
    f.create_key(ADMIN, "sign", "k");
    let sys = f
        .svc
        .attest(
            &subject(ADMIN),
            &KeyRef::own(label("sign"), label("k")),
            NONCE,
            CustomClaims::new(),
        )
        .unwrap();
    assert_eq!(sys.app.as_str(), "system.admin");
    expect_code(
        f.svc.attest(
            &subject(ADMIN),
            &KeyRef::own(label("device-attest"), label("device")),
            NONCE,
            CustomClaims::new(),
        ),
        ErrorCode::Enoent,
    );
}

#[test]
fn test_reject_other_apps_key_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    f.create_key(BETA, "sign", "k");
    f.audit.clear().unwrap();
    let beta = nexus_core::AppId::new("com.example.beta").unwrap();
    let existing = KeyRef {
        app: Some(beta.clone()),
        purpose: label("sign"),
        name: label("k"),
    };
    let missing = KeyRef {
        app: Some(beta),
        purpose: label("sign"),
        name: label("nope"),
    };
    let m1 = expect_code(
        f.svc
            .attest(&subject(ALPHA), &existing, NONCE, CustomClaims::new()),
        ErrorCode::Eperm,
    );
    let m2 = expect_code(
        f.svc
            .attest(&subject(ALPHA), &missing, NONCE, CustomClaims::new()),
        ErrorCode::Eperm,
    );
    // Same answer whether or not the key exists, and decided before the
    // authorizer or the keystore is asked.
    assert_eq!(m1, m2);
    assert_eq!(
        m1,
        "app:com.example.alpha may not attest keys of app com.example.beta"
    );
    assert!(f.audit_lines().is_empty(), "{:?}", f.audit_lines());
    // Even system callers attest only their own namespace.
    let alpha_key = KeyRef {
        app: Some(nexus_core::AppId::new("com.example.alpha").unwrap()),
        purpose: label("sign"),
        name: label("k"),
    };
    expect_code(
        f.svc
            .attest(&subject(ADMIN), &alpha_key, NONCE, CustomClaims::new()),
        ErrorCode::Eperm,
    );
    // Naming one's own app explicitly is allowed.
    f.create_key(ALPHA, "sign", "k");
    f.svc
        .attest(&subject(ALPHA), &alpha_key, NONCE, CustomClaims::new())
        .unwrap();
}

#[test]
fn attest_capability_allow_and_deny_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::open(dir.path());
    f.create_key(ALPHA, "sign", "k");
    f.create_key(GAMMA, "sign", "k");
    f.audit.clear().unwrap();
    let k = KeyRef::own(label("sign"), label("k"));

    f.svc
        .attest(&subject(ALPHA), &k, NONCE, CustomClaims::new())
        .unwrap();
    let lines = f.audit_lines();
    assert_eq!(
        lines,
        [
            format!(
                "{{\"time\":{NOW},\"subject\":\"app:com.example.alpha\",\"capability\":\"identity.attest\",\
                 \"target\":\"com.example.alpha/sign/k\",\"decision\":\"allow\",\"reason\":\"granted\"}}\n"
            ),
            // attestd's own use of the device key, through the keystore.
            format!(
                "{{\"time\":{NOW},\"subject\":\"system:attestd\",\"capability\":\"identity.key.sign\",\
                 \"target\":\"system.attestd/device-attest/device\",\"decision\":\"allow\",\"reason\":\"granted\"}}\n"
            ),
        ]
    );

    f.audit.clear().unwrap();
    let msg = expect_code(
        f.svc
            .attest(&subject(GAMMA), &k, NONCE, CustomClaims::new()),
        ErrorCode::Eperm,
    );
    assert_eq!(msg, "app:com.example.gamma lacks identity.attest");
    assert_eq!(
        f.audit_lines(),
        [format!(
            "{{\"time\":{NOW},\"subject\":\"app:com.example.gamma\",\"capability\":\"identity.attest\",\
             \"target\":\"com.example.gamma/sign/k\",\"decision\":\"deny\",\"reason\":\"not_granted\"}}\n"
        )],
        "a denial is audited and nothing is signed"
    );
}
