//! A state directory of the first formats (`tests/fixtures/identity-v1`:
//! name-bound user records, vault keys and vaults) under the real
//! keymintd, keystored and identityd: the users log in with their old
//! passwords, every vault entry is there, the first write moves the vault
//! to the user instance, and a user deleted and created again starts
//! empty.

use crate::common::{a, create, get, login, put, value, Stack, ALPHA, BETA};
use nexus_core::{Coded, ErrorCode};
use std::path::Path;
use wire::Value;

fn fixture() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../tests/fixtures/identity-v1/state"
    ))
}

#[test]
fn first_format_state_upgrades_over_the_real_daemons() {
    let (s, _) = Stack::start_over(&["--kdf-test-params"], Some(fixture()));
    let mut app = s.identityd.connect(ALPHA);
    let mut ks = s.keystored.connect(ALPHA);
    let mut ks_beta = s.keystored.connect(BETA);
    let sid = login(&mut app, "alice", "alice-pw").unwrap();
    assert_eq!(
        value(&get(&mut ks, &sid, "token").unwrap()),
        b"alice-old-token"
    );
    assert_eq!(
        value(&get(&mut ks_beta, &sid, "note").unwrap()),
        b"alice-beta-note"
    );
    let old_file = s.state().join("identity/alice/vault.kv");
    assert!(old_file.exists());
    put(&mut ks, &sid, "added", b"after the upgrade").unwrap();
    assert!(!old_file.exists(), "the name-bound vault was replaced");
    let moved = std::fs::read_dir(s.state().join("vault")).unwrap().count();
    assert_eq!(moved, 1);
    // The record is version 2 now (instance, peppered verifier).
    let rec = std::fs::read(s.state().join("identity/alice/user")).unwrap();
    // Record layout 2: 0xFFFF where the first layout had the version.
    assert_eq!(&rec[4..6], [0xff, 0xff]);
    assert_eq!(u16::from_be_bytes([rec[8], rec[9]]), 2);

    // bob, upgraded but never logged in, deleted: his name-bound vault
    // goes with him; a new bob starts empty.
    let mut admin = s.admin();
    admin.call("user.delete", &a(&[("user", "bob")])).unwrap();
    assert!(!s.state().join("identity/bob/vault.kv").exists());
    create(&mut admin, "bob", "bob-new");
    let bob = login(&mut app, "bob", "bob-new").unwrap();
    let e = get(&mut ks, &bob, "token").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Enoent);
    let names = ks.call("vault.list", &a(&[("sid", &bob)])).unwrap();
    assert_eq!(crate::common::field(&names, "names"), Value::Array(vec![]));
}
