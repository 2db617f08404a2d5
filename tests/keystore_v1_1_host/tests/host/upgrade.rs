//! The upgrade of a state directory written before each system service had
//! its own key namespace (fixture `tests/fixtures/keystore-shared-system-v1`,
//! made by the keystore of that time): every key leaves the shared `system`
//! namespace for its owner's, keeps its material, kids and old output, and
//! the move is repeatable.

use crate::common::{expect_code, key, subject};
use keymint::{Algorithm, Entropy};
use keystore::{DefaultQuota, KeySelector, Moved, VersionState};
use keystore_v1_1_host::{AllowAll, Stack};
use nexus_core::{ErrorCode, ManualClock};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keystore-shared-system-v1")
}

/// The fixture's `expected.toml`: `name = "value"` lines.
pub fn expected() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(fixture().join("expected.toml")).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
        .collect()
}

/// Copy the fixture's state directory to `to`, with the modes a state
/// directory has (0700 directories, 0600 files).
pub fn copy_state(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let dst = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &dst);
            } else {
                std::fs::copy(e.path(), &dst).unwrap();
                std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
        }
    }
    copy(&fixture().join("state"), to);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn keys_of_the_shared_namespace_move_to_their_owners_and_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    copy_state(dir.path());
    let want = expected();
    let st = Stack::open(
        dir.path(),
        Entropy::os(),
        Arc::new(ManualClock::new(1_767_300_000)),
        Arc::new(DefaultQuota),
    )
    .unwrap();
    assert!(!st.keymint.created_device_secret());
    let ks = &st.store;
    let report = ks.upgrade_shared_system_namespace().unwrap();
    let moved = |from: (&str, &str), to: &str| Moved {
        from: key("system", from.0, from.1),
        to: key(to, from.0, from.1),
    };
    assert_eq!(
        report.moved,
        vec![
            moved(("backup", "s1"), "system.admin"),
            moved(("device-attest", "device"), "system.attestd"),
            moved(("old", "revoked"), "system.admin"),
            moved(("selftest", "sign-0badf00d"), "system.selftest"),
        ]
    );
    assert!(report.stayed.is_empty(), "{:?}", report.stayed);
    assert!(!dir
        .path()
        .join("keystore/system")
        .join("device-attest/device")
        .exists());

    // attestd's device key: same versions and kids, v1's old signature
    // still verifies, and it signs as attestd (with the v2 kid) - and only
    // as attestd.
    let attestd = subject("system:attestd");
    let admin = subject("system:admin");
    let dk = key("system.attestd", "device-attest", "device");
    let info = ks.describe(&admin, &dk).unwrap();
    let kids: Vec<String> = info
        .versions
        .iter()
        .map(|v| v.kid.unwrap().to_hex())
        .collect();
    assert_eq!(
        kids,
        [want["device_kid_v1"].clone(), want["device_kid_v2"].clone()]
    );
    let msg = want["signed_message"].as_bytes();
    for (v, sig) in [(1, "sig_v1"), (2, "sig_v2")] {
        ks.verify(&admin, &dk, KeySelector::Version(v), msg, &hex(&want[sig]))
            .unwrap();
    }
    let signed = ks.sign(&attestd, &AllowAll, &dk, msg).unwrap();
    assert_eq!(
        signed.signature.to_vec(),
        hex(&want["sig_v2"]),
        "same material"
    );
    expect_code(ks.sign(&admin, &AllowAll, &dk, msg), ErrorCode::Eperm);
    // Its wrapped blobs are still bound to `system`; a rotation makes a
    // version bound to attestd's own namespace, and both sign.
    assert_eq!(
        ks.export_wrapped(&attestd, &AllowAll, &dk, None)
            .unwrap()
            .identity
            .app
            .as_str(),
        "system"
    );
    ks.rotate(&attestd, &AllowAll, &dk).unwrap();
    assert_eq!(
        ks.export_wrapped(&attestd, &AllowAll, &dk, None)
            .unwrap()
            .identity
            .app
            .as_str(),
        "system.attestd"
    );
    let v3 = ks.sign(&attestd, &AllowAll, &dk, msg).unwrap();
    ks.verify(&admin, &dk, KeySelector::Kid(v3.kid), msg, &v3.signature)
        .unwrap();

    // The administrator's sealing key still opens what it sealed before.
    let seal = key("system.admin", "backup", "s1");
    let opened = ks
        .unseal(
            &admin,
            &AllowAll,
            &seal,
            want["sealed_aad"].as_bytes(),
            &hex(&want["sealed"]),
        )
        .unwrap();
    assert_eq!(
        opened.plaintext.as_slice(),
        want["sealed_plaintext"].as_bytes()
    );
    let again = ks.seal(&admin, &AllowAll, &seal, b"", b"x").unwrap();
    ks.unseal(&admin, &AllowAll, &seal, b"", &again.sealed)
        .unwrap();
    // A revoked key moved as it was; the selftest's key went to the
    // selftest, and signs for it alone.
    let gone = ks
        .describe(&admin, &key("system.admin", "old", "revoked"))
        .unwrap();
    assert!(gone
        .versions
        .iter()
        .all(|v| v.state == VersionState::Revoked));
    let st = key("system.selftest", "selftest", "sign-0badf00d");
    ks.sign(&subject("system:selftest"), &AllowAll, &st, b"m")
        .unwrap();
    expect_code(ks.sign(&admin, &AllowAll, &st, b"m"), ErrorCode::Eperm);
    // An app's key was not touched.
    let alpha = subject("app:com.example.alpha");
    let k1 = key("com.example.alpha", "signing", "k1");
    ks.sign(&alpha, &AllowAll, &k1, b"m").unwrap();
    // Nothing is left in `system`, and a second run has nothing to do.
    assert!(ks
        .list(&admin, &nexus_core::AppId::system())
        .unwrap()
        .is_empty());
    assert_eq!(
        ks.upgrade_shared_system_namespace().unwrap(),
        Default::default()
    );
    // The new records are version 2; the app's stays version 1 until
    // it changes (whatever envelope layout each file has).
    let version = |p: &str| {
        let b = std::fs::read(dir.path().join(p)).unwrap();
        let at = statefs::StatePath::parse(&format!("state:/{p}")).unwrap();
        statefs::record::decode(&at, &b, b"NXKS", &[1, 2])
            .unwrap()
            .version
    };
    assert_eq!(version("keystore/system.attestd/device-attest/device"), 2);
    assert_eq!(version("keystore/com.example.alpha/signing/k1"), 1);
}

