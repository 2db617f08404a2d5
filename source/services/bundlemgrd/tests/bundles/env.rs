//! The test environment: a system trust root for `packages`, a state
//! directory, a manual clock, grants, and signed bundles.

use bundlemgrd::{BundleError, BundleManager};
use nexus_core::testkit::Grants;
use nexus_core::{Capability, Coded, ErrorCode, Label, ManualClock, Subject};
use statefs::{StateFs, StatePath};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, TrustStore, Version};

pub const NOW: u64 = 1_750_000_000;
pub const APP: &str = "com.example.app";

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
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
    pub mgr: BundleManager,
}

pub fn root_for(key: &MinisignSecretKey, scopes: &[Scope]) -> TrustRoot {
    TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("publisher").unwrap(),
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
    let root = root_for(&key, &[Scope::Packages]);
    fs::write(system_dir.join(root.file_name()), root.to_toml()).unwrap();
    let state = StateFs::open(&tmp.path().join("state")).unwrap();
    let store = TrustStore::open(&system_dir, state.clone()).unwrap();
    let clock = ManualClock::new(NOW);
    let grants = Arc::new(Grants::new(&[
        ("system:nx", Capability::BundleInstall),
        ("system:nx", Capability::TrustWrite),
        ("system:nx", Capability::ArtifactForce),
        // Installs and upgrades, but may not force.
        ("system:installer", Capability::BundleInstall),
        // A misconfigured grant: the library must still refuse to force
        // for an app.
        ("app:com.evil", Capability::BundleInstall),
        ("app:com.evil", Capability::ArtifactForce),
    ]));
    let mgr = BundleManager::new(
        state.clone(),
        store.clone(),
        grants.clone(),
        Arc::new(clock.clone()),
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
    /// A bundle folder with two files, signed by `key`.
    pub fn bundle_by(&self, version: &str, kind: Kind, key: &MinisignSecretKey) -> PathBuf {
        let dir = self
            .tmp
            .path()
            .join(format!("art-{version}-{}-{}", kind, key.key_id()));
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), format!("app {version}")).unwrap();
        fs::write(dir.join("icon.png"), b"\x89PNG").unwrap();
        sign_artifact(
            &dir,
            kind,
            Label::new(APP).unwrap(),
            Version::parse(version).unwrap(),
            kind.scope(),
            key,
            &format!("{APP} {version}"),
        )
        .unwrap();
        dir
    }

    pub fn bundle(&self, version: &str) -> PathBuf {
        self.bundle_by(version, Kind::Bundle, &self.key)
    }

    pub fn install(
        &self,
        dir: &Path,
        force: bool,
    ) -> Result<bundlemgrd::InstalledBundle, BundleError> {
        self.mgr.install(&subject("system:nx"), dir, force)
    }

    pub fn installed_version(&self) -> Option<String> {
        self.mgr
            .installed(&Label::new(APP).unwrap())
            .unwrap()
            .map(|b| b.version.to_string())
    }

    pub fn app_files(&self) -> Vec<String> {
        self.state
            .list(&StatePath::parse("state:/apps").unwrap())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Install must fail with `code`, and leave what was installed as it was.
    pub fn reject(&self, dir: &Path, force: bool, code: ErrorCode) -> BundleError {
        let before = (self.installed_version(), self.app_files());
        let err = self.install(dir, force).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!((self.installed_version(), self.app_files()), before);
        err
    }

    /// An installed (not system) root for `key`, added by a system caller.
    pub fn install_root(&self, key: &MinisignSecretKey, scopes: &[Scope]) -> TrustRoot {
        let root = root_for(key, scopes);
        self.store
            .add_installed(&subject("system:nx"), self.grants.as_ref(), &root)
            .unwrap();
        root
    }
}
