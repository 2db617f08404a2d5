//! Keys over the wire: two apps isolated, the ops and their replies,
//! markers, device.info and the audit trail.

use crate::common::{args, bytes, field, text, Stack, ALPHA, ATTESTD, BETA};
use nexus_core::{Coded, ErrorCode};
use std::time::Duration;
use wire::{Args, Value};

fn code(r: Result<Value, wire::ClientError>) -> ErrorCode {
    r.unwrap_err().code()
}

#[test]
fn ready_markers_status_and_device_info() {
    let s = Stack::start();
    let ready = s.keystored.wait_for("keystored: ready");
    assert_eq!(
        ready,
        nexus_daemon::ready_line("keystored", false, keymint::INSECURE_BUILD)
    );
    // The vault's marker comes right after, nothing between them.
    assert_eq!(
        s.keystored.next_line(Duration::from_secs(5)).as_deref(),
        Some("keystore: ready")
    );
    let mut admin = s.keystored.connect("system:admin");
    let st = admin.call("status", &Args::new()).unwrap();
    assert_eq!(field(&st, "service"), text("keystored"));
    assert_eq!(field(&st, "volatile"), Value::Bool(false));
    let info = admin.call("device.info", &Args::new()).unwrap();
    assert_eq!(field(&info, "device_id"), bytes(&s.identityd_device_id()));
    let mut alpha = s.keystored.connect(ALPHA);
    assert_eq!(
        code(alpha.call("device.info", &Args::new())),
        ErrorCode::Eperm
    );
    // Each system service's keys live in its own namespace.
    let mut attestd = s.keystored.connect(ATTESTD);
    attestd
        .call(
            "key.create",
            &with(key("device-attest", "device"), &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    let shown = attestd
        .call("key.show", &args(&key("device-attest", "device")))
        .unwrap();
    assert_eq!(field(&shown, "app"), text("system.attestd"));
    let audit = s.audit();
    assert!(audit.contains(r#""subject":"app:com.example.alpha","capability":"device.info","target":"device","decision":"deny""#), "{audit}");
    assert!(audit.contains(r#""subject":"system:attestd","capability":"identity.key.create","target":"system.attestd/device-attest/device","decision":"allow""#), "{audit}");
}

impl Stack {
    fn identityd_device_id(&self) -> Vec<u8> {
        use keymint::KeyOps;
        self.identityd.device_id().to_vec()
    }
}

fn key(purpose: &str, name: &str) -> Vec<(&'static str, Value)> {
    vec![("purpose", text(purpose)), ("name", text(name))]
}

fn with(mut base: Vec<(&'static str, Value)>, more: &[(&'static str, Value)]) -> Args {
    base.extend_from_slice(more);
    args(&base)
}

#[test]
fn two_apps_are_isolated_and_every_key_op_works() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    let mut beta = s.keystored.connect(BETA);

    let c = alpha
        .call(
            "key.create",
            &with(key("signing", "k1"), &[("alg", text("Ed25519"))]),
        )
        .unwrap();
    assert_eq!(field(&c, "version"), Value::Integer(1.into()));
    assert_eq!(field(&c, "warnings"), Value::Array(vec![]));
    let kid1 = field(&c, "kid");
    let pk1 = field(&c, "public_key");
    assert_eq!(pk1.as_bytes().unwrap().len(), 32);

    let signed = alpha
        .call(
            "key.sign",
            &with(key("signing", "k1"), &[("msg", bytes(b"hello"))]),
        )
        .unwrap();
    assert_eq!(field(&signed, "kid"), kid1);
    let sig1 = field(&signed, "sig");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(
        pk1.as_bytes().unwrap().as_slice().try_into().unwrap(),
    )
    .unwrap();
    let sig = ed25519_dalek::Signature::from_slice(sig1.as_bytes().unwrap()).unwrap();
    vk.verify_strict(b"hello", &sig).unwrap();

    // Beta: the same name in its own namespace does not exist; naming
    // alpha is refused before anything is read.
    assert_eq!(
        code(beta.call("key.show", &args(&key("signing", "k1")))),
        ErrorCode::Enoent
    );
    let other = with(key("signing", "k1"), &[("app", text("com.example.alpha"))]);
    let e = beta.call("key.show", &other).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert!(!e.to_string().contains("Ed25519"), "{e}");
    assert_eq!(
        code(beta.call("key.list", &args(&[("app", text("com.example.alpha"))]))),
        ErrorCode::Eperm
    );
    let verify_other = with(
        key("signing", "k1"),
        &[
            ("app", text("com.example.alpha")),
            ("msg", bytes(b"hello")),
            ("sig", sig1.clone()),
        ],
    );
    assert_eq!(
        code(beta.call("key.verify", &verify_other)),
        ErrorCode::Eperm
    );
    // Beta's private ops always act on beta's namespace.
    assert_eq!(
        code(beta.call(
            "key.sign",
            &with(key("signing", "k1"), &[("msg", bytes(b"x"))])
        )),
        ErrorCode::Enoent
    );
    // A payload naming another app for a private op is refused; naming
    // one's own is the same as naming none.
    assert_eq!(
        code(beta.call(
            "key.sign",
            &with(
                key("signing", "k1"),
                &[("msg", bytes(b"x")), ("app", text("com.example.alpha"))]
            )
        )),
        ErrorCode::Eperm
    );
    assert_eq!(
        code(beta.call(
            "key.sign",
            &with(
                key("signing", "k1"),
                &[("msg", bytes(b"x")), ("app", text("com.example.beta"))]
            )
        )),
        ErrorCode::Enoent
    );
    // Beta lacks rotate in the policy.
    beta.call(
        "key.create",
        &with(key("signing", "b1"), &[("alg", text("Ed25519"))]),
    )
    .unwrap();
    assert_eq!(
        code(beta.call("key.rotate", &args(&key("signing", "b1")))),
        ErrorCode::Eperm
    );
    // A system subject reads any app's public metadata.
    let mut attestd = s.keystored.connect(ATTESTD);
    let shown = attestd.call("key.show", &other).unwrap();
    assert_eq!(field(&shown, "app"), text("com.example.alpha"));
    let listed = beta.call("key.list", &Args::new()).unwrap();
    assert_eq!(field(&listed, "keys").as_array().unwrap().len(), 1);

    // Rotate; old signatures still verify (version found by the service).
    let r = alpha
        .call("key.rotate", &args(&key("signing", "k1")))
        .unwrap();
    assert_eq!(field(&r, "version"), Value::Integer(2.into()));
    assert_ne!(field(&r, "kid"), kid1);
    let v = alpha
        .call(
            "key.verify",
            &with(
                key("signing", "k1"),
                &[("msg", bytes(b"hello")), ("sig", sig1.clone())],
            ),
        )
        .unwrap();
    assert_eq!(field(&v, "version"), Value::Integer(1.into()));
    assert_eq!(field(&v, "kid"), kid1);
    assert_eq!(field(&v, "valid"), Value::Bool(true));
    let bad = with(
        key("signing", "k1"),
        &[("msg", bytes(b"hellO")), ("sig", sig1.clone())],
    );
    assert_eq!(code(alpha.call("key.verify", &bad)), ErrorCode::Eperm);
    let pinned = with(
        key("signing", "k1"),
        &[
            ("msg", bytes(b"hello")),
            ("sig", sig1.clone()),
            ("version", Value::Integer(2.into())),
        ],
    );
    assert_eq!(code(alpha.call("key.verify", &pinned)), ErrorCode::Eperm);
    let info = alpha
        .call("key.show", &args(&key("signing", "k1")))
        .unwrap();
    assert_eq!(field(&info, "primary"), Value::Integer(2.into()));
    assert_eq!(field(&info, "versions").as_array().unwrap().len(), 2);

    // Retire v1: it no longer verifies.
    alpha
        .call(
            "key.retire",
            &with(
                key("signing", "k1"),
                &[("min_version", Value::Integer(2.into()))],
            ),
        )
        .unwrap();
    let old = with(
        key("signing", "k1"),
        &[
            ("msg", bytes(b"hello")),
            ("sig", sig1),
            ("version", Value::Integer(1.into())),
        ],
    );
    assert_eq!(code(alpha.call("key.verify", &old)), ErrorCode::Ekeyrevoked);

    // Seal / unseal with AAD; export is a wrapped blob only.
    alpha
        .call(
            "key.create",
            &with(key("data", "d1"), &[("alg", text("XChaCha20-Poly1305"))]),
        )
        .unwrap();
    let sealed = alpha
        .call(
            "key.seal",
            &with(
                key("data", "d1"),
                &[("pt", bytes(b"secret-plaintext")), ("aad", bytes(b"ctx"))],
            ),
        )
        .unwrap();
    let blob = field(&sealed, "sealed");
    assert!(!blob
        .as_bytes()
        .unwrap()
        .windows(16)
        .any(|w| w == b"secret-plaintext"));
    let opened = alpha
        .call(
            "key.unseal",
            &with(
                key("data", "d1"),
                &[("sealed", blob.clone()), ("aad", bytes(b"ctx"))],
            ),
        )
        .unwrap();
    assert_eq!(field(&opened, "pt"), bytes(b"secret-plaintext"));
    assert_eq!(
        code(alpha.call(
            "key.unseal",
            &with(
                key("data", "d1"),
                &[("sealed", blob.clone()), ("aad", bytes(b"other"))]
            )
        )),
        ErrorCode::Eio
    );
    // Beta cannot open alpha's ciphertext (its namespace has no such key).
    assert_eq!(
        code(beta.call("key.unseal", &with(key("data", "d1"), &[("sealed", blob)]))),
        ErrorCode::Enoent
    );
    let ex = alpha
        .call("key.export", &args(&key("signing", "k1")))
        .unwrap();
    assert_eq!(field(&ex, "version"), Value::Integer(2.into()));
    assert_eq!(field(&ex, "app"), text("com.example.alpha"));

    // Revoke: every use fails with EKEYREVOKED.
    alpha
        .call("key.revoke", &args(&key("signing", "k1")))
        .unwrap();
    assert_eq!(
        code(alpha.call(
            "key.sign",
            &with(key("signing", "k1"), &[("msg", bytes(b"x"))])
        )),
        ErrorCode::Ekeyrevoked
    );
    assert_eq!(
        code(alpha.call(
            "key.create",
            &with(key("signing", "k1"), &[("alg", text("Ed25519"))])
        )),
        ErrorCode::Ealready
    );

    // Audit: the policy's decisions and the handler's own.
    let audit = s.audit();
    for needle in [
        r#""subject":"app:com.example.beta","capability":"key.show","target":"com.example.alpha","decision":"deny","reason":"other_app""#,
        r#""subject":"app:com.example.beta","capability":"identity.key.rotate","target":"com.example.beta/signing/b1","decision":"deny""#,
        r#""subject":"system:attestd","capability":"key.show","target":"com.example.alpha","decision":"allow""#,
        r#""subject":"app:com.example.alpha","capability":"identity.key.sign","target":"com.example.alpha/signing/k1","decision":"allow""#,
    ] {
        assert!(audit.contains(needle), "missing {needle} in {audit}");
    }
    // No plaintext anywhere in logs or markers.
    for text in [
        s.audit(),
        s.keystored.stderr(),
        s.keystored.stdout().join("\n"),
    ] {
        assert!(!text.contains("secret-plaintext"));
    }
}

#[test]
fn test_reject_bad_arguments_with_einval() {
    let s = Stack::start();
    s.keystored.wait_for("keystored: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    for (op, a) in [
        (
            "key.create",
            with(key("signing", "k"), &[("alg", text("RSA"))]),
        ),
        (
            "key.create",
            with(key("bad name", "k"), &[("alg", text("Ed25519"))]),
        ),
        ("key.create", args(&key("signing", "k"))),
        (
            "key.sign",
            with(key("signing", "k"), &[("msg", text("not bytes"))]),
        ),
        (
            "key.revoke",
            with(
                key("signing", "k"),
                &[("version", Value::Integer((1u64 << 40).into()))],
            ),
        ),
        (
            "key.show",
            with(key("signing", "k"), &[("app", text("../etc"))]),
        ),
        (
            "vault.get",
            args(&[("sid", text("nothex")), ("name", text("n"))]),
        ),
        ("trust.show", args(&[("kid", text("00"))])),
        ("status", args(&[("x", Value::Integer(1.into()))])),
    ] {
        assert_eq!(code(alpha.call(op, &a)), ErrorCode::Einval, "{op} {a:?}");
    }
    let e = alpha.call("key.nope", &Args::new()).unwrap_err();
    assert_eq!(e.to_string(), "EINVAL: unknown op: key.nope");
    // Still usable after every refusal.
    alpha.call("status", &Args::new()).unwrap();
}

/// keymintd's refusal keeps its meaning through keystored: unsealing
/// with the wrong AAD, or a tampered blob, is `EIO` "authentication
/// failed" (docs/identity/keystore.md), opaque about which check failed
/// and without any input echoed, never a bare "remote keymint failed".
#[test]
fn test_reject_wrong_aad_says_authentication_failed_across_both_daemons() {
    let s = Stack::start();
    s.keystored.wait_for("keystored: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    alpha
        .call(
            "key.create",
            &with(key("data", "d1"), &[("alg", text("XChaCha20-Poly1305"))]),
        )
        .unwrap();
    let sealed = alpha
        .call(
            "key.seal",
            &with(
                key("data", "d1"),
                &[("pt", bytes(b"secret-plaintext")), ("aad", bytes(b"ctx-A"))],
            ),
        )
        .unwrap();
    let blob = field(&sealed, "sealed").into_bytes().unwrap();
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    for (sealed, aad) in [(blob, b"ctx-B"), (tampered, b"ctx-A")] {
        let e = alpha
            .call(
                "key.unseal",
                &with(
                    key("data", "d1"),
                    &[("sealed", Value::Bytes(sealed)), ("aad", bytes(aad))],
                ),
            )
            .unwrap_err();
        let wire::ClientError::Remote { code, msg } = e else {
            panic!("not a remote error: {e}")
        };
        assert_eq!(code, ErrorCode::Eio);
        assert_eq!(msg, "authentication failed");
    }
}
