//! Typed requests and replies encode to exactly the wire.md shapes: byte
//! strings as major type 2, keys in the documented order, absent optional
//! arguments left out, absent optional reply fields as `null`; replies of
//! the wrong shape are refused by field name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexus_core::{Kid, Label};
use nexus_proto::*;
use wire::Value;

fn label(s: &str) -> Label {
    s.parse().unwrap()
}

fn body(args: wire::Args, op: &str) -> Vec<u8> {
    wire::encode_request(7, op, &args).unwrap().to_vec()
}

#[test]
fn a_typed_request_is_the_documented_frame() {
    let args = encode_args::<KeySign>(&KeySignArgs {
        purpose: label("signing"),
        name: label("k1"),
        msg: Bytes(vec![1, 2, 3]),
        prehash: None,
        app: None,
        show: None,
    })
    .unwrap();
    let names: Vec<&str> = args.names().collect();
    assert_eq!(names, ["purpose", "name", "msg"]);
    let mut want = Vec::new();
    ciborium::ser::into_writer(
        &Value::Map(vec![
            ("v".into(), 1u64.into()),
            ("id".into(), 7u64.into()),
            ("op".into(), "key.sign".into()),
            (
                "args".into(),
                Value::Map(vec![
                    ("purpose".into(), "signing".into()),
                    ("name".into(), "k1".into()),
                    ("msg".into(), Value::Bytes(vec![1, 2, 3])),
                ]),
            ),
        ]),
        &mut want,
    )
    .unwrap();
    let got = body(args, "key.sign");
    assert_eq!(got, want);
    // `msg` is a byte string of 3: 0x43 01 02 03, never an array (0x83).
    assert!(got.ends_with(&[0x63, b'm', b's', b'g', 0x43, 1, 2, 3]));
}

#[test]
fn absent_optional_arguments_are_left_out() {
    let args = encode_args::<KeyRevoke>(&KeyVersionArgs {
        purpose: label("p"),
        name: label("n"),
        version: None,
        app: None,
    })
    .unwrap();
    assert_eq!(args.names().collect::<Vec<_>>(), ["purpose", "name"]);
    let args = encode_args::<KeyRevoke>(&KeyVersionArgs {
        purpose: label("p"),
        name: label("n"),
        version: Some(2),
        app: None,
    })
    .unwrap();
    assert_eq!(args.get("version"), Some(&Value::from(2u64)));
    let file = encode_args::<TrustAdd>(&TrustAddForm::RootFile("f".into()).into()).unwrap();
    assert_eq!(file.names().collect::<Vec<_>>(), ["root_file"]);
}

#[test]
fn secrets_travel_as_their_cbor_types() {
    let args = encode_args::<SessionLogin>(&UserPasswordArgs {
        user: "alice".parse().unwrap(),
        password: SecretText::copy_from("hunter2"),
    })
    .unwrap();
    assert_eq!(args.get("password"), Some(&Value::from("hunter2")));
    let reply = encode_reply::<VaultGet>(&VaultGetReply {
        value: Secret::copy_from(b"v"),
    })
    .unwrap();
    assert_eq!(
        reply,
        Value::Map(vec![("value".into(), Value::Bytes(b"v".to_vec()))])
    );
}

#[test]
fn replies_keep_the_documented_order_and_nulls() {
    let v = encode_reply::<KeyCreate>(&KeyCreateReply {
        version: 1,
        kid: None,
        public_key: None,
        warnings: vec![],
    })
    .unwrap();
    assert_eq!(
        v,
        Value::Map(vec![
            ("version".into(), 1u64.into()),
            ("kid".into(), Value::Null),
            ("public_key".into(), Value::Null),
            ("warnings".into(), Value::Array(vec![])),
        ])
    );
    let s = encode_reply::<UpdateStatus>(&UpdateStatusReply {
        active: Slot::B,
        pending: Some(Slot::A),
        versions: SlotVersions(vec![(Slot::B, "1.1.0".into()), (Slot::A, "1.2.0".into())]),
        previous: None,
    })
    .unwrap();
    assert_eq!(
        s,
        Value::Map(vec![
            ("active".into(), "b".into()),
            ("pending".into(), "a".into()),
            (
                "versions".into(),
                Value::Map(vec![
                    ("b".into(), "1.1.0".into()),
                    ("a".into(), "1.2.0".into())
                ])
            ),
            ("previous".into(), Value::Null),
        ])
    );
    // trust.list's roots carry no public key; trust.show's does.
    let root = RootInfo {
        kid: Kid::from_bytes([1; 32]),
        source: RootSource::Installed,
        scopes: vec!["packages".into()],
        label: "acme".into(),
        not_before: 0,
        not_after: 1,
        status: RootStatus::NotYetValid,
        public_key: None,
    };
    let v = encode_reply::<TrustShow>(&root).unwrap();
    let Value::Map(m) = &v else { panic!() };
    assert_eq!(m.len(), 7);
    assert_eq!(m[6], ("status".into(), "not-yet-valid".into()));
    assert_eq!(decode_reply::<TrustShow>(v).unwrap(), root);
}

