//! `nx audit verify` and `nx audit show` over real logs, and the offline
//! trust file tools (`nx key trust root`, `nx key trust seal`).

use crate::common::nx;
use auditlog::{FlushMode, Journal, JournalConfig};
use nexus_core::ManualClock;
use std::path::Path;
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{Scope, TrustStore};

fn decision(t: u64, subject: &str, cap: &str, d: &str) -> Vec<u8> {
    format!("{{\"time\":{t},\"subject\":\"{subject}\",\"capability\":\"{cap}\",\"target\":\"k\",\"decision\":\"{d}\",\"reason\":\"r\"}}").into_bytes()
}

/// A state directory with two services' logs.
fn logs(state: &Path) {
    let cfg = JournalConfig {
        flush: FlushMode::Buffered,
        ..JournalConfig::default()
    };
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let dir = state.join("audit");
    let a = Journal::open(&dir, "keystored", cfg, clock.clone()).unwrap();
    let b = Journal::open(&dir, "identityd", cfg, clock).unwrap();
    a.append(&decision(
        1_700_000_001,
        "app:a",
        "identity.key.sign",
        "allow",
    ))
    .unwrap();
    b.append(&decision(
        1_700_000_002,
        "app:b",
        "identity.user.admin",
        "deny",
    ))
    .unwrap();
    a.append(&decision(
        1_700_000_003,
        "app:b",
        "identity.key.sign",
        "deny",
    ))
    .unwrap();
    a.close().unwrap();
    b.close().unwrap();
}

#[test]
fn verify_reports_intact_chains_and_the_first_broken_line() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    logs(&state);
    let st = state.to_str().unwrap();
    let o = nx(&["audit", "verify", "--state", st], b"");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = o.text();
    assert!(
        text.contains("identityd: intact, 2 line(s), seq 0..1"),
        "{text}"
    );
    assert!(
        text.contains("keystored: intact, 3 line(s), seq 0..2"),
        "{text}"
    );

    // One allow turned into a deny in the middle of keystored's log.
    let log = state.join("audit/keystored.jsonl");
    let good = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, good.replacen("\"allow\"", "\"deny!\"", 1)).unwrap();
    let o = nx(&["audit", "verify", "--state", st], b"");
    assert_eq!(o.code, 19, "EIO: {}", o.text());
    assert!(
        o.text().contains("keystored: BROKEN at keystored.jsonl line 3 (seq 2): prev is not the hash of the line before"),
        "{}",
        o.text()
    );
    assert!(
        o.stderr
            .contains("nx: EIO: the audit log of keystored is broken"),
        "{}",
        o.stderr
    );
    let j: serde_json::Value = serde_json::from_str(
        nx(
            &[
                "--json",
                "audit",
                "verify",
                "--state",
                st,
                "--service",
                "keystored",
            ],
            b"",
        )
        .text()
        .trim(),
    )
    .unwrap();
    assert_eq!(j["logs"][0]["broken"]["line"], 3);
    assert_eq!(j["logs"][0]["intact"], false);
    assert_eq!(
        nx(
            &["audit", "verify", "--state", st, "--service", "Bad.Name"],
            b""
        )
        .code,
        2
    );
    let empty = tmp.path().join("empty");
    assert_eq!(
        nx(
            &["audit", "verify", "--state", empty.to_str().unwrap()],
            b""
        )
        .code,
        11
    );
}

