//! What updated's process tests share: a trust directory with one
//! `updates` root, signed updates, and updated started as nexus-init
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

pub const OS: &str = updated::PRODUCT;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../config/policy.toml")
}

/// keymintd over the same state (volatile without one), for updated's
/// state key and the trust store's key.
pub fn keymint(state: Option<&Path>, run: &Path) -> Proc {
    nexus_daemon::testkit::keymintd(state, &policy(), run)
}

/// Start updated as nexus-init does (durable at `state`, else volatile)
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
    let d = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_updated")), args);
    if let Some(km) = km {
        d.link("keymintd", km, "system:updated");
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

pub fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let trust = tmp.path().join("trust");
    fs::create_dir(&trust).unwrap();
    let key = MinisignSecretKey::generate().unwrap();
    let root = TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("publisher").unwrap(),
        &[Scope::Updates],
        now() - 1000,
        now() + 100_000,
    )
    .unwrap();
    fs::write(trust.join(root.file_name()), root.to_toml()).unwrap();
    Env {
        km: std::cell::OnceCell::new(),
        tmp,
        trust,
        key,
        root,
    }
}

impl Env {
    pub fn update(&self, version: &str) -> PathBuf {
        self.update_by(version, &self.key)
    }

    /// An update signed by `key`.
    pub fn update_by(&self, version: &str, key: &MinisignSecretKey) -> PathBuf {
        let dir = self
            .tmp
            .path()
            .join(format!("update-{version}-{}", key.key_id()));
        fs::create_dir_all(dir.join("sbin")).unwrap();
        fs::write(dir.join("sbin/init"), format!("init {version}")).unwrap();
        sign_artifact(
            &dir,
            Kind::Update,
            Label::new(OS).unwrap(),
            Version::parse(version).unwrap(),
            Scope::Updates,
            key,
            &format!("{OS} {version}"),
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

    /// keymintd over [`Env::state`], durable (started on first use).
    pub fn km(&self) -> &Proc {
        self.km
            .get_or_init(|| keymint(Some(&self.state()), &self.run()))
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
}

pub fn stage(c: &mut Client, dir: &Path) -> Result<Value, ClientError> {
    c.call(
        "update.stage",
        &Args::new().with("path", dir.to_str().unwrap()),
    )
}

pub fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    field(v, name).as_text().unwrap()
}
