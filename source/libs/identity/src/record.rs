//! The user record at `state:/identity/<userId>/user`.
//!
//! statefs envelope, magic `NXUR`, version 1; payload (big-endian):
//!
//! ```text
//! user_len u8 | user | m_kib u32 | t u32 | p u32 | salt[16]
//! | verifier_hash[32] | created_at u64 | wrapped_len u16 | wrapped vault key
//! ```
//!
//! Invariants: the user id inside must equal the directory it sits in (a
//! record copied to another user's folder is `EIO`); the KDF parameters
//! must be within this build's bounds; nothing may follow the last field.

use crate::codec::Reader;
use crate::error::IdentityError;
use crate::kdf::{KdfParams, SALT_LEN};
use keymint::WrappedVaultKey;
use nexus_core::UserId;
use statefs::{StateFs, StatePath};

const MAGIC: &[u8; 4] = b"NXUR";
const VERSION: u16 = 1;
/// Upper bound on a stored wrapped vault key (keymint's is 74 bytes).
const MAX_WRAPPED: usize = 1024;

/// `state:/identity/<user>`: everything the user owns.
pub fn user_dir(user: &UserId) -> Result<StatePath, IdentityError> {
    Ok(StatePath::from_segments(["identity", user.as_str()]).map_err(statefs::StateError::from)?)
}

/// `state:/identity/<user>/user`.
pub fn user_record_path(user: &UserId) -> Result<StatePath, IdentityError> {
    Ok(user_dir(user)?
        .join("user")
        .map_err(statefs::StateError::from)?)
}

/// A decoded user record. Holds no secret: the verifier is hashed and the
/// vault key is wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRecord {
    pub(crate) user: UserId,
    pub(crate) kdf: KdfParams,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) verifier_hash: [u8; 32],
    pub(crate) created_at: u64,
    pub(crate) wrapped: WrappedVaultKey,
}

impl UserRecord {
    pub(crate) fn encode(&self) -> Result<Vec<u8>, IdentityError> {
        let user = self.user.as_str().as_bytes();
        let wrapped = self.wrapped.as_bytes();
        let user_len = u8::try_from(user.len()).map_err(|_| IdentityError::Invalid("user id"))?;
        let wrapped_len = u16::try_from(wrapped.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_WRAPPED)
            .ok_or(IdentityError::Invalid("wrapped vault key is too long"))?;
        let mut out =
            Vec::with_capacity(1 + user.len() + 12 + SALT_LEN + 32 + 8 + 2 + wrapped.len());
        out.push(user_len);
        out.extend_from_slice(user);
        out.extend_from_slice(&self.kdf.m_kib.to_be_bytes());
        out.extend_from_slice(&self.kdf.t.to_be_bytes());
        out.extend_from_slice(&self.kdf.p.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.verifier_hash);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out.extend_from_slice(&wrapped_len.to_be_bytes());
        out.extend_from_slice(wrapped);
        Ok(out)
    }

