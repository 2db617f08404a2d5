//! Interoperability with the stock `minisign` tool (Debian package
//! `minisign`). These tests need the binary: without it they fail with a
//! message saying how to install it, rather than pass silently.
use crate::common::*;
use nexus_core::{Coded, ErrorCode, Label};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use trust::minisign::{MinisignError, MinisignPublicKey, MinisignSecretKey};
use trust::{
    build_manifest, sign_artifact, verify, Kind, Scope, TrustError, TrustRoot, Version,
    MANIFEST_FILE,
};

pub fn minisign() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("minisign"))
            .find(|p| p.is_file())
    });
    found.expect(
        "the `minisign` tool is required for the interop tests but is not on PATH: \
         install it with `apt-get install minisign`",
    )
}

pub fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(minisign())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `minisign -G -W`: an unencrypted key pair in `dir`.
fn minisign_keypair(dir: &Path) -> (MinisignPublicKey, PathBuf, PathBuf) {
    let out = run(&["-G", "-W", "-p", "k.pub", "-s", "k.key"], dir);
    assert!(out.status.success(), "minisign -G failed: {out:?}");
    let pk = MinisignPublicKey::parse(&fs::read(dir.join("k.pub")).unwrap()).unwrap();
    (pk, dir.join("k.pub"), dir.join("k.key"))
}

fn system_root(env: &Env, pk: &MinisignPublicKey, scope: Scope) -> TrustRoot {
    let root = TrustRoot::from_minisign(
        pk,
        Label::new("minisign").unwrap(),
        &[scope],
        0,
        4_000_000_000,
    )
    .unwrap();
    env.add_system_root(&root);
    root
}

#[test]
fn what_minisign_signs_we_verify() {
    let env = Env::new();
    let (pk, _, sk_path) = minisign_keypair(env.tmp.path());
    let root = system_root(&env, &pk, Scope::Updates);
    let dir = env.artifact_dir("update");
    let m = build_manifest(
        &dir,
        Kind::Update,
        Label::new("nexus-os").unwrap(),
        Version::parse("2.1").unwrap(),
        Scope::Updates,
    )
    .unwrap();
    fs::write(dir.join(MANIFEST_FILE), m.to_toml()).unwrap();
    let comment = "nexus-os 2.1\tbuilt by ci";
    let out = run(
        &[
            "-S",
            "-s",
            sk_path.to_str().unwrap(),
            "-m",
            MANIFEST_FILE,
            "-t",
            comment,
        ],
        &dir,
    );
    assert!(out.status.success(), "minisign -S failed: {out:?}");
    let v = verify(&env.store(), &dir, Scope::Updates, NOW).unwrap();
    assert_eq!(v.signer(), root.kid());
    assert_eq!(v.trusted_comment(), comment);
    assert_eq!(v.manifest().version().as_str(), "2.1");

    // And a byte changed after minisign signed is caught.
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(dir.join(MANIFEST_FILE), text.replace("2.1", "2.2")).unwrap();
    let err = verify(&env.store(), &dir, Scope::Updates, NOW).unwrap_err();
    assert!(matches!(err, TrustError::BadSignature));
}

#[test]
fn what_we_sign_minisign_verifies_with_the_trusted_comment() {
    let env = Env::new();
    let (_, pk_path, sk_path) = minisign_keypair(env.tmp.path());
    let sk = MinisignSecretKey::parse(&fs::read(&sk_path).unwrap()).unwrap();
    let dir = env.artifact_dir("bundle");
    let comment = "com.example.app 1.4.0\tchannel:stable";
    sign_artifact(
        &dir,
        Kind::Bundle,
        Label::new("com.example.app").unwrap(),
        Version::parse("1.4.0").unwrap(),
        Scope::Packages,
        &sk,
        comment,
    )
    .unwrap();
    let out = run(
        &["-V", "-p", pk_path.to_str().unwrap(), "-m", MANIFEST_FILE],
        &dir,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "minisign -V refused our signature: {out:?}"
    );
    assert!(
        stdout.contains(&format!("Trusted comment: {comment}")),
        "trusted comment not reported: {stdout}"
    );

    // minisign refuses it once the manifest changes, so the check above can fail.
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(dir.join(MANIFEST_FILE), text.replace("1.4.0", "1.4.1")).unwrap();
    let out = run(
        &["-V", "-p", pk_path.to_str().unwrap(), "-m", MANIFEST_FILE],
        &dir,
    );
    assert!(
        !out.status.success(),
        "minisign accepted a changed manifest"
    );
}

