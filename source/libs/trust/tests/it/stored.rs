//! Artifacts kept in the state store, verified again: the kept signature
//! against the store as it is now, the kept files against the manifest.
use crate::common::*;
use nexus_core::{Capability, Coded, ErrorCode};
use statefs::StatePath;
use std::fs;
use trust::minisign::MinisignSecretKey;
use trust::{
    check_stored_files, stored_path, verify, verify_signed, Kind, Scope, SignedManifest,
    TrustError, TrustRoot,
};

const FAR: u64 = 4_000_000_000;

struct Kept {
    env: Env,
    root: TrustRoot,
    signed: SignedManifest,
    dir: StatePath,
}

/// A bundle verified and written under `state:/kept/`, as a service
/// installs it.
fn kept() -> Kept {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, &[Scope::Packages], 0, FAR);
    env.add_system_root(&root);
    let art = env.artifact_dir("b");
    sign(&art, Kind::Bundle, "1.0.0", &key);
    let v = verify(&env.store(), &art, Scope::Packages, NOW).unwrap();
    let dir = StatePath::parse("state:/kept").unwrap();
    for (entry, bytes) in v.files() {
        env.state
            .write(&stored_path(&dir, &entry.path).unwrap(), bytes)
            .unwrap();
    }
    Kept {
        signed: v.signed().clone(),
        env,
        root,
        dir,
    }
}

fn host(k: &Kept, rel: &str) -> std::path::PathBuf {
    k.env
        .state
        .host_path(&StatePath::parse(&format!("state:/kept/{rel}")).unwrap())
        .unwrap()
}

fn files_err(k: &Kept) -> TrustError {
    let m = k.signed.manifest().unwrap();
    let err = check_stored_files(&k.env.state, &k.dir, &m).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eio, "{err}");
    err
}

#[test]
fn kept_artifact_verifies_again() {
    let k = kept();
    let again = verify_signed(&k.env.store(), &k.signed, Scope::Packages, NOW).unwrap();
    assert_eq!(again.signer, k.root.kid());
    let files = check_stored_files(&k.env.state, &k.dir, &again.manifest).unwrap();
    assert_eq!(files.len(), 2);
    let rebuilt = SignedManifest::new(
        k.signed.manifest_bytes().to_vec(),
        k.signed.signature_bytes().to_vec(),
    );
    assert_eq!(rebuilt, k.signed);
}

#[test]
fn test_reject_kept_files_changed_missing_extra_or_linked() {
    let k = kept();
    let app = host(&k, "bin/app");
    let mut bytes = fs::read(&app).unwrap();
    bytes[0] ^= 1;
    fs::write(&app, &bytes).unwrap();
    let err = files_err(&k);
    assert!(
        matches!(&err, TrustError::HashMismatch(p) if p == "state:/kept/bin/app"),
        "{err}"
    );
    bytes[0] ^= 1;
    bytes.push(b'!');
    fs::write(&app, &bytes).unwrap();
    assert!(matches!(files_err(&k), TrustError::SizeMismatch(_)));
    bytes.pop();
    fs::write(&app, &bytes).unwrap();
    fs::write(host(&k, "bin/extra"), b"x").unwrap();
    let err = files_err(&k);
    assert!(
        matches!(&err, TrustError::UnlistedFile(p) if p == "state:/kept/bin/extra"),
        "{err}"
    );
    fs::remove_file(host(&k, "bin/extra")).unwrap();
    let elsewhere = k.env.tmp.path().join("copy");
    fs::rename(&app, &elsewhere).unwrap();
    let err = files_err(&k);
    assert!(matches!(err, TrustError::MissingFile(_)), "{err}");
    std::os::unix::fs::symlink(&elsewhere, &app).unwrap();
    let err = files_err(&k);
    assert!(
        matches!(&err, TrustError::NotRegularFile(p) if p == "state:/kept/bin/app"),
        "{err}"
    );
}

#[test]
fn test_reject_kept_signature_under_the_store_as_it_is_now() {
    let k = kept();
    let nx = subject("system:nx");
    let grants = Grants::new(&[("system:nx", Capability::TrustWrite)]);
    // Expired since.
    let err = verify_signed(&k.env.store(), &k.signed, Scope::Packages, FAR).unwrap_err();
    assert!(matches!(err, TrustError::Expired(_)), "{err}");
    // For another scope.
    let err = verify_signed(&k.env.store(), &k.signed, Scope::Updates, NOW).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Eperm);
    // The kept manifest changed.
    let forged = SignedManifest::new(
        String::from_utf8(k.signed.manifest_bytes().to_vec())
            .unwrap()
            .replace("1.0.0", "9.0.0")
            .into_bytes(),
        k.signed.signature_bytes().to_vec(),
    );
    let err = verify_signed(&k.env.store(), &forged, Scope::Packages, NOW).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature), "{err}");
    // Distrusted since.
    k.env.store().distrust(&nx, &grants, &k.root.kid()).unwrap();
    let err = verify_signed(&k.env.store(), &k.signed, Scope::Packages, NOW).unwrap_err();
    assert!(matches!(err, TrustError::Distrusted(_)), "{err}");
    // Removed since.
    fs::remove_file(k.env.system_dir.join(k.root.file_name())).unwrap();
    let err = verify_signed(&k.env.store(), &k.signed, Scope::Packages, NOW).unwrap_err();
    assert!(matches!(err, TrustError::UnknownSigner), "{err}");
}
