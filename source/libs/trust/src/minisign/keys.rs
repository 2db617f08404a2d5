//! minisign public and secret keys (unencrypted; encrypted ones with the
//! `encrypted-keys` feature, see `encrypted.rs`).
//!
//! Invariants: a [`MinisignPublicKey`] holds a canonical, non-weak Ed25519
//! key; a [`MinisignSecretKey`] holds a seed whose public half matches the
//! one in its file, has no Debug or Clone, and is zeroized on drop (the
//! `ed25519-dalek` signing key zeroizes itself; every intermediate buffer
//! here is `Zeroizing`).

use super::{
    comment, decode_len, encode, lines, MinisignError, MAX_UNTRUSTED_COMMENT, UNTRUSTED_PREFIX,
};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

const SIG_ALG: &[u8; 2] = b"Ed";
const KDF_NONE: &[u8; 2] = b"\0\0";
const KDF_SCRYPT: &[u8; 2] = b"Sc";
const CHK_ALG: &[u8; 2] = b"B2";
const PUBLIC_LEN: usize = 2 + 8 + 32;
const SECRET_LEN: usize = 2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32;
// Offsets inside the secret key structure.
pub(super) const SALT_AT: usize = 6;
pub(super) const OPS_AT: usize = SALT_AT + 32;
pub(super) const MEM_AT: usize = OPS_AT + 8;
pub(super) const KEYNUM_AT: usize = MEM_AT + 8;
const SEED_AT: usize = KEYNUM_AT + 8;
const PK_AT: usize = SEED_AT + 32;
const CHK_AT: usize = PK_AT + 32;

/// minisign's 8-byte key number, which a signature carries to say which key
/// made it. It only selects among keys the verifier already trusts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MinisignKeyId([u8; 8]);

impl MinisignKeyId {
    /// Wrap the 8 bytes as stored in minisign files.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        MinisignKeyId(bytes)
    }

    /// The 8 bytes as stored in minisign files.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// 16 uppercase hex digits of the little-endian number, as minisign
    /// prints it (`minisign public key 3B6A5A5F54BE79A5`), zero-padded.
    pub fn to_hex(&self) -> String {
        format!("{:016X}", u64::from_le_bytes(self.0))
    }

    /// The key number of a key that has no minisign key number of its own
    /// (a keystore key): the first 8 bytes of its RFC 9679 kid. Stable for
    /// the key, so its exported public key and its signatures agree.
    pub fn from_kid(kid: &keymint::kid::Kid) -> Self {
        let mut id = [0u8; 8];
        id.copy_from_slice(&kid.as_bytes()[..8]);
        MinisignKeyId(id)
    }

    /// Parse exactly 16 hex digits (either case), as [`to_hex`](Self::to_hex) writes.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16)
            .ok()
            .map(|n| MinisignKeyId(n.to_le_bytes()))
    }
}

impl fmt::Display for MinisignKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for MinisignKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MinisignKeyId({})", self.to_hex())
    }
}

/// A minisign public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinisignPublicKey {
    key_id: MinisignKeyId,
    key: VerifyingKey,
}

impl MinisignPublicKey {
    /// Parse a public key file (`untrusted comment:` line, then the key) or
    /// the bare base64 line that `minisign -P` takes.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        let ls = lines(bytes)?;
        let b64 = match ls.as_slice() {
            [c, k] => {
                comment(c, UNTRUSTED_PREFIX, MAX_UNTRUSTED_COMMENT)?;
                *k
            }
            [k] => *k,
            _ => return Err(MinisignError::Layout),
        };
        let raw = decode_len(b64, PUBLIC_LEN)?;
        if &raw[..2] != SIG_ALG {
            return Err(MinisignError::UnsupportedAlgorithm);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[2..10]);
        let key = keymint::ed25519::parse_public_key(&raw[10..])?;
        Ok(MinisignPublicKey {
            key_id: MinisignKeyId(id),
            key,
        })
    }

    /// Pair a key with its minisign key number.
    pub fn new(key_id: MinisignKeyId, key: VerifyingKey) -> Self {
        MinisignPublicKey { key_id, key }
    }

    /// The key number.
    pub fn key_id(&self) -> MinisignKeyId {
        self.key_id
    }

    /// The Ed25519 key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The base64 line (what `minisign -P` takes).
    pub fn to_base64(&self) -> String {
        let mut raw = Vec::with_capacity(PUBLIC_LEN);
        raw.extend_from_slice(SIG_ALG);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.key.as_bytes());
        encode(&raw)
    }

    /// A public key file as `minisign -G` writes it.
    pub fn to_file_text(&self) -> String {
        format!(
            "{UNTRUSTED_PREFIX}minisign public key {}\n{}\n",
            self.key_id,
            self.to_base64()
        )
    }
}

