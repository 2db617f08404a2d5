//! One damaged key record over the wire: `key.list` lists every readable
//! key and names the damaged one with its record; operations on that key
//! say `EIO` naming the record; the owner can delete it.

use crate::common::{args, field, text, Stack, ALPHA};
use nexus_core::{Coded, ErrorCode};
use wire::{Args, Value};

fn key(purpose: &str, name: &str) -> Vec<(&'static str, Value)> {
    vec![("purpose", text(purpose)), ("name", text(name))]
}

#[test]
fn key_list_names_a_damaged_record_and_lists_every_other_key() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);
    for name in ["a", "b", "c"] {
        let mut a = key("signing", name);
        a.push(("alg", text("Ed25519")));
        alpha.call("key.create", &args(&a)).unwrap();
    }
    let record = s.state().join("keystore/com.example.alpha/signing/b");
    let mut bytes = std::fs::read(&record).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&record, &bytes).unwrap();
    // keystored caches the records it wrote; it reads `b` from disk again
    // after a restart.
    drop(s.restart_keystored());
    s.keystored.wait_for("keystore: ready");
    let mut alpha = s.keystored.connect(ALPHA);

    let listed = alpha.call("key.list", &Args::new()).unwrap();
    let names: Vec<String> = field(&listed, "keys")
        .as_array()
        .unwrap()
        .iter()
        .map(|k| field(k, "name").as_text().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a", "c"]);
    let damaged = field(&listed, "damaged").as_array().unwrap().clone();
    assert_eq!(damaged.len(), 1);
    let d = &damaged[0];
    assert_eq!(field(d, "app"), text("com.example.alpha"));
    assert_eq!(field(d, "purpose"), text("signing"));
    assert_eq!(field(d, "name"), text("b"));
    assert_eq!(
        field(d, "record"),
        text("state:/keystore/com.example.alpha/signing/b")
    );
    // A changed byte disagrees with keystored's state root before the
    // record's own check is reached.
    let why = field(d, "error");
    assert!(
        why.as_text().unwrap().starts_with(
            "EIO: record state:/keystore/com.example.alpha/signing/b fails its state root check"
        ),
        "{why:?}"
    );
    // Using it says which record, and only it fails.
    let mut sign = key("signing", "b");
    sign.push(("msg", Value::Bytes(b"m".to_vec())));
    let e = alpha.call("key.sign", &args(&sign)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Eio);
    assert!(
        e.to_string()
            .contains("state:/keystore/com.example.alpha/signing/b"),
        "{e}"
    );
    let mut sign_c = key("signing", "c");
    sign_c.push(("msg", Value::Bytes(b"m".to_vec())));
    alpha.call("key.sign", &args(&sign_c)).unwrap();
    // The owner deletes it: the listing is whole again, the name free.
    alpha
        .call("key.delete", &args(&key("signing", "b")))
        .unwrap();
    assert!(!record.exists());
    let listed = alpha.call("key.list", &Args::new()).unwrap();
    assert!(field(&listed, "damaged").as_array().unwrap().is_empty());
    let mut again = key("signing", "b");
    again.push(("alg", text("Ed25519")));
    alpha.call("key.create", &args(&again)).unwrap();
}
