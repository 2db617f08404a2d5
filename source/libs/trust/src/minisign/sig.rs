//! minisign signatures (prehashed `ED` only).
//!
//! Invariants: a parsed [`MinisignSignature`] has the `ED` algorithm and
//! comments that are single printable lines within minisign's limits.
//! Parsing never verifies and verifying never chooses the key: the caller
//! supplies it from its trust store.

use super::keys::{MinisignKeyId, MinisignSecretKey};
use super::signer::{MinisignSigner, DIGEST_LEN};
use super::{
    check_comment, comment, decode_len, encode, lines, MinisignError, MAX_TRUSTED_COMMENT,
    MAX_UNTRUSTED_COMMENT, TRUSTED_PREFIX, UNTRUSTED_PREFIX,
};
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, VerifyingKey};
use keymint::ed25519::BadSignature;

const SIG_ALG_HASHED: &[u8; 2] = b"ED";
const SIG_ALG_LEGACY: &[u8; 2] = b"Ed";
const SIG_LINE_LEN: usize = 2 + 8 + 64;

/// A minisign signature file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignSignature {
    key_id: MinisignKeyId,
    signature: Signature,
    untrusted_comment: String,
    trusted_comment: String,
    global_signature: Signature,
}

/// `sig || trusted comment`: what the global signature covers.
fn global_message(sig: &Signature, trusted_comment: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + trusted_comment.len());
    m.extend_from_slice(&sig.to_bytes());
    m.extend_from_slice(trusted_comment.as_bytes());
    m
}

