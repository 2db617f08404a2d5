//! `key.sign` with `show`: one round trip that reads a key as `key.show`
//! would (same namespace rule, same audit record) and then signs, the
//! read first so that a refused read signs nothing.

use crate::common::{args, bytes, field, text, Stack, ALPHA, ATTESTD, BETA};
use nexus_core::{Coded, ErrorCode};
use wire::Value;

fn key(purpose: &str, name: &str) -> Vec<(&'static str, Value)> {
    vec![("purpose", text(purpose)), ("name", text(name))]
}

fn show_of(app: &str, purpose: &str, name: &str) -> Value {
    Value::Map(vec![
        (text("purpose"), text(purpose)),
        (text("name"), text(name)),
        (text("app"), text(app)),
    ])
}

/// Create Ed25519 key `purpose/name` as the connection's subject; its
/// `key.create` reply.
fn create(c: &mut wire::Client, purpose: &str, name: &str) -> Value {
    let mut a = key(purpose, name);
    a.push(("alg", text("Ed25519")));
    c.call("key.create", &args(&a)).unwrap()
}

/// `key.sign` of "statement" with `purpose/name`, showing `show` if given.
fn sign(
    c: &mut wire::Client,
    purpose: &str,
    name: &str,
    show: Option<Value>,
) -> Result<Value, wire::ClientError> {
    let mut a = key(purpose, name);
    a.push(("msg", bytes(b"statement")));
    if let Some(show) = show {
        a.push(("show", show));
    }
    c.call("key.sign", &args(&a))
}

#[test]
fn a_sign_shows_the_key_it_names_as_key_show_does() {
    let s = Stack::start();
    create(&mut s.keystored.connect(ALPHA), "signing", "k1");
    let mut attestd = s.keystored.connect(ATTESTD);
    let made = create(&mut attestd, "device-attest", "device");
    let k1 = show_of("com.example.alpha", "signing", "k1");
    let signed = sign(&mut attestd, "device-attest", "device", Some(k1)).unwrap();
    let mut show_args = key("signing", "k1");
    show_args.push(("app", text("com.example.alpha")));
    let shown = attestd.call("key.show", &args(&show_args)).unwrap();
    assert_eq!(field(&signed, "shown"), shown);
    let public: [u8; 32] = field(&made, "public_key")
        .as_bytes()
        .unwrap()
        .clone()
        .try_into()
        .unwrap();
    let sig: [u8; 64] = field(&signed, "sig")
        .as_bytes()
        .unwrap()
        .clone()
        .try_into()
        .unwrap();
    ed25519_dalek::VerifyingKey::from_bytes(&public)
        .unwrap()
        .verify_strict(b"statement", &ed25519_dalek::Signature::from_bytes(&sig))
        .unwrap();

    // Without `show` the reply has no `shown` (the documented shape).
    let r = sign(&mut attestd, "device-attest", "device", None).unwrap();
    let Value::Map(entries) = &r else {
        panic!("{r:?}")
    };
    let names: Vec<_> = entries.iter().filter_map(|(k, _)| k.as_text()).collect();
    assert_eq!(names, ["sig", "kid", "version"]);

    // A missing key: `ENOENT`, as key.show says.
    let gone = show_of("com.example.alpha", "signing", "nope");
    let e = sign(&mut attestd, "device-attest", "device", Some(gone)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
}

#[test]
fn test_reject_an_app_showing_another_apps_key_in_a_sign_with_eperm() {
    let s = Stack::start();
    create(&mut s.keystored.connect(ALPHA), "signing", "k1");
    let mut beta = s.keystored.connect(BETA);
    create(&mut beta, "signing", "b1");
    let k1 = show_of("com.example.alpha", "signing", "k1");
    let e = sign(&mut beta, "signing", "b1", Some(k1)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eperm);
    assert!(!e.to_string().contains("Ed25519"), "{e}");
    // Refused as key.show would be, and nothing was signed: the sign's
    // own decision was never taken.
    let audit = s.audit();
    assert!(
        audit.contains(r#""subject":"app:com.example.beta","capability":"key.show","target":"com.example.alpha","decision":"deny""#),
        "{audit}"
    );
    let signed = r#""subject":"app:com.example.beta","capability":"identity.key.sign","target":"com.example.beta/signing/b1""#;
    assert!(!audit.contains(signed), "{audit}");
    // The line a sign does write, once it is taken.
    sign(&mut beta, "signing", "b1", None).unwrap();
    assert!(s.audit().contains(signed), "{}", s.audit());
}
