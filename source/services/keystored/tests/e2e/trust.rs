//! The trust store over the wire: system roots from --trust-dir, adds by
//! a system subject (the public socket maps the test's uid to
//! system:admin), refusals for apps, rm and distrust.

use crate::common::{args, field, text, Stack, ALPHA};
use ed25519_dalek::SigningKey;
use nexus_core::{Coded, ErrorCode};
use trust::minisign::{MinisignKeyId, MinisignPublicKey};
use trust::{Scope, TrustRoot};
use wire::{Args, Client, Value};

fn key(seed: u8) -> ed25519_dalek::VerifyingKey {
    SigningKey::from_bytes(&[seed; 32]).verifying_key()
}

#[test]
fn trust_ops_over_the_wire() {
    let dir_root = TrustRoot::new(
        key(1).as_bytes(),
        None,
        "vendor".parse().unwrap(),
        &[Scope::Packages, Scope::Updates],
        0,
        4_000_000_000,
    )
    .unwrap();
    let s = Stack::start();
    std::fs::write(s.trust().join(dir_root.file_name()), dir_root.to_toml()).unwrap();
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let mut alpha = s.keystored.connect(ALPHA);

    let roots = field(&alpha.call("trust.list", &Args::new()).unwrap(), "roots");
    let roots = roots.as_array().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(field(&roots[0], "source"), text("system"));
    assert_eq!(field(&roots[0], "status"), text("valid"));

    // A minisign public key file, added by a system subject.
    let pk = MinisignPublicKey::new(MinisignKeyId::from_bytes([7; 8]), key(2));
    let add = args(&[
        ("public_key", text(&pk.to_file_text())),
        ("label", text("acme")),
        ("scopes", Value::Array(vec![text("packages")])),
    ]);
    let kid = field(&admin.call("trust.add", &add).unwrap(), "kid");
    assert_eq!(kid, text(&keymint::kid::ed25519_kid(&key(2)).to_hex()));
    assert_eq!(
        admin.call("trust.add", &add).unwrap_err().code(),
        ErrorCode::Ealready
    );
    // Apps cannot write the trust store.
    let raw = args(&[
        ("public_key", text(&base64_of(key(3).as_bytes()))),
        ("label", text("evil")),
        ("scopes", Value::Array(vec![text("packages")])),
    ]);
    assert_eq!(
        alpha.call("trust.add", &raw).unwrap_err().code(),
        ErrorCode::Eperm
    );
    // A raw base64 key and a root file work for the admin.
    admin.call("trust.add", &raw).unwrap();
    let file_root = TrustRoot::new(
        key(4).as_bytes(),
        None,
        "f".parse().unwrap(),
        &[Scope::Updates],
        0,
        10,
    )
    .unwrap();
    let k4 = field(
        &admin
            .call(
                "trust.add",
                &args(&[("root_file", text(&file_root.to_toml()))]),
            )
            .unwrap(),
        "kid",
    );

    let shown = alpha
        .call("trust.show", &args(&[("kid", kid.clone())]))
        .unwrap();
    assert_eq!(
        field(&shown, "public_key"),
        Value::Bytes(key(2).as_bytes().to_vec())
    );
    assert_eq!(field(&shown, "source"), text("installed"));
    let expired = alpha.call("trust.show", &args(&[("kid", k4)])).unwrap();
    assert_eq!(field(&expired, "status"), text("expired"));

    // rm: installed only; distrust overrides.
    let sys_kid = text(&dir_root.kid().to_hex());
    assert_eq!(
        admin
            .call("trust.rm", &args(&[("kid", sys_kid.clone())]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        alpha
            .call("trust.distrust", &args(&[("kid", sys_kid.clone())]))
            .unwrap_err()
            .code(),
        ErrorCode::Eperm
    );
    admin
        .call("trust.distrust", &args(&[("kid", sys_kid.clone())]))
        .unwrap();
    let sys = alpha
        .call("trust.show", &args(&[("kid", sys_kid)]))
        .unwrap();
    assert_eq!(field(&sys, "status"), text("distrusted"));
    admin
        .call("trust.rm", &args(&[("kid", kid.clone())]))
        .unwrap();
    assert_eq!(
        alpha
            .call("trust.show", &args(&[("kid", kid)]))
            .unwrap_err()
            .code(),
        ErrorCode::Enoent
    );

    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.alpha","capability":"identity.trust.write""#)
    );
    assert!(audit.contains(r#""subject":"system:admin","capability":"identity.trust.write""#));
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn trust_update_extends_scopes_over_the_wire() {
    let sys_root = TrustRoot::new(
        key(11).as_bytes(),
        None,
        "vendor".parse().unwrap(),
        &[Scope::Packages],
        0,
        4_000_000_000,
    )
    .unwrap();
    let s = Stack::start();
    std::fs::write(s.trust().join(sys_root.file_name()), sys_root.to_toml()).unwrap();
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let mut alpha = s.keystored.connect(ALPHA);
    let raw = args(&[
        ("public_key", text(&base64_of(key(12).as_bytes()))),
        ("label", text("acme")),
        ("scopes", Value::Array(vec![text("packages")])),
    ]);
    let kid = field(&admin.call("trust.add", &raw).unwrap(), "kid");
    // Adding it again never changes it.
    assert_eq!(
        admin.call("trust.add", &raw).unwrap_err().code(),
        ErrorCode::Ealready
    );
    let widen = args(&[
        ("kid", kid.clone()),
        (
            "scopes",
            Value::Array(vec![text("packages"), text("updates")]),
        ),
        ("label", text("acme-2026")),
    ]);
    // Apps may not; the administrator may.
    assert_eq!(
        alpha.call("trust.update", &widen).unwrap_err().code(),
        ErrorCode::Eperm
    );
    let info = admin.call("trust.update", &widen).unwrap();
    assert_eq!(field(&info, "kid"), kid);
    assert_eq!(
        field(&info, "scopes"),
        Value::Array(vec![text("packages"), text("updates")])
    );
    assert_eq!(field(&info, "label"), text("acme-2026"));
    let shown = alpha
        .call("trust.show", &args(&[("kid", kid.clone())]))
        .unwrap();
    assert_eq!(field(&shown, "label"), text("acme-2026"));
    // A system root's metadata ships with the image; nothing to change is
    // malformed; an unknown kid is not found.
    let sys = args(&[
        ("kid", text(&sys_root.kid().to_hex())),
        ("label", text("x")),
    ]);
    assert_eq!(
        admin.call("trust.update", &sys).unwrap_err().code(),
        ErrorCode::Eperm
    );
    assert_eq!(
        admin
            .call("trust.update", &args(&[("kid", kid)]))
            .unwrap_err()
            .code(),
        ErrorCode::Einval
    );
    let unknown = args(&[
        ("kid", text(&keymint::kid::ed25519_kid(&key(13)).to_hex())),
        ("label", text("x")),
    ]);
    assert_eq!(
        admin.call("trust.update", &unknown).unwrap_err().code(),
        ErrorCode::Enoent
    );
}

/// y = 3 + p: a non-canonical encoding that ed25519-dalek decodes (to the
/// point with y = 3) and hands back unchanged from `to_bytes()`.
fn y3_plus_p() -> [u8; 32] {
    let mut b = [0xffu8; 32];
    b[0] = 0xed + 3;
    b[31] = 0x7f;
    b
}

/// A root whose public key is a non-canonical encoding would have a second
/// kid for the same point: keystored refuses it over the wire, as a raw
/// key and inside a minisign key file, and installs nothing.
#[test]
fn test_reject_non_canonical_public_key_in_trust_add_with_einval() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let nc = y3_plus_p();
    assert!(
        ed25519_dalek::VerifyingKey::from_bytes(&nc).is_ok(),
        "the encoding decodes, so only the canonical check can refuse it"
    );
    let mut minisign = b"Ed".to_vec();
    minisign.extend_from_slice(&[7; 8]);
    minisign.extend_from_slice(&nc);
    for public_key in [
        base64_of(&nc),
        format!(
            "untrusted comment: minisign public key\n{}\n",
            base64_of(&minisign)
        ),
    ] {
        let add = args(&[
            ("public_key", text(&public_key)),
            ("label", text("twin")),
            ("scopes", Value::Array(vec![text("packages")])),
        ]);
        let e = admin.call("trust.add", &add).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Einval, "{e}");
    }
    let roots = field(&admin.call("trust.list", &Args::new()).unwrap(), "roots");
    assert!(roots.as_array().unwrap().is_empty(), "{roots:?}");
}