#[test]
fn replies_decode_leniently_where_the_contract_allows() {
    // Unknown fields are ignored; a null optional field reads as absent.
    let v = Value::Map(vec![
        ("version".into(), 2u64.into()),
        ("kid".into(), Value::Null),
        ("new_field".into(), true.into()),
        ("public_key".into(), Value::Null),
        ("warnings".into(), Value::Array(vec!["w".into()])),
    ]);
    let r = decode_reply::<KeyCreate>(v).unwrap();
    assert_eq!(
        (r.version, r.kid, r.warnings),
        (2, None, vec!["w".to_owned()])
    );
    let absent = Value::Map(vec![
        ("version".into(), 2u64.into()),
        ("warnings".into(), Value::Array(vec![])),
    ]);
    assert_eq!(decode_reply::<KeyCreate>(absent).unwrap().public_key, None);
}

#[test]
fn test_reject_malformed_replies_by_field_name() {
    let detail = |v: Value| decode_reply::<KeySign>(v).unwrap_err().detail;
    let ok = |sig: Value, kid: Value| {
        Value::Map(vec![
            ("sig".into(), sig),
            ("kid".into(), kid),
            ("version".into(), 1u64.into()),
        ])
    };
    let kid = Value::from("ab".repeat(32));
    assert_eq!(detail(Value::Bool(true)), "the reply is not a map");
    assert_eq!(
        detail(ok("secret text".into(), kid.clone())),
        "`sig` is not a byte string"
    );
    assert_eq!(
        detail(ok(Value::Bytes(vec![]), "zz".into())),
        "`kid` is not valid"
    );
    assert_eq!(
        detail(Value::Map(vec![("sig".into(), Value::Bytes(vec![]))])),
        "`kid` is missing"
    );
    let dup = Value::Map(vec![
        ("sig".into(), Value::Bytes(vec![])),
        ("sig".into(), Value::Bytes(vec![])),
    ]);
    assert_eq!(detail(dup), "the reply is malformed");
    let e = decode_reply::<KeyShow>(Value::Map(vec![("app".into(), 1u64.into())])).unwrap_err();
    assert_eq!(e.op, "key.show");
    assert_eq!(e.detail, "`app` is not a text string");
    assert!(!detail(ok("secret text".into(), kid)).contains("secret"));
}

#[test]
fn the_op_table_is_consistent() {
    let all = ops::all();
    let mut names: Vec<&str> = all.iter().map(|o| o.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "an op is declared twice");
    for op in &all {
        assert!(wire::valid_name(op.name));
        for fields in [op.args, op.reply] {
            let mut f: Vec<&str> = fields.iter().map(|f| f.name).collect();
            f.sort_unstable();
            let n = f.len();
            f.dedup();
            assert_eq!(f.len(), n, "{}: a field is declared twice", op.name);
        }
        // Every keymintd op names its callers; elsewhere only the
        // system-only ops of one service do (vault.purge: identityd).
        if op.service == Some(Service::Keymintd) {
            assert!(!op.callers.is_empty(), "{}", op.name);
        } else {
            assert!(
                op.callers.is_empty() || op.name == "vault.purge",
                "{}",
                op.name
            );
        }
    }
    let sign = ops::find("key.sign").unwrap();
    assert_eq!(sign.capability, Some(nexus_core::Capability::KeySign));
    assert_eq!(
        sign.args
            .iter()
            .map(|f| (f.name, f.kind, f.optional))
            .collect::<Vec<_>>(),
        [
            ("purpose", Kind::Text, false),
            ("name", Kind::Text, false),
            ("msg", Kind::Bytes, false),
            ("prehash", Kind::Text, true),
            ("app", Kind::Text, true),
            ("show", Kind::Map, true)
        ]
    );
    let verify = ops::find("key.verify").unwrap();
    assert!(verify
        .args
        .iter()
        .any(|f| f.name == "version" && f.optional));
}
