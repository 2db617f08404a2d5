#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shipped system unit (`config/systemd/system/nexus-identity.service`):
//! `systemd-analyze verify` accepts it with no warning, with `ExecStart`
//! pointing at the nexus-init cargo built (verify checks that it exists),
//! and it runs init the documented way: `Type=notify`, state in
//! /var/lib/nexus, sockets in /run/nexus. A broken copy is noticed, so the
//! check can see a broken unit.

use std::path::Path;
use std::process::Command;

const INSTALLED: &str = "/usr/local/libexec/nexus/nexus-init";

fn verify(dir: &Path, body: &str) -> (bool, String) {
    let unit = dir.join("nexus-identity.service");
    std::fs::write(&unit, body).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd; run scripts/install-test-deps.sh)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_system_unit_verifies_and_runs_init_as_documented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../config/systemd/system/nexus-identity.service");
    let text = std::fs::read_to_string(&path).unwrap();
    for line in [
        "Type=notify",
        &format!("ExecStart={INSTALLED} --state /var/lib/nexus --run /run/nexus"),
        "StateDirectory=nexus",
        "StateDirectoryMode=0700",
        "RuntimeDirectory=nexus",
        "KillMode=mixed",
    ] {
        assert!(text.lines().any(|l| l == line), "the unit lacks {line:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = text.replace(INSTALLED, env!("CARGO_BIN_EXE_nexus-init"));
    let (ok, err) = verify(dir.path(), &ours);
    assert!(ok && err.trim().is_empty(), "systemd-analyze: {err}");
    let broken = ours.replace("[Service]\n", "[Service]\nNoSuchKey=1\n");
    let (_, err) = verify(dir.path(), &broken);
    assert!(
        err.contains("NoSuchKey"),
        "a broken unit went unnoticed: {err}"
    );
}