#[test]
fn show_filters_lines_across_services() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    logs(&state);
    let st = state.to_str().unwrap();
    let o = nx(&["audit", "show", "--state", st, "--decision", "deny"], b"");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "2023-11-14T22:13:22Z identityd #1 deny app:b identity.user.admin k (r)\n\
         2023-11-14T22:13:23Z keystored #2 deny app:b identity.key.sign k (r)\n"
    );
    let o = nx(
        &[
            "--json",
            "audit",
            "show",
            "--state",
            st,
            "--subject",
            "app:a",
            "--op",
            "identity.key.sign",
        ],
        b"",
    );
    let text = o.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let j: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(j["seq"], 1);
    assert_eq!(j["subject"], "app:a");
    let o = nx(
        &[
            "audit",
            "show",
            "--state",
            st,
            "--since",
            "1700000002",
            "--until",
            "1700000003",
        ],
        b"",
    );
    assert_eq!(o.text().lines().count(), 1, "{}", o.text());
    assert_eq!(
        nx(
            &["audit", "show", "--state", st, "--decision", "maybe"],
            b""
        )
        .code,
        2
    );
}

#[test]
fn trust_root_and_seal_make_files_the_store_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg-trust");
    std::fs::create_dir_all(pkg.join("distrusted")).unwrap();
    let sk = MinisignSecretKey::generate().unwrap();
    let pubf = tmp.path().join("vendor.pub");
    std::fs::write(&pubf, sk.public_key().to_file_text()).unwrap();
    let o = nx(
        &[
            "--json",
            "key",
            "trust",
            "root",
            "--pubkey-file",
            pubf.to_str().unwrap(),
            "--scope",
            "packages",
            "--label",
            "vendor",
            "--not-after",
            "4000000000",
            "--out-dir",
            pkg.to_str().unwrap(),
        ],
        b"",
    );
    let kid = o.json()["kid"].as_str().unwrap().to_owned();
    // Today's format-1 files, as an image built before had them: sealed in
    // place (the root) and into the directory (a distrust entry).
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/trust/root-v1.toml");
    let old_kid = "a988443cdfe7344244b7b4fbe6e4f6a22ff6c57608e70c6014beaf3e697ca731";
    let old = pkg.join(format!("{old_kid}.toml"));
    std::fs::copy(&fixture, &old).unwrap();
    let staging = tmp.path().join(&kid);
    std::fs::write(&staging, format!("format = 1\nkid = \"{kid}\"\n")).unwrap();
    // Before sealing, the store refuses the old format: the file is a
    // damaged record (EIO for what it may have signed), never a root.
    let damaged_root = |pkg: &Path| {
        let snap = TrustStore::open(pkg, statefs::StateFs::volatile())
            .unwrap()
            .load()
            .unwrap();
        let location = format!("pkg://trust/{old_kid}.toml");
        snap.roots()
            .iter()
            .all(|e| e.root.kid().to_hex() != old_kid)
            && snap.damaged().iter().any(|d| d.location == location)
    };
    assert!(damaged_root(&pkg));
    let o = nx(&["key", "trust", "seal", old.to_str().unwrap()], b"");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = nx(
        &[
            "key",
            "trust",
            "seal",
            staging.to_str().unwrap(),
            "--out-dir",
            pkg.join("distrusted").to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let snap = TrustStore::open(&pkg, statefs::StateFs::volatile())
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(snap.roots().len(), 2);
    let v = snap
        .roots()
        .iter()
        .find(|e| e.root.kid().to_hex() == kid)
        .unwrap();
    assert!(v.distrusted && v.root.allows(Scope::Packages));
    let o = snap
        .roots()
        .iter()
        .find(|e| e.root.kid().to_hex() == old_kid)
        .unwrap();
    assert_eq!(o.root.label().as_str(), "fixture-vendor");
    // A sealed file with one flipped digit is refused by the store.
    let text = std::fs::read_to_string(&old).unwrap();
    std::fs::write(&old, text.replacen("4000000000", "5000000000", 1)).unwrap();
    assert!(damaged_root(&pkg));
    // A root file whose name is not its kid is refused by seal.
    let wrong = tmp.path().join(format!("{}.toml", "ab".repeat(32)));
    std::fs::copy(&fixture, &wrong).unwrap();
    assert_eq!(
        nx(&["key", "trust", "seal", wrong.to_str().unwrap()], b"").code,
        16
    );
}