/// A secret key file's decoded structure (zeroized on drop).
struct RawSecretKey {
    bytes: Zeroizing<Vec<u8>>,
    encrypted: bool,
}

/// A minisign secret key (read from an unencrypted file, or from an
/// encrypted one with its password). No Debug, no Clone; zeroized on drop.
pub struct MinisignSecretKey {
    key_id: MinisignKeyId,
    signing: SigningKey,
}

fn checksum(key_id: &[u8], seed: &[u8], pk: &[u8]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    h.update(SIG_ALG);
    h.update(key_id);
    h.update(seed);
    h.update(pk);
    h.finalize().into()
}

impl MinisignSecretKey {
    /// Parse a secret key file as `minisign -G -W` writes it. Encrypted
    /// keys are refused with [`MinisignError::EncryptedSecretKey`]. The
    /// caller should zeroize `bytes` after this returns.
    ///
    /// minisign up to 0.11 writes an all-zero checksum for unencrypted
    /// keys; such a key is accepted because the seed must still reproduce
    /// the embedded public key. Any other checksum must match.
    pub fn parse(bytes: &[u8]) -> Result<Self, MinisignError> {
        let raw = Self::raw(bytes)?;
        if raw.encrypted {
            return Err(MinisignError::EncryptedSecretKey);
        }
        Self::from_raw(&raw.bytes, false)
    }

    /// Whether `bytes` is a password-encrypted secret key (kdf `Sc`);
    /// malformed files are errors, as for [`parse`](Self::parse).
    pub fn is_encrypted(bytes: &[u8]) -> Result<bool, MinisignError> {
        Ok(Self::raw(bytes)?.encrypted)
    }

    /// Parse a secret key file: an encrypted one (`minisign -G`) opened
    /// with `password`, or an unencrypted one (the password is then not
    /// used). A wrong password is [`MinisignError::WrongPassword`].
    #[cfg(feature = "encrypted-keys")]
    pub fn parse_with_password(bytes: &[u8], password: &[u8]) -> Result<Self, MinisignError> {
        let mut raw = Self::raw(bytes)?;
        if !raw.encrypted {
            return Self::from_raw(&raw.bytes, false);
        }
        super::encrypted::decrypt(&mut raw.bytes, password)?;
        Self::from_raw(&raw.bytes, true)
    }

    /// The file's decoded key structure, its fields checked but not the
    /// key material.
    fn raw(bytes: &[u8]) -> Result<RawSecretKey, MinisignError> {
        let ls = lines(bytes)?;
        let [c, b64] = ls.as_slice() else {
            return Err(MinisignError::Layout);
        };
        comment(c, UNTRUSTED_PREFIX, MAX_UNTRUSTED_COMMENT)?;
        let raw = decode_len(b64, SECRET_LEN)?;
        if &raw[0..2] != SIG_ALG {
            return Err(MinisignError::UnsupportedAlgorithm);
        }
        let encrypted = match &raw[2..4] {
            k if k == KDF_SCRYPT => true,
            k if k == KDF_NONE => false,
            _ => return Err(MinisignError::UnsupportedKeyFormat),
        };
        if &raw[4..6] != CHK_ALG {
            return Err(MinisignError::UnsupportedKeyFormat);
        }
        Ok(RawSecretKey {
            bytes: raw,
            encrypted,
        })
    }

    /// The key in a decoded (decrypted) structure. A key that was
    /// encrypted must carry its checksum: with a wrong password it does
    /// not match.
    fn from_raw(raw: &[u8], was_encrypted: bool) -> Result<Self, MinisignError> {
        let key_id = &raw[KEYNUM_AT..SEED_AT];
        let seed = &raw[SEED_AT..PK_AT];
        let pk = &raw[PK_AT..CHK_AT];
        let stored = &raw[CHK_AT..];
        let unset = stored.iter().all(|&b| b == 0) && !was_encrypted;
        let expected = Zeroizing::new(checksum(key_id, seed, pk));
        if !unset && !bool::from(stored.ct_eq(expected.as_slice())) {
            return Err(if was_encrypted {
                MinisignError::WrongPassword
            } else {
                MinisignError::DamagedSecretKey
            });
        }
        let mut seed_arr = Zeroizing::new([0u8; 32]);
        seed_arr.copy_from_slice(seed);
        let signing = SigningKey::from_bytes(&seed_arr);
        if signing.verifying_key().as_bytes().as_slice() != pk {
            return Err(MinisignError::DamagedSecretKey);
        }
        // The embedded public key must itself be acceptable to verifiers.
        keymint::ed25519::parse_public_key(pk)?;
        let mut id = [0u8; 8];
        id.copy_from_slice(key_id);
        Ok(MinisignSecretKey {
            key_id: MinisignKeyId(id),
            signing,
        })
    }

