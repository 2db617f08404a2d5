//! What bundlemgrd's process tests share: a trust directory with a
//! `packages` root, signed bundles, and bundlemgrd started as nexus-init
//! starts it.

use nexus_core::Label;
use nexus_daemon::testkit::{field, Proc, WAIT};
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, Version};
use wire::{Args, Client, ClientError, Value};

pub const APP: &str = "com.example.app";

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

/// Start bundlemgrd as nexus-init does (durable at `state`, else
/// volatile) with the shipped policy.
pub fn spawn(state: Option<&Path>, run: &Path, trust: &Path) -> Proc {
    spawn_with(state, run, trust, &policy())
}

/// [`spawn`] with another policy file.
pub fn spawn_with(state: Option<&Path>, run: &Path, trust: &Path, policy: &Path) -> Proc {
    let mut args: Vec<OsString> = match state {
        Some(s) => vec!["--state".into(), s.into()],
        None => vec!["--volatile".into()],
    };
    args.extend([
        "--policy".into(),
        policy.into(),
        "--run".into(),
        run.into(),
        "--trust-dir".into(),
        trust.into(),
    ]);
    Proc::spawn(Path::new(env!("CARGO_BIN_EXE_bundlemgrd")), args)
}

pub fn ready(d: &Proc) -> String {
    d.next_line(WAIT).expect("no ready line")
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub trust: PathBuf,
    pub key: MinisignSecretKey,
    pub root: TrustRoot,
}

/// A system root for a new key with the `packages` scope, in `trust`.
pub fn system_root(trust: &Path, label: &str) -> (MinisignSecretKey, TrustRoot) {
    let key = MinisignSecretKey::generate().unwrap();
    let root = TrustRoot::from_minisign(
        &key.public_key(),
        Label::new(label).unwrap(),
        &[Scope::Packages],
        now() - 1000,
        now() + 100_000,
    )
    .unwrap();
    fs::write(trust.join(root.file_name()), root.to_toml()).unwrap();
    (key, root)
}

pub fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    fs::create_dir(&trust).unwrap();
    let (key, root) = system_root(&trust, "publisher");
    Env {
        tmp,
        trust,
        key,
        root,
    }
}

impl Env {
    pub fn bundle(&self, version: &str) -> PathBuf {
        self.bundle_of(APP, version, &self.key)
    }

    /// Bundle `name` at `version`, signed by `key`.
    pub fn bundle_of(&self, name: &str, version: &str, key: &MinisignSecretKey) -> PathBuf {
        let dir = self
            .tmp
            .path()
            .join(format!("bundle-{name}-{version}-{}", key.key_id()));
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), format!("app {version}")).unwrap();
        sign_artifact(
            &dir,
            Kind::Bundle,
            Label::new(name).unwrap(),
            Version::parse(version).unwrap(),
            Scope::Packages,
            key,
            &format!("{name} {version}"),
        )
        .unwrap();
        dir
    }

    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    pub fn run(&self) -> PathBuf {
        self.tmp.path().join("run")
    }
}

pub fn install(c: &mut Client, dir: &Path) -> Result<Value, ClientError> {
    c.call(
        "bundle.install",
        &Args::new().with("path", dir.to_str().unwrap()),
    )
}

pub fn names(list: &Value) -> Vec<String> {
    field(list, "bundles")
        .as_array()
        .expect("an array")
        .iter()
        .map(|b| field(b, "name").as_text().unwrap().to_owned())
        .collect()
}
