//! Shared fixtures for the trust integration tests: a system root
//! directory, a state directory, keys and signed artifacts.

use nexus_core::{Label, Subject};
use statefs::StateFs;
use std::fs;
use std::path::{Path, PathBuf};
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustError, TrustRoot, TrustStore, Version};

pub const NOW: u64 = 1_750_000_000;

pub use nexus_core::testkit::Grants;

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub system_dir: PathBuf,
    pub state: StateFs,
}

impl Env {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let system_dir = tmp.path().join("pkg-trust");
        fs::create_dir(&system_dir).unwrap();
        let state = StateFs::open(&tmp.path().join("state")).unwrap();
        Env {
            tmp,
            system_dir,
            state,
        }
    }

    pub fn store(&self) -> TrustStore {
        TrustStore::open(&self.system_dir, self.state.clone()).unwrap()
    }

    pub fn add_system_root(&self, root: &TrustRoot) {
        fs::write(self.system_dir.join(root.file_name()), root.to_toml()).unwrap();
    }

    /// A fresh directory for an artifact, with a few files.
    pub fn artifact_dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join("artifacts").join(name);
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("bin/app"), b"\x7fELF pretend binary").unwrap();
        fs::write(dir.join("README"), b"hello\n").unwrap();
        dir
    }
}

pub fn root_for(key: &MinisignSecretKey, scopes: &[Scope], nb: u64, na: u64) -> TrustRoot {
    TrustRoot::from_minisign(
        &key.public_key(),
        Label::new("test-root").unwrap(),
        scopes,
        nb,
        na,
    )
    .unwrap()
}

pub fn sign(dir: &Path, kind: Kind, version: &str, key: &MinisignSecretKey) {
    sign_artifact(
        dir,
        kind,
        Label::new("com.example.app").unwrap(),
        Version::parse(version).unwrap(),
        kind.scope(),
        key,
        "timestamp:1750000000\tfile:manifest.toml",
    )
    .unwrap();
}

/// The damaged record of `store` at `location`, as the error an answer
/// that depends on it gets (`EIO` naming it); panics if it is not damaged.
pub fn damaged_at(store: &TrustStore, location: &str) -> TrustError {
    let snap = store.load().unwrap();
    let found = snap.damaged().iter().find(|d| d.location == location);
    assert!(
        found.is_some(),
        "{location} is not damaged: {:?}",
        snap.damaged()
    );
    TrustError::from(found.unwrap())
}
