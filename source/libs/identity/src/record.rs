//! The user record at `state:/identity/<user>/user`: the name's current
//! instance and its credential.
//!
//! statefs envelope, magic `NXUR`, version 2; payload (big-endian):
//!
//! ```text
//! user_len u8 | user | instance[16] | flags u8 | verifier_kind u8
//! | verifier[32] | m_kib u32 | t u32 | p u32 | salt[16] | created_at u64
//! | wrapped_len u16 | wrapped vault key
//! ```
//!
//! `flags`: bit 0 `legacy` (the instance was upgraded from a record of the
//! first format: its vault may still be the name-bound file), bit 1
//! `deleting` (a deletion started and has not finished: nobody can log in,
//! the name cannot be created again); other bits must be 0.
//! `verifier_kind`: 2 = HMAC under the device's pepper (keymint), 1 =
//! SHA-256 of the verifier input (first format, upgraded at the next
//! successful check).
//!
//! Version 1 (the first format, read only) was
//! `user_len u8 | user | m_kib u32 | t u32 | p u32 | salt[16]
//! | verifier_hash[32] | created_at u64 | wrapped_len u16 | wrapped`; it is
//! upgraded to version 2 when first loaded, with a fresh instance id and
//! `legacy` set.
//!
//! Invariants: the user id inside must equal the directory it sits in (a
//! record copied to another user's folder is `EIO`); the KDF parameters
//! must be within this build's bounds; nothing may follow the last field;
//! unknown flags or verifier kinds are `EIO`.

use crate::codec::Reader;
use crate::error::IdentityError;
use crate::kdf::{KdfParams, SALT_LEN};
use keymint::{VaultOwner, WrappedVaultKey};
use nexus_core::{InstanceId, UserId};
use statefs::{StateFs, StatePath};

const MAGIC: &[u8; 4] = b"NXUR";
const VERSION: u16 = 2;
const VERSION_FIRST: u16 = 1;
/// Upper bound on a stored wrapped vault key (keymint's is 74 bytes).
const MAX_WRAPPED: usize = 1024;
const FLAG_LEGACY: u8 = 1;
const FLAG_DELETING: u8 = 2;

/// `state:/identity/<user>`: identityd's records of that name.
pub fn user_dir(user: &UserId) -> Result<StatePath, IdentityError> {
    Ok(StatePath::from_segments(["identity", user.as_str()]).map_err(statefs::StateError::from)?)
}

/// `state:/identity/<user>/user`.
pub fn user_record_path(user: &UserId) -> Result<StatePath, IdentityError> {
    Ok(user_dir(user)?
        .join("user")
        .map_err(statefs::StateError::from)?)
}

/// How the stored verifier is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verifier {
    /// SHA-256 of the verifier input (first format; no pepper).
    Sha256([u8; 32]),
    /// HMAC of the verifier input under the device's pepper.
    Mac([u8; 32]),
}

impl Verifier {
    fn kind(&self) -> u8 {
        match self {
            Verifier::Sha256(_) => 1,
            Verifier::Mac(_) => 2,
        }
    }

    fn bytes(&self) -> &[u8; 32] {
        match self {
            Verifier::Sha256(b) | Verifier::Mac(b) => b,
        }
    }
}

/// A decoded user record. Holds no secret: the verifier is a MAC (or a
/// hash) and the vault key is wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserRecord {
    pub(crate) user: UserId,
    pub(crate) instance: InstanceId,
    pub(crate) legacy: bool,
    pub(crate) deleting: bool,
    pub(crate) kdf: KdfParams,
    pub(crate) salt: [u8; SALT_LEN],
    pub(crate) verifier: Verifier,
    pub(crate) created_at: u64,
    pub(crate) wrapped: WrappedVaultKey,
}

/// A payload of either version, before the upgrade.
enum Decoded {
    Current(UserRecord),
    /// Everything but an instance id.
    First(Box<dyn FnOnce(InstanceId) -> UserRecord>),
}

impl UserRecord {
    /// The vault owner keymint and the vault know this instance as.
    pub(crate) fn owner(&self) -> VaultOwner {
        VaultOwner {
            user: self.user.clone(),
            instance: self.instance,
            legacy: self.legacy,
        }
    }