    /// A new key from the OS random number generator.
    pub fn generate() -> Result<Self, MinisignError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut id = [0u8; 8];
        getrandom::getrandom(seed.as_mut_slice()).map_err(|_| MinisignError::Rng)?;
        getrandom::getrandom(&mut id).map_err(|_| MinisignError::Rng)?;
        Ok(MinisignSecretKey {
            key_id: MinisignKeyId(id),
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The key number.
    pub fn key_id(&self) -> MinisignKeyId {
        self.key_id
    }

    /// The matching public key.
    pub fn public_key(&self) -> MinisignPublicKey {
        MinisignPublicKey {
            key_id: self.key_id,
            key: self.signing.verifying_key(),
        }
    }

    /// The key as an unencrypted secret key file (`minisign -G -W`
    /// layout, with the checksum filled in). Handle like the key itself.
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(SECRET_LEN));
        raw.extend_from_slice(SIG_ALG);
        raw.extend_from_slice(KDF_NONE);
        raw.extend_from_slice(CHK_ALG);
        raw.extend_from_slice(&[0u8; 48]);
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(self.signing.as_bytes());
        raw.extend_from_slice(self.signing.verifying_key().as_bytes());
        let chk = checksum(
            &self.key_id.0,
            self.signing.as_bytes(),
            self.signing.verifying_key().as_bytes(),
        );
        raw.extend_from_slice(&chk);
        let b64 = Zeroizing::new(encode(&raw));
        Zeroizing::new(format!(
            "{UNTRUSTED_PREFIX}minisign secret key (unencrypted)\n{}\n",
            b64.as_str()
        ))
    }

    pub(crate) fn sign_raw(&self, msg: &[u8]) -> Signature {
        self.signing.sign(msg)
    }

