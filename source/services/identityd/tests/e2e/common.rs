//! The test supervisor for identityd: runs the real keymintd, identityd
//! and keystored binaries over one state directory with control channels
//! on stdin, wires each daemon's `keymintd` endpoint with `wire::handoff`,
//! and hands out client endpoints with chosen subjects.
//!
//! Binaries: identityd is `CARGO_BIN_EXE_identityd`. keymintd and
//! keystored belong to other packages, whose binaries cargo does not
//! expose here: they are taken from `$KEYMINTD_BIN` / `$KEYSTORED_BIN`, else
//! from the target directory this test runs from (the parent of `deps/`).
//! Build them first, for example by testing the packages together:
//! `cargo test -p keymintd -p keystored -p identityd`.
//!
//! Processes are `nexus_daemon::testkit::Proc`: every wait is bounded
//! (`testkit::WAIT`) and they are killed on drop.

pub use nexus_daemon::testkit::{sibling_bin, Proc};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub fn policy_text() -> String {
    let uid = rustix::process::getuid().as_raw();
    format!(
        r#"version = 1
[[subjects]]
subject = "system:keystored"
capabilities = []
[[subjects]]
subject = "system:identityd"
capabilities = []
[[subjects]]
subject = "system:admin"
capabilities = ["identity.user.admin", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.vault.use"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.vault.use"]
[[uid_map]]
uid = {uid}
subject = "system:admin"
"#
    )
}

/// keymintd, identityd and keystored over one state directory.
pub struct Stack {
    pub keymintd: Proc,
    pub identityd: Proc,
    pub keystored: Proc,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Start all three; identityd with `extra` flags. Returns once both
    /// keystored and identityd said ready; also returns identityd's ready
    /// line.
    pub fn start(extra: &[&str]) -> (Stack, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("policy.toml"), policy_text()).unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        let common: Vec<OsString> = vec![
            "--state".into(),
            p.join("state").into(),
            "--policy".into(),
            p.join("policy.toml").into(),
        ];
        let with = |run: &str, more: &[&str]| {
            let mut a = common.clone();
            a.extend(["--run".into(), p.join(run).into()]);
            a.extend(more.iter().map(OsString::from));
            a
        };
        let keymintd = Proc::spawn(&sibling_bin("keymintd", "KEYMINTD_BIN"), with("run", &[]));
        keymintd.wait_for("keymintd: ready");
        let identityd = Proc::spawn(
            Path::new(env!("CARGO_BIN_EXE_identityd")),
            with("run", extra),
        );
        identityd.link("keymintd", &keymintd, "system:identityd");
        let trust = p.join("trust");
        let ks_args = with("run", &["--trust-dir", trust.to_str().unwrap()]);
        let keystored = Proc::spawn(&sibling_bin("keystored", "KEYSTORED_BIN"), &ks_args);
        keystored.link("keymintd", &keymintd, "system:keystored");
        let ready = identityd.wait_for("identityd: ready");
        keystored.wait_for("keystore: ready");
        (
            Stack {
                keymintd,
                identityd,
                keystored,
                dir,
            },
            ready,
        )
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/identityd.sock")
    }

    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/audit/identityd.jsonl")).unwrap()
    }
}