#[test]
fn an_interrupted_move_completes_and_nothing_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    copy_state(dir.path());
    let open = || {
        Stack::open(
            dir.path(),
            Entropy::os(),
            Arc::new(ManualClock::new(1_767_300_000)),
            Arc::new(DefaultQuota),
        )
        .unwrap()
    };
    let st = open();
    st.store.upgrade_shared_system_namespace().unwrap();
    let ks_dir = dir.path().join("keystore");
    // Put back one old record as if the removal had not happened (a crash
    // between the two steps): the next run only removes it.
    copy_state(&dir.path().join("again"));
    std::fs::create_dir_all(ks_dir.join("system/device-attest")).unwrap();
    std::fs::copy(
        dir.path()
            .join("again/keystore/system/device-attest/device"),
        ks_dir.join("system/device-attest/device"),
    )
    .unwrap();
    // And one whose new place now holds another key: it stays, reported.
    let admin = subject("system:admin");
    st.store
        .delete(&admin, &AllowAll, &key("system.admin", "backup", "s1"))
        .unwrap();
    st.store
        .create(
            &admin,
            &AllowAll,
            &key("system.admin", "backup", "s1"),
            Algorithm::Ed25519,
        )
        .unwrap();
    std::fs::create_dir_all(ks_dir.join("system/backup")).unwrap();
    std::fs::copy(
        dir.path().join("again/keystore/system/backup/s1"),
        ks_dir.join("system/backup/s1"),
    )
    .unwrap();
    // And a damaged one: it stays, reported, untouched.
    std::fs::create_dir_all(ks_dir.join("system/broken")).unwrap();
    std::fs::write(ks_dir.join("system/broken/k"), b"not a record").unwrap();

    let st = open();
    let report = st.store.upgrade_shared_system_namespace().unwrap();
    assert_eq!(report.moved.len(), 1);
    assert_eq!(
        report.moved[0].to,
        key("system.attestd", "device-attest", "device")
    );
    let stayed: Vec<(String, String)> = report
        .stayed
        .iter()
        .map(|s| (s.record.clone(), s.reason.clone()))
        .collect();
    assert_eq!(stayed.len(), 2, "{stayed:?}");
    assert_eq!(stayed[0].0, "state:/keystore/system/backup/s1");
    assert!(
        stayed[0]
            .1
            .contains("another key system.admin/backup/s1 exists"),
        "{stayed:?}"
    );
    assert_eq!(stayed[1].0, "state:/keystore/system/broken/k");
    assert!(stayed[1].1.starts_with("corrupt record"), "{stayed:?}");
    assert_eq!(
        std::fs::read(ks_dir.join("system/broken/k")).unwrap(),
        b"not a record"
    );
    // What stayed is readable by system subjects and usable by no one.
    let old = key("system", "backup", "s1");
    st.store.describe(&admin, &old).unwrap();
    expect_code(
        st.store.seal(&admin, &AllowAll, &old, b"", b"x"),
        ErrorCode::Eperm,
    );
}
