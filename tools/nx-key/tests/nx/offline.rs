//! The offline commands for real: artifacts signed by `nx` verify with
//! `trust::verify` over a real trust store; tokens made with the `eat`
//! crate verify (and are refused) with `nx attest verify`.

use crate::common::nx;
use eat::{Claims, CustomClaims, CustomValue, Nonce, SwVersion, Ueid};
use ed25519_dalek::{Signer, SigningKey};
use keymint::kid::ed25519_kid;
use nexus_core::ErrorCode;
use std::path::Path;
use trust::minisign::MinisignSecretKey;
use trust::{Scope, TrustRoot, TrustStore};

const FAR: u64 = 4_102_444_800;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn store_trusting(dir: &Path, sk: &MinisignSecretKey, scope: Scope) -> TrustStore {
    let root = TrustRoot::from_minisign(
        &sk.public_key(),
        "publisher".parse().unwrap(),
        &[scope],
        0,
        FAR,
    )
    .unwrap();
    std::fs::write(dir.join(root.file_name()), root.to_toml()).unwrap();
    TrustStore::open(dir, statefs::StateFs::volatile()).unwrap()
}

#[test]
fn signed_bundle_verifies_with_the_trust_store() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path().join("app");
    std::fs::create_dir_all(art.join("bin")).unwrap();
    std::fs::write(art.join("bin/app"), b"\x7fELF...").unwrap();
    std::fs::write(art.join("README"), b"hello").unwrap();
    let sk = MinisignSecretKey::generate().unwrap();
    let key = tmp.path().join("publisher.key");
    std::fs::write(&key, sk.to_file_text().as_bytes()).unwrap();

    let o = nx(
        &[
            "--json",
            "bundle",
            "sign",
            art.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--name",
            "com.example.app",
            "--version",
            "1.10.0",
        ],
        b"",
    );
    let j = o.json();
    let kid = ed25519_kid(sk.public_key().verifying_key());
    assert_eq!(j["signer_kid"], kid.to_hex());
    assert_eq!(
        (j["kind"].as_str(), j["scope"].as_str(), j["files"].as_u64()),
        (Some("bundle"), Some("packages"), Some(2))
    );

    let sys = tmp.path().join("trust");
    std::fs::create_dir(&sys).unwrap();
    let store = store_trusting(&sys, &sk, Scope::Packages);
    let v = trust::verify(&store, &art, Scope::Packages, now()).unwrap();
    assert_eq!(v.signer(), kid);
    assert_eq!(v.manifest().name().as_str(), "com.example.app");
    assert_eq!(v.manifest().version().as_str(), "1.10.0");
    assert_eq!(v.trusted_comment(), "bundle com.example.app 1.10.0");
    // Not an update: the scope is part of what was signed.
    assert!(trust::verify(&store, &art, Scope::Updates, now()).is_err());
    // A file changed after signing is refused.
    std::fs::write(art.join("README"), b"tampered").unwrap();
    let e = trust::verify(&store, &art, Scope::Packages, now()).unwrap_err();
    assert_eq!(nexus_core::Coded::code(&e), ErrorCode::Eio);
}

#[test]
fn signed_update_verifies_for_updates_only() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path().join("os");
    std::fs::create_dir(&art).unwrap();
    std::fs::write(art.join("rootfs.img"), vec![0u8; 4096]).unwrap();
    let sk = MinisignSecretKey::generate().unwrap();
    let key = tmp.path().join("release.key");
    std::fs::write(&key, sk.to_file_text().as_bytes()).unwrap();
    let o = nx(
        &[
            "update",
            "sign",
            art.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--name",
            "nexus-os",
            "--version",
            "2.0.0",
            "--comment",
            "release 2",
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o
        .text()
        .starts_with("signed update nexus-os 2.0.0 (1 files) with key "));
    let sys = tmp.path().join("trust");
    std::fs::create_dir(&sys).unwrap();
    let store = store_trusting(&sys, &sk, Scope::Updates);
    let v = trust::verify(&store, &art, Scope::Updates, now()).unwrap();
    assert_eq!(v.trusted_comment(), "release 2");
}

#[test]
fn test_reject_bad_signing_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let art = tmp.path();
    let key = art.join("k");
    std::fs::write(&key, b"untrusted comment: x\nnot a key\n").unwrap();
    let o = nx(
        &[
            "bundle",
            "sign",
            art.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--name",
            "a",
            "--version",
            "1.0",
        ],
        b"",
    );
    assert_eq!(o.code, ErrorCode::Einval.exit_status(), "{}", o.stderr);
    assert!(o.stderr.starts_with("nx: EINVAL: secret key: "));
    let o = nx(
        &[
            "bundle",
            "sign",
            art.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--name",
            "a",
            "--version",
            "01.0",
        ],
        b"",
    );
    assert_eq!(o.code, 2);
    let o = nx(
        &[
            "bundle",
            "sign",
            art.to_str().unwrap(),
            "--key",
            "/nonexistent/key",
            "--name",
            "a",
            "--version",
            "1.0",
        ],
        b"",
    );
    // A missing local file: status 3 (a service's EIO is 19).
    assert_eq!(o.code, 3);
    assert!(o.stderr.starts_with("nx: ENOENT: /nonexistent/key: "));
}

