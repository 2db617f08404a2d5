//! The test environment: a system trust root for `updates`, a state
//! directory, a manual clock, grants, and signed updates.

use nexus_core::testkit::Grants;
use nexus_core::{Capability, Coded, ErrorCode, Label, ManualClock, Subject};
use statefs::{StateFs, StatePath};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, TrustStore, Version};
use updated::{Release, UpdateError, UpdateManager};

pub const NOW: u64 = 1_750_000_000;
pub const OS: &str = "nexus-os";

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

pub fn updater() -> Subject {
    subject("system:updater")
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub system_dir: PathBuf,
    pub state: StateFs,
    pub store: TrustStore,
    pub key: MinisignSecretKey,
    pub root: TrustRoot,
    pub clock: ManualClock,
    pub grants: Arc<Grants>,
    pub mgr: UpdateManager,
}

pub fn root_for(key: &MinisignSecretKey, scopes: &[Scope]) -> TrustRoot {
    TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("os-vendor").unwrap(),
        scopes,
        NOW - 1000,
        NOW + 1000,
    )
    .unwrap()
}

pub fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let system_dir = tmp.path().join("pkg-trust");
    fs::create_dir(&system_dir).unwrap();
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, &[Scope::Updates]);
    fs::write(system_dir.join(root.file_name()), root.to_toml()).unwrap();
    let state = StateFs::open(&tmp.path().join("state")).unwrap();
    let store = TrustStore::open(&system_dir, state.clone()).unwrap();
    let clock = ManualClock::new(NOW);
    let grants = Arc::new(Grants::new(&[
        ("system:updater", Capability::UpdateStage),
        ("system:updater", Capability::ArtifactForce),
        // Stages, commits and rolls back, but may not force.
        ("system:stager", Capability::UpdateStage),
        ("system:nx", Capability::TrustWrite),
        // A misconfigured grant: the library must still refuse this app.
        ("app:com.evil", Capability::UpdateStage),
    ]));
    let mgr = UpdateManager::new(
        state.clone(),
        store.clone(),
        grants.clone(),
        Arc::new(clock.clone()),
        Release::factory(Label::new(OS).unwrap(), Version::parse("1.0").unwrap()),
    );
    Env {
        tmp,
        system_dir,
        state,
        store,
        key,
        root,
        clock,
        grants,
        mgr,
    }
}

impl Env {
    pub fn update_as(
        &self,
        name: &str,
        version: &str,
        kind: Kind,
        key: &MinisignSecretKey,
    ) -> PathBuf {
        let dir = self
            .tmp
            .path()
            .join(format!("art-{name}-{version}-{kind}-{}", key.key_id()));
        fs::create_dir_all(dir.join("boot")).unwrap();
        fs::write(dir.join("boot/kernel"), format!("kernel {version}")).unwrap();
        fs::write(dir.join("rootfs.img"), vec![7u8; 4096]).unwrap();
        sign_artifact(
            &dir,
            kind,
            Label::new(name).unwrap(),
            Version::parse(version).unwrap(),
            kind.scope(),
            key,
            &format!("{name} {version}"),
        )
        .unwrap();
        dir
    }

    pub fn update(&self, version: &str) -> PathBuf {
        self.update_as(OS, version, Kind::Update, &self.key)
    }

    pub fn stage(&self, dir: &Path, force: bool) -> Result<Release, UpdateError> {
        self.mgr.stage(&updater(), dir, force)
    }

    pub fn slot_files(&self) -> Vec<String> {
        self.state
            .list(&StatePath::parse("state:/update").unwrap())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Stage must fail with `code` and change nothing.
    pub fn reject(&self, dir: &Path, force: bool, code: ErrorCode) -> UpdateError {
        let before = (self.mgr.status().unwrap(), self.slot_files());
        let err = self.stage(dir, force).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!((self.mgr.status().unwrap(), self.slot_files()), before);
        err
    }

    pub fn install_root(&self, key: &MinisignSecretKey, scopes: &[Scope]) -> TrustRoot {
        let root = root_for(key, scopes);
        self.store
            .add_installed(&subject("system:nx"), self.grants.as_ref(), &root)
            .unwrap();
        root
    }
}
