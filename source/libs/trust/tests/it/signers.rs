//! Signing with a key held elsewhere ([`MinisignSigner`]), files of any
//! size through their digest, keystore key numbers, and encrypted
//! minisign secret keys, judged by the stock `minisign` tool.

use crate::minisign_interop::{minisign, run};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use nexus_core::{Coded, ErrorCode};
use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use trust::minisign::{
    digest, digest_reader, MinisignError, MinisignKeyId, MinisignPublicKey, MinisignSecretKey,
    MinisignSignature, MinisignSigner, SignerError, DIGEST_LEN,
};

/// A signer that holds its key like a remote keystore would: only
/// through the trait.
struct Remote {
    key: SigningKey,
    answer_with: Option<SigningKey>,
    fail: bool,
}

impl MinisignSigner for Remote {
    fn key_id(&self) -> MinisignKeyId {
        MinisignKeyId::from_kid(&keymint::kid::ed25519_kid(&self.key.verifying_key()))
    }
    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    fn sign_digest(&self, d: &[u8; DIGEST_LEN]) -> Result<Signature, SignerError> {
        self.sign_message(d)
    }
    fn sign_message(&self, msg: &[u8]) -> Result<Signature, SignerError> {
        if self.fail {
            return Err(SignerError {
                code: ErrorCode::Ekeyrevoked,
                msg: "key app/p/n is revoked".into(),
            });
        }
        Ok(self.answer_with.as_ref().unwrap_or(&self.key).sign(msg))
    }
}

fn remote(seed: u8) -> Remote {
    Remote {
        key: SigningKey::from_bytes(&[seed; 32]),
        answer_with: None,
        fail: false,
    }
}

#[test]
fn minisign_verifies_a_digest_signed_by_a_remote_key_under_its_kid_number() {
    let tmp = tempfile::tempdir().unwrap();
    let signer = remote(3);
    // 5 MiB, hashed from a reader in pieces.
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    fs::write(tmp.path().join("big.bin"), &data).unwrap();
    let d = digest_reader(fs::File::open(tmp.path().join("big.bin")).unwrap()).unwrap();
    assert_eq!(d, digest(&data));
    let sig = MinisignSignature::sign_digest_with(&signer, &d, "big.bin\tv1", "remote").unwrap();
    fs::write(tmp.path().join("big.bin.minisig"), sig.to_text()).unwrap();
    let pk = MinisignPublicKey::new(signer.key_id(), signer.verifying_key());
    fs::write(tmp.path().join("k.pub"), pk.to_file_text()).unwrap();
    let out = run(&["-V", "-p", "k.pub", "-m", "big.bin"], tmp.path());
    assert!(out.status.success(), "minisign -V: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Trusted comment: big.bin\tv1"));
    // The key number is the kid's first 8 bytes, as minisign shows it.
    let kid = keymint::kid::ed25519_kid(&signer.verifying_key());
    assert_eq!(
        signer.key_id().as_bytes()[..],
        kid.as_bytes()[..8],
        "key number"
    );
    // A changed file fails.
    fs::write(tmp.path().join("big.bin"), b"another file").unwrap();
    let out = run(&["-V", "-p", "k.pub", "-m", "big.bin"], tmp.path());
    assert!(!out.status.success());
}

#[test]
fn test_reject_a_signer_that_signs_with_another_key_or_fails() {
    let mut liar = remote(3);
    liar.answer_with = Some(SigningKey::from_bytes(&[4; 32]));
    let e = MinisignSignature::sign_digest_with(&liar, &digest(b"m"), "t", "u").unwrap_err();
    assert_eq!(e, MinisignError::SignerMismatch);
    assert_eq!(e.code(), ErrorCode::Eio);
    let mut refusing = remote(3);
    refusing.fail = true;
    let e = MinisignSignature::sign_digest_with(&refusing, &digest(b"m"), "t", "u").unwrap_err();
    assert_eq!(e.code(), ErrorCode::Ekeyrevoked);
    assert!(e.to_string().contains("revoked"), "{e}");
}

/// `minisign -G` with `password`: the encrypted key file's bytes and the
/// public key.
pub fn encrypted_keypair(password: &str) -> (Vec<u8>, MinisignPublicKey) {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(minisign())
        .args(["-G", "-p", "e.pub", "-s", "e.key"])
        .current_dir(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n{password}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "minisign -G");
    let pk = MinisignPublicKey::parse(&fs::read(tmp.path().join("e.pub")).unwrap()).unwrap();
    (fs::read(tmp.path().join("e.key")).unwrap(), pk)
}

#[test]
fn encrypted_minisign_key_opens_with_its_password_only() {
    let (file, pk) = encrypted_keypair("correct horse");
    assert!(MinisignSecretKey::is_encrypted(&file).unwrap());
    assert_eq!(
        MinisignSecretKey::parse(&file).err(),
        Some(MinisignError::EncryptedSecretKey)
    );
    let sk = MinisignSecretKey::parse_with_password(&file, b"correct horse").unwrap();
    assert_eq!(sk.public_key(), pk, "same key and key number");
    let e = MinisignSecretKey::parse_with_password(&file, b"wrong horse")
        .err()
        .unwrap();
    assert_eq!(e, MinisignError::WrongPassword);
    assert_eq!(e.code(), ErrorCode::Eperm);
    // An unencrypted key reads the same with or without a password.
    let plain = MinisignSecretKey::generate().unwrap();
    let text = plain.to_file_text();
    assert!(!MinisignSecretKey::is_encrypted(text.as_bytes()).unwrap());
    let again = MinisignSecretKey::parse_with_password(text.as_bytes(), b"ignored").unwrap();
    assert_eq!(again.public_key(), plain.public_key());
    assert_eq!(again.expose_secret_seed(), plain.expose_secret_seed());
}