    /// Parse a payload found in `expected`'s directory.
    pub(crate) fn decode(payload: &[u8], expected: &UserId) -> Result<Self, &'static str> {
        let mut r = Reader::new(payload);
        let user_len = usize::from(r.u8()?);
        let user = std::str::from_utf8(r.take(user_len)?).map_err(|_| "user id is not UTF-8")?;
        let user = UserId::new(user).map_err(|_| "invalid user id")?;
        if &user != expected {
            return Err("record belongs to another user");
        }
        let kdf = KdfParams {
            m_kib: r.u32()?,
            t: r.u32()?,
            p: r.u32()?,
        };
        kdf.check()?;
        let salt = r.array()?;
        let verifier_hash = r.array()?;
        let created_at = r.u64()?;
        let wrapped_len = usize::from(r.u16()?);
        if wrapped_len > MAX_WRAPPED {
            return Err("wrapped vault key is too long");
        }
        let wrapped = WrappedVaultKey::from_bytes(r.take(wrapped_len)?.to_vec());
        r.finish()?;
        Ok(UserRecord {
            user,
            kdf,
            salt,
            verifier_hash,
            created_at,
            wrapped,
        })
    }

    /// Load `user`'s record; `None` if the user does not exist.
    pub(crate) fn load(state: &StateFs, user: &UserId) -> Result<Option<Self>, IdentityError> {
        let path = user_record_path(user)?;
        let Some((_, payload)) = state.read_record(&path, MAGIC, &[VERSION])? else {
            return Ok(None);
        };
        UserRecord::decode(&payload, user)
            .map(Some)
            .map_err(|reason| IdentityError::Corrupt {
                path: path.to_string(),
                reason,
            })
    }

    /// Write the record atomically.
    pub(crate) fn store(&self, state: &StateFs) -> Result<(), IdentityError> {
        let path = user_record_path(&self.user)?;
        state.write_record(&path, MAGIC, VERSION, &self.encode()?)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn sample() -> UserRecord {
        UserRecord {
            user: UserId::new("alice").unwrap(),
            kdf: KdfParams::INSECURE_TEST,
            salt: [3; SALT_LEN],
            verifier_hash: [4; 32],
            created_at: 1_700_000_000,
            wrapped: WrappedVaultKey::from_bytes(vec![5; 74]),
        }
    }

    #[test]
    fn round_trips_through_statefs() {
        let state = StateFs::volatile();
        let rec = sample();
        rec.store(&state).unwrap();
        assert_eq!(UserRecord::load(&state, &rec.user).unwrap(), Some(rec));
        let bob = UserId::new("bob").unwrap();
        assert_eq!(UserRecord::load(&state, &bob).unwrap(), None);
    }

    #[test]
    fn test_reject_truncated_or_trailing_user_record() {
        let rec = sample();
        let enc = rec.encode().unwrap();
        for cut in 0..enc.len() {
            assert!(
                UserRecord::decode(&enc[..cut], &rec.user).is_err(),
                "cut {cut}"
            );
        }
        let mut long = enc.clone();
        long.push(0);
        assert_eq!(UserRecord::decode(&long, &rec.user), Err("trailing bytes"));
    }

    #[test]
    fn test_reject_user_record_of_another_user_or_bad_params() {
        let rec = sample();
        let enc = rec.encode().unwrap();
        let bob = UserId::new("bob").unwrap();
        assert_eq!(
            UserRecord::decode(&enc, &bob),
            Err("record belongs to another user")
        );
        let mut huge = rec.clone();
        huge.kdf.m_kib = u32::MAX;
        let enc = huge.encode().unwrap();
        assert!(UserRecord::decode(&enc, &rec.user).is_err());
        let mut bad_id = rec.encode().unwrap();
        bad_id[1] = b'/';
        assert_eq!(
            UserRecord::decode(&bad_id, &rec.user),
            Err("invalid user id")
        );
    }

    #[test]
    fn test_reject_user_record_envelope_damage_with_eio() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFs::open(dir.path()).unwrap();
        let rec = sample();
        let path = user_record_path(&rec.user).unwrap();
        // Wrong version with an intact checksum.
        state
            .write_record(&path, MAGIC, 2, &rec.encode().unwrap())
            .unwrap();
        let e = UserRecord::load(&state, &rec.user).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Eio);
        // Wrong magic.
        state
            .write_record(&path, b"NXTH", VERSION, &rec.encode().unwrap())
            .unwrap();
        assert_eq!(
            UserRecord::load(&state, &rec.user).unwrap_err().code(),
            ErrorCode::Eio
        );
        // Valid envelope around a truncated payload.
        state
            .write_record(&path, MAGIC, VERSION, &[5, b'a'])
            .unwrap();
        assert_eq!(
            UserRecord::load(&state, &rec.user).unwrap_err().code(),
            ErrorCode::Eio
        );
        // Every flipped byte of a good file.
        rec.store(&state).unwrap();
        let host = state.host_path(&path).unwrap();
        let good = std::fs::read(&host).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&host, &bad).unwrap();
            let e = UserRecord::load(&state, &rec.user).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Eio, "flip {i}");
        }
    }
}
