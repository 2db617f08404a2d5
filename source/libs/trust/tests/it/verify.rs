//! `trust::verify` at the library level: every check, with exact codes.
use crate::common::*;
use nexus_core::{Coded, ErrorCode, Label};
use std::fs;
use std::path::Path;
use trust::minisign::{MinisignSecretKey, MinisignSignature};
use trust::{
    verify, Kind, Manifest, ManifestError, Origin, Scope, TrustError, TrustRoot, MANIFEST_FILE,
    SIGNATURE_FILE,
};

const FAR: u64 = 4_000_000_000;

struct Fixture {
    env: Env,
    key: MinisignSecretKey,
    root: TrustRoot,
}

fn fixture(scopes: &[Scope]) -> Fixture {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, scopes, 0, FAR);
    env.add_system_root(&root);
    Fixture { env, key, root }
}

fn signed_bundle(f: &Fixture) -> std::path::PathBuf {
    let dir = f.env.artifact_dir("b");
    sign(&dir, Kind::Bundle, "1.0.0", &f.key);
    dir
}

fn check(f: &Fixture, dir: &Path, scope: Scope) -> Result<trust::VerifiedArtifact, TrustError> {
    verify(&f.env.store(), dir, scope, NOW)
}

fn reject(f: &Fixture, dir: &Path, scope: Scope, code: ErrorCode) -> TrustError {
    let err = check(f, dir, scope).unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    err
}

#[test]
fn accepts_a_signed_bundle_and_returns_the_checked_bytes() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let v = check(&f, &dir, Scope::Packages).unwrap();
    assert_eq!(v.signer(), f.root.kid());
    assert_eq!(v.signer_origin(), Origin::System);
    assert_eq!(
        v.trusted_comment(),
        "timestamp:1750000000\tfile:manifest.toml"
    );
    assert_eq!(v.manifest().name().as_str(), "com.example.app");
    let files: Vec<(String, Vec<u8>)> = v
        .files()
        .map(|(e, b)| (e.path.to_string(), b.to_vec()))
        .collect();
    assert_eq!(
        files,
        vec![
            ("README".to_string(), b"hello\n".to_vec()),
            ("bin/app".to_string(), b"\x7fELF pretend binary".to_vec()),
        ]
    );
}

#[test]
fn roots_without_minisign_key_id_are_still_found() {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let pk = key.public_key();
    let root = TrustRoot::new(
        pk.verifying_key().as_bytes(),
        None,
        Label::new("no-id").unwrap(),
        &[Scope::Packages],
        0,
        FAR,
    )
    .unwrap();
    env.add_system_root(&root);
    let dir = env.artifact_dir("b");
    sign(&dir, Kind::Bundle, "1", &key);
    assert_eq!(
        verify(&env.store(), &dir, Scope::Packages, NOW)
            .unwrap()
            .signer(),
        root.kid()
    );
}

#[test]
fn test_reject_unsigned_artifact() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    fs::remove_file(dir.join(SIGNATURE_FILE)).unwrap();
    assert!(matches!(
        reject(&f, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::Unsigned
    ));
}

#[test]
fn test_reject_missing_manifest() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    fs::remove_file(dir.join(MANIFEST_FILE)).unwrap();
    reject(&f, &dir, Scope::Packages, ErrorCode::Einval);
}

