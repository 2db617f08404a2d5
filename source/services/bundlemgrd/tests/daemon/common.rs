//! What bundlemgrd's process tests share: a trust directory with a
//! `packages` root, signed bundles, and bundlemgrd started as nexus-init
//! starts it.

use nexus_core::testkit::Grants;
use nexus_core::{Capability, Label, Subject};
use nexus_daemon::testkit::{field, Proc, WAIT};
use statefs::StateFs;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, TrustStore, Version};
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

/// keymintd over the same state (volatile without one), for bundlemgrd's
/// state key and the trust store's key.
pub fn keymint(state: Option<&Path>, run: &Path) -> Proc {
    nexus_daemon::testkit::keymintd(state, &policy(), run)
}

/// Start bundlemgrd as nexus-init does (durable at `state`, else volatile)
/// with the shipped policy and `km` as its keymintd (none for a start
/// that must fail before it would ask: handing an endpoint to an exited
/// process races its exit).
pub fn spawn(state: Option<&Path>, run: &Path, trust: &Path, km: Option<&Proc>) -> Proc {
    spawn_with(state, run, trust, &policy(), km)
}

/// [`spawn`] with another policy file.
pub fn spawn_with(
    state: Option<&Path>,
    run: &Path,
    trust: &Path,
    policy: &Path,
    km: Option<&Proc>,
) -> Proc {
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
    let d = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_bundlemgrd")), args);
    if let Some(km) = km {
        d.link("keymintd", km, "system:bundlemgrd");
    }
    d
}

pub fn ready(d: &Proc) -> String {
    d.next_line(WAIT).expect("no ready line")
}

pub struct Env {
    /// keymintd over this environment's state, started when first asked
    /// for (dropped, so stopped, before the directory goes).
    pub km: std::cell::OnceCell<Proc>,
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
        km: std::cell::OnceCell::new(),
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

    /// The trust store over this environment's state directory, as
    /// keystored writes it (its manifest MAC'd with the trust key from
    /// keymintd), and a system subject allowed to write it.
    pub fn trust_writer(&self) -> (TrustStore, Grants, Subject) {
        let state = StateFs::open(&self.state()).unwrap();
        let key = nexus_daemon::testkit::trust_key(self.km());
        let store = TrustStore::open_writer(&self.trust, state, Some(key)).unwrap();
        let grants = Grants::new(&[("system:admin", Capability::TrustWrite)]);
        (store, grants, "system:admin".parse().unwrap())
    }

    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    pub fn run(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    /// keymintd over [`Env::state`], durable (started on first use).
    pub fn km(&self) -> &Proc {
        self.km
            .get_or_init(|| keymint(Some(&self.state()), &self.run()))
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