    pub(crate) fn encode(&self) -> Result<Vec<u8>, IdentityError> {
        let user = self.user.as_str().as_bytes();
        let wrapped = self.wrapped.as_bytes();
        let user_len = u8::try_from(user.len()).map_err(|_| IdentityError::Invalid("user id"))?;
        let wrapped_len = u16::try_from(wrapped.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_WRAPPED)
            .ok_or(IdentityError::Invalid("wrapped vault key is too long"))?;
        let flags = if self.legacy { FLAG_LEGACY } else { 0 }
            | if self.deleting { FLAG_DELETING } else { 0 };
        let mut out = Vec::with_capacity(
            1 + user.len() + 16 + 2 + 32 + 12 + SALT_LEN + 8 + 2 + wrapped.len(),
        );
        out.push(user_len);
        out.extend_from_slice(user);
        out.extend_from_slice(self.instance.as_bytes());
        out.push(flags);
        out.push(self.verifier.kind());
        out.extend_from_slice(self.verifier.bytes());
        out.extend_from_slice(&self.kdf.m_kib.to_be_bytes());
        out.extend_from_slice(&self.kdf.t.to_be_bytes());
        out.extend_from_slice(&self.kdf.p.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        out.extend_from_slice(&wrapped_len.to_be_bytes());
        out.extend_from_slice(wrapped);
        Ok(out)
    }

    fn user_of(r: &mut Reader<'_>, expected: &UserId) -> Result<UserId, &'static str> {
        let user_len = usize::from(r.u8()?);
        let user = std::str::from_utf8(r.take(user_len)?).map_err(|_| "user id is not UTF-8")?;
        let user = UserId::new(user).map_err(|_| "invalid user id")?;
        if &user != expected {
            return Err("record belongs to another user");
        }
        Ok(user)
    }

    fn kdf_of(r: &mut Reader<'_>) -> Result<KdfParams, &'static str> {
        let kdf = KdfParams {
            m_kib: r.u32()?,
            t: r.u32()?,
            p: r.u32()?,
        };
        kdf.check()?;
        Ok(kdf)
    }

    fn wrapped_of(r: &mut Reader<'_>) -> Result<WrappedVaultKey, &'static str> {
        let wrapped_len = usize::from(r.u16()?);
        if wrapped_len > MAX_WRAPPED {
            return Err("wrapped vault key is too long");
        }
        Ok(WrappedVaultKey::from_bytes(r.take(wrapped_len)?.to_vec()))
    }

    /// Parse a version 2 payload found in `expected`'s directory.
    pub(crate) fn decode(payload: &[u8], expected: &UserId) -> Result<Self, &'static str> {
        let mut r = Reader::new(payload);
        let user = Self::user_of(&mut r, expected)?;
        let instance = InstanceId::from_bytes(r.array()?);
        let flags = r.u8()?;
        if flags & !(FLAG_LEGACY | FLAG_DELETING) != 0 {
            return Err("unknown flags");
        }
        let verifier = match (r.u8()?, r.array()?) {
            (1, v) => Verifier::Sha256(v),
            (2, v) => Verifier::Mac(v),
            _ => return Err("unknown verifier kind"),
        };
        let kdf = Self::kdf_of(&mut r)?;
        let salt = r.array()?;
        let created_at = r.u64()?;
        let wrapped = Self::wrapped_of(&mut r)?;
        r.finish()?;
        Ok(UserRecord {
            user,
            instance,
            legacy: flags & FLAG_LEGACY != 0,
            deleting: flags & FLAG_DELETING != 0,
            kdf,
            salt,
            verifier,
            created_at,
            wrapped,
        })
    }

    /// Parse a version 1 payload: everything but the instance id it gets
    /// when it is upgraded.
    fn decode_first(payload: &[u8], expected: &UserId) -> Result<Decoded, &'static str> {
        let mut r = Reader::new(payload);
        let user = Self::user_of(&mut r, expected)?;
        let kdf = Self::kdf_of(&mut r)?;
        let salt = r.array()?;
        let hash = r.array()?;
        let created_at = r.u64()?;
        let wrapped = Self::wrapped_of(&mut r)?;
        r.finish()?;
        Ok(Decoded::First(Box::new(move |instance| UserRecord {
            user,
            instance,
            legacy: true,
            deleting: false,
            kdf,
            salt,
            verifier: Verifier::Sha256(hash),
            created_at,
            wrapped,
        })))
    }

    /// Load `user`'s record; `None` if the user does not exist. A record
    /// of the first format is upgraded (and written back) here, with an
    /// instance id from `mint`; the caller holds the credential gate, so
    /// no two upgrades race.
    pub(crate) fn load(
        state: &StateFs,
        user: &UserId,
        mint: impl FnOnce() -> Result<InstanceId, IdentityError>,
    ) -> Result<Option<Self>, IdentityError> {
        let path = user_record_path(user)?;
        let Some((version, payload)) =
            state.read_record(&path, MAGIC, &[VERSION_FIRST, VERSION])?
        else {
            return Ok(None);
        };
        let decoded = if version == VERSION {
            UserRecord::decode(&payload, user).map(Decoded::Current)
        } else {
            UserRecord::decode_first(&payload, user)
        };
        let decoded = decoded.map_err(|reason| IdentityError::Corrupt {
            path: path.to_string(),
            reason,
        })?;
        match decoded {
            Decoded::Current(rec) => Ok(Some(rec)),
            Decoded::First(upgrade) => {
                let rec = upgrade(mint()?);
                rec.store(state)?;
                eprintln!(
                    "identity: upgraded the record of {} (instance {})",
                    rec.user, rec.instance
                );
                Ok(Some(rec))
            }
        }
    }

    /// Write the record atomically.
    pub(crate) fn store(&self, state: &StateFs) -> Result<(), IdentityError> {
        let path = user_record_path(&self.user)?;
        state.write_record(&path, MAGIC, VERSION, &self.encode()?)?;
        Ok(())
    }

    /// Remove `user`'s record.
    pub(crate) fn delete(state: &StateFs, user: &UserId) -> Result<(), IdentityError> {
        state.delete(&user_record_path(user)?)?;
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
            instance: InstanceId::from_bytes([9; 16]),
            legacy: false,
            deleting: false,
            kdf: KdfParams::INSECURE_TEST,
            salt: [3; SALT_LEN],
            verifier: Verifier::Mac([4; 32]),
            created_at: 1_700_000_000,
            wrapped: WrappedVaultKey::from_bytes(vec![5; 74]),
        }
    }

    fn no_mint() -> Result<InstanceId, IdentityError> {
        panic!("a current record needs no instance id")
    }

    #[test]
    fn round_trips_through_statefs() {
        let state = StateFs::volatile();
        let mut rec = sample();
        rec.store(&state).unwrap();
        assert_eq!(
            UserRecord::load(&state, &rec.user, no_mint).unwrap(),
            Some(rec.clone())
        );
        rec.legacy = true;
        rec.deleting = true;
        rec.verifier = Verifier::Sha256([6; 32]);
        rec.store(&state).unwrap();
        assert_eq!(
            UserRecord::load(&state, &rec.user, no_mint).unwrap(),
            Some(rec.clone())
        );
        let bob = UserId::new("bob").unwrap();
        assert_eq!(UserRecord::load(&state, &bob, no_mint).unwrap(), None);
    }

    #[test]
    fn a_first_format_record_is_upgraded_when_loaded() {
        let state = StateFs::volatile();
        let rec = sample();
        let mut v1 = vec![5];
        v1.extend_from_slice(b"alice");
        for n in [8u32, 1, 1] {
            v1.extend_from_slice(&n.to_be_bytes());
        }
        v1.extend_from_slice(&[3; SALT_LEN]);
        v1.extend_from_slice(&[4; 32]);
        v1.extend_from_slice(&1_700_000_000u64.to_be_bytes());
        v1.extend_from_slice(&74u16.to_be_bytes());
        v1.extend_from_slice(&[5; 74]);
        let path = user_record_path(&rec.user).unwrap();
        state.write_record(&path, MAGIC, 1, &v1).unwrap();
        let got = UserRecord::load(&state, &rec.user, || Ok(InstanceId::from_bytes([9; 16])))
            .unwrap()
            .unwrap();
        let expect = UserRecord {
            legacy: true,
            verifier: Verifier::Sha256([4; 32]),
            ..rec
        };
        assert_eq!(got, expect);
        // Written back as version 2: loading again mints nothing.
        assert_eq!(state.read_record(&path, MAGIC, &[2]).unwrap().unwrap().0, 2);
        assert_eq!(
            UserRecord::load(&state, &expect.user, no_mint).unwrap(),
            Some(expect)
        );
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
    fn test_reject_user_record_of_another_user_bad_params_flags_or_kind() {
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
        let flags_at = 1 + 5 + 16;
        let mut bad = rec.encode().unwrap();
        bad[flags_at] = 4;
        assert_eq!(UserRecord::decode(&bad, &rec.user), Err("unknown flags"));
        let mut bad = rec.encode().unwrap();
        bad[flags_at + 1] = 3;
        assert_eq!(
            UserRecord::decode(&bad, &rec.user),
            Err("unknown verifier kind")
        );
    }

    #[test]
    fn test_reject_user_record_envelope_damage_with_eio() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateFs::open(dir.path()).unwrap();
        let rec = sample();
        let path = user_record_path(&rec.user).unwrap();
        let load = |s: &StateFs| UserRecord::load(s, &rec.user, no_mint);
        // Unknown version with an intact checksum.
        state
            .write_record(&path, MAGIC, 3, &rec.encode().unwrap())
            .unwrap();
        assert_eq!(load(&state).unwrap_err().code(), ErrorCode::Eio);
        // A version 2 payload claiming version 1 is no first-format record.
        state
            .write_record(&path, MAGIC, 1, &rec.encode().unwrap())
            .unwrap();
        assert_eq!(load(&state).unwrap_err().code(), ErrorCode::Eio);
        // Wrong magic.
        state
            .write_record(&path, b"NXTH", VERSION, &rec.encode().unwrap())
            .unwrap();
        assert_eq!(load(&state).unwrap_err().code(), ErrorCode::Eio);
        // Valid envelope around a truncated payload.
        state
            .write_record(&path, MAGIC, VERSION, &[5, b'a'])
            .unwrap();
        assert_eq!(load(&state).unwrap_err().code(), ErrorCode::Eio);
        // Every flipped byte of a good file.
        rec.store(&state).unwrap();
        let host = state.host_path(&path).unwrap();
        let good = std::fs::read(&host).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x01;
            std::fs::write(&host, &bad).unwrap();
            let e = load(&state).unwrap_err();
            assert_eq!(e.code(), ErrorCode::Eio, "flip {i}");
        }
    }
}