impl MinisignSignature {
    /// Parse a `.minisig` file.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        let ls = lines(bytes)?;
        let [c1, s1, c2, s2] = ls.as_slice() else {
            return Err(MinisignError::Layout);
        };
        let untrusted = comment(c1, UNTRUSTED_PREFIX, MAX_UNTRUSTED_COMMENT)?;
        let raw = decode_len(s1, SIG_LINE_LEN)?;
        match &raw[..2] {
            a if a == SIG_ALG_HASHED => {}
            a if a == SIG_ALG_LEGACY => return Err(MinisignError::LegacySignature),
            _ => return Err(MinisignError::UnsupportedAlgorithm),
        }
        let trusted = comment(c2, TRUSTED_PREFIX, MAX_TRUSTED_COMMENT)?;
        let global = decode_len(s2, 64)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[2..10]);
        let signature = keymint::ed25519::parse_signature(&raw[10..]).map_err(|_| {
            MinisignError::WrongLength {
                expected: 64,
                found: raw.len() - 10,
            }
        })?;
        let global_signature =
            keymint::ed25519::parse_signature(&global).map_err(|_| MinisignError::WrongLength {
                expected: 64,
                found: global.len(),
            })?;
        Ok(MinisignSignature {
            key_id: MinisignKeyId::from_bytes(id),
            signature,
            untrusted_comment: untrusted.to_owned(),
            trusted_comment: trusted.to_owned(),
            global_signature,
        })
    }

    /// Sign `msg` the way `minisign -S` does (prehashed), with a signed
    /// trusted comment and an unsigned one.
    pub fn sign(
        key: &MinisignSecretKey,
        msg: &[u8],
        trusted_comment: &str,
        untrusted_comment: &str,
    ) -> Result<Self, MinisignError> {
        let digest: [u8; DIGEST_LEN] = Blake2b512::digest(msg).into();
        Self::sign_digest_with(key, &digest, trusted_comment, untrusted_comment)
    }

    /// Sign a message whose BLAKE2b-512 `digest` the caller computed (a
    /// file of any size), with any [`MinisignSigner`]. Both signatures
    /// are checked against the signer's public key before returning
    /// ([`MinisignError::SignerMismatch`] otherwise).
    pub fn sign_digest_with(
        signer: &dyn MinisignSigner,
        digest: &[u8; DIGEST_LEN],
        trusted_comment: &str,
        untrusted_comment: &str,
    ) -> Result<Self, MinisignError> {
        check_comment(trusted_comment, MAX_TRUSTED_COMMENT)?;
        check_comment(untrusted_comment, MAX_UNTRUSTED_COMMENT)?;
        let signature = signer.sign_digest(digest)?;
        let global_signature = signer.sign_message(&global_message(&signature, trusted_comment))?;
        let out = MinisignSignature {
            key_id: signer.key_id(),
            signature,
            untrusted_comment: untrusted_comment.to_owned(),
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        };
        let vk = signer.verifying_key();
        out.verify_digest(&vk, digest)
            .map_err(|_| MinisignError::SignerMismatch)?;
        Ok(out)
    }

    /// The `.minisig` file text.
    pub fn to_text(&self) -> String {
        let mut line = Vec::with_capacity(SIG_LINE_LEN);
        line.extend_from_slice(SIG_ALG_HASHED);
        line.extend_from_slice(self.key_id.as_bytes());
        line.extend_from_slice(&self.signature.to_bytes());
        format!(
            "{UNTRUSTED_PREFIX}{}\n{}\n{TRUSTED_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            encode(&line),
            self.trusted_comment,
            encode(&self.global_signature.to_bytes())
        )
    }

    /// The key number the signer claims. Only a hint for choosing among
    /// trusted keys.
    pub fn key_id(&self) -> MinisignKeyId {
        self.key_id
    }

    /// The trusted comment. Only meaningful once [`verify`](Self::verify)
    /// has succeeded.
    pub fn trusted_comment(&self) -> &str {
        &self.trusted_comment
    }

    /// The untrusted comment (anyone can change it).
    pub fn untrusted_comment(&self) -> &str {
        &self.untrusted_comment
    }

    /// Whether `key` made the signature over `msg` (not the comment).
    pub(crate) fn verify_message(
        &self,
        key: &VerifyingKey,
        msg: &[u8],
    ) -> Result<(), BadSignature> {
        keymint::ed25519::verify(key, &Blake2b512::digest(msg), &self.signature)
    }

    /// Whether `key` signed the trusted comment (bound to this signature).
    pub(crate) fn verify_trusted_comment(&self, key: &VerifyingKey) -> Result<(), BadSignature> {
        keymint::ed25519::verify(
            key,
            &global_message(&self.signature, &self.trusted_comment),
            &self.global_signature,
        )
    }

    /// Both checks `minisign -V` makes: the message signature and the
    /// trusted-comment signature, with `key`.
    pub fn verify(&self, key: &VerifyingKey, msg: &[u8]) -> Result<(), BadSignature> {
        self.verify_message(key, msg)?;
        self.verify_trusted_comment(key)
    }

    /// [`verify`](Self::verify) for a message given by its BLAKE2b-512
    /// digest.
    pub fn verify_digest(
        &self,
        key: &VerifyingKey,
        digest: &[u8; DIGEST_LEN],
    ) -> Result<(), BadSignature> {
        keymint::ed25519::verify(key, digest, &self.signature)?;
        self.verify_trusted_comment(key)
    }

    /// The message signature (Ed25519 over BLAKE2b-512 of the message),
    /// for a verifier that checks it elsewhere (`key.verify` with a
    /// prehash).
    pub fn message_signature(&self) -> [u8; 64] {
        self.signature.to_bytes()
    }

    /// The global signature and what it signs (`signature || trusted
    /// comment`), for a verifier that checks it elsewhere.
    pub fn global_signature(&self) -> ([u8; 64], Vec<u8>) {
        (
            self.global_signature.to_bytes(),
            global_message(&self.signature, &self.trusted_comment),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> (MinisignSecretKey, MinisignSignature) {
        let sk = MinisignSecretKey::generate().unwrap();
        let sig = MinisignSignature::sign(&sk, b"manifest", "timestamp:1\tfile:m", "u").unwrap();
        (sk, sig)
    }

    #[test]
    fn signs_parses_and_verifies() {
        let (sk, sig) = signed();
        let pk = sk.public_key();
        let again = MinisignSignature::parse(sig.to_text().as_bytes()).unwrap();
        assert_eq!(again, sig);
        assert_eq!(again.key_id(), sk.key_id());
        assert_eq!(again.trusted_comment(), "timestamp:1\tfile:m");
        assert!(again.verify(pk.verifying_key(), b"manifest").is_ok());
        assert!(again.verify(pk.verifying_key(), b"manifesT").is_err());
        let other = MinisignSecretKey::generate().unwrap().public_key();
        assert!(again.verify(other.verifying_key(), b"manifest").is_err());
    }

    #[test]
    fn test_reject_tampered_trusted_comment() {
        let (sk, sig) = signed();
        let text = sig.to_text().replace("timestamp:1", "timestamp:2");
        let forged = MinisignSignature::parse(text.as_bytes()).unwrap();
        assert!(forged
            .verify_message(sk.public_key().verifying_key(), b"manifest")
            .is_ok());
        assert_eq!(
            forged.verify(sk.public_key().verifying_key(), b"manifest"),
            Err(BadSignature)
        );
    }

    #[test]
    fn test_reject_malformed_signatures() {
        let (_, sig) = signed();
        let text = sig.to_text();
        let ls: Vec<&str> = text.lines().collect();
        let raw = decode_len(ls[1], SIG_LINE_LEN).unwrap();
        let with_alg = |alg: &[u8]| {
            let mut r = raw.to_vec();
            r[..2].copy_from_slice(alg);
            format!("{}\n{}\n{}\n{}\n", ls[0], encode(&r), ls[2], ls[3])
        };
        let cases: Vec<(String, MinisignError)> = vec![
            (String::new(), MinisignError::Layout),
            (ls[..3].join("\n"), MinisignError::Layout),
            (format!("{text}\n"), MinisignError::Layout),
            (
                text.replacen("untrusted comment: ", "comment: ", 1),
                MinisignError::Layout,
            ),
            (
                text.replacen("trusted comment: ", "trusted: ", 1),
                MinisignError::Layout,
            ),
            (with_alg(b"Ed"), MinisignError::LegacySignature),
            (with_alg(b"EC"), MinisignError::UnsupportedAlgorithm),
            (
                format!("{}\n{}\n{}\n{}", ls[0], &ls[1][..20], ls[2], ls[3]),
                MinisignError::WrongLength {
                    expected: 74,
                    found: 15,
                },
            ),
            (
                format!("{}\n{}=\n{}\n{}", ls[0], ls[1], ls[2], ls[3]),
                MinisignError::BadBase64,
            ),
            (
                format!("{}\n{}\n{}\n{}", ls[0], ls[1], ls[2], encode(&[0u8; 63])),
                MinisignError::WrongLength {
                    expected: 64,
                    found: 63,
                },
            ),
            (
                format!("{}\n{}\n{}\u{1b}\n{}", ls[0], ls[1], ls[2], ls[3]),
                MinisignError::BadComment,
            ),
            (
                format!(
                    "{}\n{}\ntrusted comment: {}\n{}",
                    ls[0],
                    ls[1],
                    "x".repeat(MAX_TRUSTED_COMMENT + 1),
                    ls[3]
                ),
                MinisignError::BadComment,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                MinisignSignature::parse(input.as_bytes()),
                Err(want.clone()),
                "{want:?}"
            );
        }
        for cut in 0..text.len() - 1 {
            assert!(
                MinisignSignature::parse(&text.as_bytes()[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn test_reject_comments_minisign_cannot_carry() {
        let sk = MinisignSecretKey::generate().unwrap();
        for bad in ["a\nb", "a\rb", "\0"] {
            assert_eq!(
                MinisignSignature::sign(&sk, b"m", bad, "u").err(),
                Some(MinisignError::BadComment)
            );
            assert_eq!(
                MinisignSignature::sign(&sk, b"m", "t", bad).err(),
                Some(MinisignError::BadComment)
            );
        }
    }
}
