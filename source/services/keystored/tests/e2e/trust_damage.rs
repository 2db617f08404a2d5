//! A damaged record in the trust store fails only what needs it: keystored
//! starts, keys and the vault serve, `trust.list` lists every readable
//! root and names the damaged records, and the damaged root can be
//! removed.

use crate::common::{args, field, text, Stack, ALPHA};
use ed25519_dalek::SigningKey;
use nexus_core::{Coded, ErrorCode};
use nexus_daemon::testkit::damaged;
use trust::{Scope, TrustRoot};
use wire::{Args, Client, Value};

fn root(seed: u8) -> TrustRoot {
    let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
    TrustRoot::new(
        key.as_bytes(),
        None,
        "vendor".parse().unwrap(),
        &[Scope::Packages],
        0,
        4_000_000_000,
    )
    .unwrap()
}

fn add(admin: &mut Client, r: &TrustRoot) -> Result<Value, wire::ClientError> {
    admin.call("trust.add", &args(&[("root_file", text(&r.to_toml()))]))
}

fn kid_arg(r: &TrustRoot) -> Args {
    args(&[("kid", text(&r.kid().to_hex()))])
}

fn kids(list: &Value) -> Vec<(String, String)> {
    field(list, "roots")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                field(r, "kid").as_text().unwrap().to_owned(),
                field(r, "status").as_text().unwrap().to_owned(),
            )
        })
        .collect()
}

fn key_create_works(s: &Stack, name: &str) {
    let mut alpha = s.keystored.connect(ALPHA);
    alpha
        .call(
            "key.create",
            &args(&[
                ("purpose", text("signing")),
                ("name", text(name)),
                ("alg", text("Ed25519")),
            ]),
        )
        .unwrap();
}

#[test]
fn test_reject_damaged_installed_root_only_for_itself() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let (good, bad) = (root(2), root(3));
    add(&mut admin, &good).unwrap();
    add(&mut admin, &bad).unwrap();
    let file = s.state().join("trust/installed").join(bad.file_name());
    std::fs::write(&file, "format = 1\n").unwrap();
    let location = format!("state:/trust/installed/{}", bad.file_name());

    drop(s.restart_keystored());
    s.keystored.wait_for("keystore: ready");
    s.keystored.wait_stderr(&location);
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(damaged(&status), std::slice::from_ref(&location));
    let list = admin.call("trust.list", &Args::new()).unwrap();
    assert_eq!(
        kids(&list),
        [(good.kid().to_hex(), "valid".to_owned())],
        "every readable root"
    );
    assert_eq!(damaged(&list), std::slice::from_ref(&location));
    let err = admin.call("trust.show", &kid_arg(&bad)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    assert!(err.to_string().contains(&location), "{err}");
    let err = add(&mut admin, &bad).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    key_create_works(&s, "k1");
    // Removing it needs no parsing; the damage is gone with it.
    admin.call("trust.rm", &kid_arg(&bad)).unwrap();
    let status = admin.call("status", &Args::new()).unwrap();
    assert!(damaged(&status).is_empty());
    add(&mut admin, &bad).unwrap();
}

#[test]
fn test_reject_trust_writes_when_the_distrust_list_is_damaged() {
    let mut s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let (kept, distrusted) = (root(4), root(5));
    add(&mut admin, &kept).unwrap();
    add(&mut admin, &distrusted).unwrap();
    admin.call("trust.distrust", &kid_arg(&distrusted)).unwrap();
    let dir = s.state().join("trust/distrusted");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"").unwrap();

    drop(s.restart_keystored());
    s.keystored.wait_for("keystore: ready");
    let mut admin = Client::connect(s.run().join("keystored.sock")).unwrap();
    let status = admin.call("status", &Args::new()).unwrap();
    assert_eq!(damaged(&status), ["state:/trust/distrusted"]);
    // No root reads as trusted while the list that could distrust it is
    // unreadable.
    let list = admin.call("trust.list", &Args::new()).unwrap();
    let mut got = kids(&list);
    got.sort();
    let mut want = vec![
        (kept.kid().to_hex(), "damaged".to_owned()),
        (distrusted.kid().to_hex(), "damaged".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    let err = add(&mut admin, &root(6)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    assert!(err.to_string().contains("state:/trust/distrusted"), "{err}");
    key_create_works(&s, "k2");
}