#[test]
fn test_reject_signer_not_in_store_even_if_artifact_carries_its_key() {
    let f = fixture(&[Scope::Packages]);
    let stranger = MinisignSecretKey::generate().unwrap();
    let dir = f.env.artifact_dir("b");
    // The artifact ships its own public key; nothing may use it.
    fs::write(
        dir.join("minisign.pub"),
        stranger.public_key().to_file_text(),
    )
    .unwrap();
    sign(&dir, Kind::Bundle, "1", &stranger);
    assert!(matches!(
        reject(&f, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::UnknownSigner
    ));
}

#[test]
fn test_reject_signature_claiming_a_trusted_key_number() {
    let f = fixture(&[Scope::Packages]);
    let stranger = MinisignSecretKey::generate().unwrap();
    let dir = signed_bundle(&f);
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    let forged = MinisignSignature::sign(&stranger, text.as_bytes(), "t", "u").unwrap();
    // Put the trusted root's key number on the stranger's signature.
    let mut lines: Vec<String> = forged.to_text().lines().map(str::to_owned).collect();
    let mut raw = base64_decode(&lines[1]);
    raw[2..10].copy_from_slice(f.key.key_id().as_bytes());
    lines[1] = base64_encode(&raw);
    fs::write(dir.join(SIGNATURE_FILE), lines.join("\n") + "\n").unwrap();
    assert!(matches!(
        reject(&f, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::BadSignature
    ));
}

#[test]
fn test_reject_tampered_manifest() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    fs::write(dir.join(MANIFEST_FILE), text.replace("1.0.0", "9.0.0")).unwrap();
    assert!(matches!(
        reject(&f, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::BadSignature
    ));
}

#[test]
fn test_reject_tampered_trusted_comment() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let sig = fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    fs::write(
        dir.join(SIGNATURE_FILE),
        sig.replace("timestamp:1750000000", "timestamp:1"),
    )
    .unwrap();
    assert!(matches!(
        reject(&f, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::BadSignature
    ));
}

#[test]
fn test_reject_legacy_and_malformed_signature_files() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let sig = fs::read_to_string(dir.join(SIGNATURE_FILE)).unwrap();
    let mut lines: Vec<String> = sig.lines().map(str::to_owned).collect();
    let mut raw = base64_decode(&lines[1]);
    raw[1] = b'd';
    lines[1] = base64_encode(&raw);
    fs::write(dir.join(SIGNATURE_FILE), lines.join("\n")).unwrap();
    reject(&f, &dir, Scope::Packages, ErrorCode::Einval);
    fs::write(dir.join(SIGNATURE_FILE), &sig[..sig.len() / 2]).unwrap();
    reject(&f, &dir, Scope::Packages, ErrorCode::Einval);
}

#[test]
fn test_reject_wrong_scope_and_root_without_scope() {
    let f = fixture(&[Scope::Packages, Scope::Updates]);
    let dir = signed_bundle(&f);
    let err = reject(&f, &dir, Scope::Updates, ErrorCode::Eperm);
    assert!(matches!(
        err,
        TrustError::WrongScope {
            expected: Scope::Updates,
            found: Scope::Packages
        }
    ));
    let g = fixture(&[Scope::Updates]);
    let dir = g.env.artifact_dir("b");
    sign(&dir, Kind::Bundle, "1", &g.key);
    assert!(matches!(
        reject(&g, &dir, Scope::Packages, ErrorCode::Eperm),
        TrustError::ScopeNotAllowed {
            scope: Scope::Packages,
            ..
        }
    ));
}

#[test]
fn validity_window_is_half_open() {
    let env = Env::new();
    let key = MinisignSecretKey::generate().unwrap();
    let root = root_for(&key, &[Scope::Packages], 100, 200);
    env.add_system_root(&root);
    let dir = env.artifact_dir("b");
    sign(&dir, Kind::Bundle, "1", &key);
    let store = env.store();
    assert!(matches!(
        verify(&store, &dir, Scope::Packages, 99),
        Err(TrustError::NotYetValid(_))
    ));
    assert!(verify(&store, &dir, Scope::Packages, 100).is_ok());
    assert!(verify(&store, &dir, Scope::Packages, 199).is_ok());
    let err = verify(&store, &dir, Scope::Packages, 200).unwrap_err();
    assert!(matches!(err, TrustError::Expired(_)));
    assert_eq!(err.code(), ErrorCode::Eperm);
}

/// Sign a hand-written manifest, as a hostile publisher could.
fn sign_text(f: &Fixture, dir: &Path, text: &str) {
    fs::write(dir.join(MANIFEST_FILE), text).unwrap();
    let sig = MinisignSignature::sign(&f.key, text.as_bytes(), "t", "u").unwrap();
    fs::write(dir.join(SIGNATURE_FILE), sig.to_text()).unwrap();
}

#[test]
fn test_reject_signed_manifest_with_path_traversal() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    sign_text(
        &f,
        &dir,
        &text.replace("path = \"README\"", "path = \"../README\""),
    );
    let err = reject(&f, &dir, Scope::Packages, ErrorCode::Einval);
    assert!(
        matches!(err, TrustError::Manifest(ManifestError::BadPath)),
        "{err}"
    );
}