    /// The 32-byte Ed25519 seed, for the one use that needs it: handing
    /// the key to the keystore (`key.import`), which wraps it at once.
    /// Never log, compare or store it.
    pub fn expose_secret_seed(&self) -> &[u8; 32] {
        self.signing.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_raw(sk: &MinisignSecretKey) -> Vec<u8> {
        let text = sk.to_file_text();
        let line = text.lines().nth(1).unwrap();
        decode_len(line, SECRET_LEN).unwrap().to_vec()
    }

    fn file(raw: &[u8]) -> Vec<u8> {
        format!("untrusted comment: k\n{}\n", encode(raw)).into_bytes()
    }

    #[test]
    fn key_id_hex_matches_minisign_display() {
        // minisign prints le64_load(keynum) with %PRIX64.
        let id = MinisignKeyId::from_bytes([0xa5, 0x79, 0xbe, 0x54, 0x5f, 0x5a, 0x6a, 0x3b]);
        assert_eq!(id.to_hex(), "3B6A5A5F54BE79A5");
        assert_eq!(MinisignKeyId::from_hex("3b6a5a5f54be79a5"), Some(id));
        let small = MinisignKeyId::from_bytes([1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(small.to_hex(), "0000000000000001");
        for bad in [
            "",
            "3B6A5A5F54BE79A",
            "3B6A5A5F54BE79A50",
            "+B6A5A5F54BE79A5",
            "3B6A5A5F54BE79AZ",
        ] {
            assert_eq!(MinisignKeyId::from_hex(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn keys_round_trip_through_files() {
        let sk = MinisignSecretKey::generate().unwrap();
        let again = MinisignSecretKey::parse(sk.to_file_text().as_bytes()).unwrap();
        assert_eq!(again.public_key(), sk.public_key());
        let pk = sk.public_key();
        assert_eq!(
            MinisignPublicKey::parse(pk.to_file_text().as_bytes()).unwrap(),
            pk
        );
        assert_eq!(
            MinisignPublicKey::parse(pk.to_base64().as_bytes()).unwrap(),
            pk
        );
        // A zero checksum (minisign 0.11 -W) is accepted.
        let mut raw = secret_raw(&sk);
        raw[CHK_AT..].fill(0);
        assert!(MinisignSecretKey::parse(&file(&raw)).is_ok());
    }

    #[test]
    fn test_reject_malformed_public_keys() {
        let pk = MinisignSecretKey::generate().unwrap().public_key();
        let text = pk.to_file_text();
        let b64 = pk.to_base64();
        let cases: Vec<(Vec<u8>, MinisignError)> = vec![
            (
                b"".to_vec(),
                MinisignError::WrongLength {
                    expected: 42,
                    found: 0,
                },
            ),
            // A single line is taken as the bare base64 form.
            (text.as_bytes()[..30].to_vec(), MinisignError::BadBase64),
            (format!("{text}extra\n").into_bytes(), MinisignError::Layout),
            (
                format!("comment: x\n{b64}\n").into_bytes(),
                MinisignError::Layout,
            ),
            (
                format!("untrusted comment: x\n{}\n", &b64[..40]).into_bytes(),
                MinisignError::WrongLength {
                    expected: 42,
                    found: 30,
                },
            ),
            (
                format!("untrusted comment: x\n{}!\n", &b64[..55]).into_bytes(),
                MinisignError::BadBase64,
            ),
            (
                format!("untrusted comment: x\n{}\n", encode(&[0u8; 41])).into_bytes(),
                MinisignError::WrongLength {
                    expected: 42,
                    found: 41,
                },
            ),
            (
                format!("untrusted comment: x\n{}\n", encode(&[0u8; 43])).into_bytes(),
                MinisignError::WrongLength {
                    expected: 42,
                    found: 43,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                MinisignPublicKey::parse(&input),
                Err(want.clone()),
                "{want:?}"
            );
            assert_eq!(
                nexus_core::Coded::code(&want),
                nexus_core::ErrorCode::Einval
            );
        }
        let mut raw = vec![b'E', b'd'];
        raw.extend_from_slice(&[7u8; 8]);
        let mut weak = [0u8; 32];
        weak[0] = 1;
        raw.extend_from_slice(&weak);
        assert_eq!(
            MinisignPublicKey::parse(encode(&raw).as_bytes()),
            Err(MinisignError::BadPublicKey(
                keymint::ed25519::PublicKeyError::Weak
            ))
        );
        raw[1] = b'D';
        assert_eq!(
            MinisignPublicKey::parse(encode(&raw).as_bytes()),
            Err(MinisignError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn test_reject_malformed_secret_keys() {
        let sk = MinisignSecretKey::generate().unwrap();
        let raw = secret_raw(&sk);
        let with = |at: usize, b: &[u8]| {
            let mut r = raw.clone();
            r[at..at + b.len()].copy_from_slice(b);
            file(&r)
        };
        let cases: Vec<(Vec<u8>, MinisignError)> = vec![
            (with(0, b"ED"), MinisignError::UnsupportedAlgorithm),
            (with(2, b"Sc"), MinisignError::EncryptedSecretKey),
            (with(2, b"Ar"), MinisignError::UnsupportedKeyFormat),
            (with(4, b"B3"), MinisignError::UnsupportedKeyFormat),
            (with(CHK_AT, &[1]), MinisignError::DamagedSecretKey),
            (
                with(SEED_AT, &[raw[SEED_AT] ^ 1]),
                MinisignError::DamagedSecretKey,
            ),
            (
                with(PK_AT, &[raw[PK_AT] ^ 1]),
                MinisignError::DamagedSecretKey,
            ),
            (
                with(KEYNUM_AT, &[raw[KEYNUM_AT] ^ 1]),
                MinisignError::DamagedSecretKey,
            ),
            (
                file(&raw[..SECRET_LEN - 1]),
                MinisignError::WrongLength {
                    expected: SECRET_LEN,
                    found: SECRET_LEN - 1,
                },
            ),
            (encode(&raw).into_bytes(), MinisignError::Layout),
            (
                b"untrusted comment: k\n@@@@\n".to_vec(),
                MinisignError::BadBase64,
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                MinisignSecretKey::parse(&input).err(),
                Some(want.clone()),
                "{want:?}"
            );
        }
        // With the checksum zeroed, a damaged seed is still caught.
        let mut r = raw.clone();
        r[CHK_AT..].fill(0);
        r[SEED_AT] ^= 1;
        assert_eq!(
            MinisignSecretKey::parse(&file(&r)).err(),
            Some(MinisignError::DamagedSecretKey)
        );
        // Every truncation of the file fails.
        let text = sk.to_file_text();
        for cut in 0..text.len() - 1 {
            assert!(
                MinisignSecretKey::parse(&text.as_bytes()[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn encrypted_error_says_what_to_do() {
        let msg = MinisignError::EncryptedSecretKey.to_string();
        assert!(
            msg.contains("encrypted") && msg.contains("minisign -C -W"),
            "{msg}"
        );
    }
}