#[test]
fn minisign_signs_with_a_key_we_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let sk = MinisignSecretKey::generate().unwrap();
    fs::write(tmp.path().join("k.key"), sk.to_file_text().as_bytes()).unwrap();
    fs::write(tmp.path().join("k.pub"), sk.public_key().to_file_text()).unwrap();
    fs::write(tmp.path().join("msg"), b"payload").unwrap();
    let out = run(&["-S", "-s", "k.key", "-m", "msg", "-t", "tc"], tmp.path());
    assert!(
        out.status.success(),
        "minisign -S refused our key file: {out:?}"
    );
    let out = run(&["-V", "-p", "k.pub", "-m", "msg"], tmp.path());
    assert!(out.status.success(), "{out:?}");
    let sig = trust::minisign::MinisignSignature::parse(
        &fs::read(tmp.path().join("msg.minisig")).unwrap(),
    )
    .unwrap();
    assert!(sig
        .verify(sk.public_key().verifying_key(), b"payload")
        .is_ok());
    assert_eq!(sig.trusted_comment(), "tc");
}

#[test]
fn test_reject_encrypted_minisign_secret_key() {
    // minisign -G with a password; its public key is fine.
    let (file, _pk) = crate::signers::encrypted_keypair("correct horse");
    let err = MinisignSecretKey::parse(&file).err().unwrap();
    assert_eq!(err, MinisignError::EncryptedSecretKey);
    assert_eq!(err.code(), ErrorCode::Einval);
}

fn fixture_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/fixtures/trust")
        .join(name)
}

fn sh(script: &str, args: &[&str]) {
    let out = Command::new("sh")
        .arg(fixture_script(script))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script} failed: {out:?}");
}

/// The publisher workflow of docs/trust/overview.md with stock tools only:
/// root file from a minisign key, manifest from sha256sum, `minisign -S`.
#[test]
fn documented_stock_tool_workflow_verifies() {
    let env = Env::new();
    let (pk, pk_path, sk_path) = minisign_keypair(env.tmp.path());
    sh(
        "root-from-minisign.sh",
        &[
            pk_path.to_str().unwrap(),
            "vendor-2025",
            "packages,updates",
            "0",
            "4000000000",
            env.system_dir.to_str().unwrap(),
        ],
    );
    let dir = env.artifact_dir("stock");
    sh(
        "make-manifest.sh",
        &[
            dir.to_str().unwrap(),
            "bundle",
            "com.example.stock",
            "3.1.4",
            "packages",
        ],
    );
    let out = run(
        &[
            "-S",
            "-s",
            sk_path.to_str().unwrap(),
            "-m",
            MANIFEST_FILE,
            "-t",
            "stock 3.1.4",
        ],
        &dir,
    );
    assert!(out.status.success(), "{out:?}");
    // The store refuses a root file whose name is not its key's kid, so
    // loading it proves the script computed the RFC 9679 thumbprint.
    let store = env.store();
    let root = TrustRoot::from_minisign(
        &pk,
        Label::new("vendor-2025").unwrap(),
        &[Scope::Packages, Scope::Updates],
        0,
        4_000_000_000,
    )
    .unwrap();
    assert_eq!(store.load().unwrap().roots()[0].root, root);
    let v = verify(&store, &dir, Scope::Packages, NOW).unwrap();
    assert_eq!(v.manifest().name().as_str(), "com.example.stock");
    assert_eq!(v.trusted_comment(), "stock 3.1.4");
    assert_eq!(v.files().count(), 2);
}