struct Minted {
    dir: tempfile::TempDir,
    token: std::path::PathBuf,
    device_pk: [u8; 32],
    nonce_hex: String,
}

fn mint(iat: u64) -> Minted {
    let device = SigningKey::from_bytes(&[3u8; 32]);
    let attested = SigningKey::from_bytes(&[4u8; 32]);
    let nonce = [0x42u8; 16];
    let mut custom = CustomClaims::new();
    custom
        .insert(-65538, CustomValue::Text("build-42".into()))
        .unwrap();
    let claims = Claims {
        iat,
        nonce: Nonce::new(&nonce).unwrap(),
        ueid: Ueid::from_random([9u8; 32]),
        attested_key: attested.verifying_key(),
        app_id: "com.example.alpha".parse().unwrap(),
        swname: "nexus-attestd".parse().unwrap(),
        swversion: SwVersion::new("0.1.0").unwrap(),
        custom,
    };
    let kid = ed25519_kid(&device.verifying_key());
    let token = eat::sign_token(&claims, &kid, |tbs| {
        Ok::<_, nx_key::error::NxError>(device.sign(tbs).to_bytes())
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.cbor");
    std::fs::write(&path, token).unwrap();
    Minted {
        dir,
        token: path,
        device_pk: device.verifying_key().to_bytes(),
        nonce_hex: hex::encode(nonce),
    }
}

#[test]
fn attest_verify_accepts_a_real_token() {
    let m = mint(now());
    let pk_hex = hex::encode(m.device_pk);
    let tok = m.token.to_str().unwrap();
    let j = nx(
        &[
            "--json",
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &pk_hex,
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    )
    .json();
    assert_eq!(j["valid"], true);
    assert_eq!(j["assurance"], "software-stub");
    assert_eq!(j["app"], "com.example.alpha");
    assert_eq!(j["swname"], "nexus-attestd");
    assert_eq!(j["alg"], "EdDSA");
    let device_kid = ed25519_kid(&ed25519_dalek::VerifyingKey::from_bytes(&m.device_pk).unwrap());
    assert_eq!(j["device_kid"], device_kid.to_hex());
    assert_eq!(
        j["custom"][0],
        serde_json::json!({ "label": -65538, "type": "text", "value": "build-42" })
    );
    // The key may also be a file: raw bytes (as `nx attest device-key --out` writes) or hex.
    let raw = m.dir.path().join("device.pub");
    std::fs::write(&raw, m.device_pk).unwrap();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            raw.to_str().unwrap(),
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.text().starts_with("valid token (software stub"));
    std::fs::write(&raw, format!("{pk_hex}\n")).unwrap();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            raw.to_str().unwrap(),
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn test_reject_token_with_wrong_nonce_key_age_or_bytes() {
    let m = mint(now());
    let tok = m.token.to_str().unwrap();
    let pk_hex = hex::encode(m.device_pk);
    let eperm = ErrorCode::Eperm.exit_status();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &pk_hex,
            "--nonce",
            "00000000000000000000000000000000",
        ],
        b"",
    );
    assert_eq!(o.code, eperm);
    assert_eq!(o.stderr, "nx: EPERM: token refused: nonce mismatch\n");
    let other = hex::encode(
        SigningKey::from_bytes(&[5u8; 32])
            .verifying_key()
            .to_bytes(),
    );
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &other,
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    assert_eq!(o.code, eperm);
    let later = (now() + 3600).to_string();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &pk_hex,
            "--nonce",
            &m.nonce_hex,
            "--now",
            &later,
        ],
        b"",
    );
    assert_eq!(o.code, eperm);
    assert!(o.stderr.contains("too old"));
    let mut bytes = std::fs::read(&m.token).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&m.token, &bytes).unwrap();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &pk_hex,
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    assert_eq!(o.code, eperm, "{}", o.stderr);
    bytes.truncate(10);
    std::fs::write(&m.token, &bytes).unwrap();
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            &pk_hex,
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    assert_eq!(o.code, ErrorCode::Einval.exit_status(), "{}", o.stderr);
    let o = nx(
        &[
            "attest",
            "verify",
            "--token",
            tok,
            "--pubkey",
            "abcd",
            "--nonce",
            &m.nonce_hex,
        ],
        b"",
    );
    // Neither a key in hex nor a file that exists: a missing local file.
    assert_eq!(o.code, 3, "{}", o.stderr);
}