#[test]
fn test_reject_signed_manifest_with_inconsistent_kind() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let text = fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap();
    sign_text(
        &f,
        &dir,
        &text.replace("kind = \"bundle\"", "kind = \"update\""),
    );
    let err = reject(&f, &dir, Scope::Packages, ErrorCode::Einval);
    assert!(
        matches!(
            err,
            TrustError::Manifest(ManifestError::KindScopeMismatch { .. })
        ),
        "{err}"
    );
}

#[test]
fn test_reject_file_changes_with_eio() {
    type Change = fn(&Path);
    let cases: Vec<(&str, Change)> = vec![
        ("flipped byte", |d| {
            fs::write(d.join("README"), b"hellO\n").unwrap()
        }),
        ("truncated", |d| {
            fs::write(d.join("README"), b"hell").unwrap()
        }),
        ("appended", |d| {
            fs::write(d.join("README"), b"hello\n\n").unwrap()
        }),
        ("missing", |d| fs::remove_file(d.join("README")).unwrap()),
        ("extra", |d| fs::write(d.join("bin/extra"), b"").unwrap()),
        ("extra hidden", |d| {
            fs::write(d.join(".hidden"), b"").unwrap()
        }),
        ("extra dir with file", |d| {
            fs::create_dir(d.join("new")).unwrap();
            fs::write(d.join("new/x"), b"").unwrap();
        }),
        ("symlink to same content", |d| {
            let elsewhere = d.parent().unwrap().join("outside");
            fs::write(&elsewhere, b"hello\n").unwrap();
            fs::remove_file(d.join("README")).unwrap();
            std::os::unix::fs::symlink(&elsewhere, d.join("README")).unwrap();
        }),
        ("symlinked directory", |d| {
            let elsewhere = d.parent().unwrap().join("outside-bin");
            fs::rename(d.join("bin"), &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, d.join("bin")).unwrap();
        }),
        ("symlinked manifest", |d| {
            let elsewhere = d.parent().unwrap().join("outside-manifest");
            fs::rename(d.join(MANIFEST_FILE), &elsewhere).unwrap();
            std::os::unix::fs::symlink(&elsewhere, d.join(MANIFEST_FILE)).unwrap();
        }),
        ("fifo", |d| {
            let st = std::process::Command::new("mkfifo")
                .arg(d.join("pipe"))
                .status()
                .unwrap();
            assert!(st.success());
        }),
        ("too deep", |d| {
            let deep = d.join("a/b/c/d/e/f/g/h");
            fs::create_dir_all(&deep).unwrap();
            fs::write(deep.join("x"), b"").unwrap();
        }),
        ("non-UTF-8 name", |d| {
            use std::os::unix::ffi::OsStrExt;
            fs::write(d.join(std::ffi::OsStr::from_bytes(b"\xff\x1b[2J")), b"").unwrap();
        }),
    ];
    for (what, change) in cases {
        let f = fixture(&[Scope::Packages]);
        let dir = signed_bundle(&f);
        check(&f, &dir, Scope::Packages).unwrap();
        change(&dir);
        let err = check(&f, &dir, Scope::Packages).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Eio, "{what}: {err}");
        assert!(
            !err.to_string().contains('\u{1b}'),
            "{what}: escape in message"
        );
    }
}

#[test]
fn manifest_written_by_signer_round_trips() {
    let f = fixture(&[Scope::Packages]);
    let dir = signed_bundle(&f);
    let m = Manifest::parse(&fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(m.files().len(), 2);
    assert_eq!(
        m.to_toml(),
        fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}
