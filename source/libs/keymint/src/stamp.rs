//! The session table's stamp: which keymint run, and how many times its
//! session table has changed in that run.
//!
//! keymintd publishes the stamp after every change of its session table
//! and before the change is acknowledged; the vault keeps the stamp that
//! came with each answer "this session is active", and serves that
//! session again without asking keymint only while the published stamp is
//! still the same one ([`crate::VaultKeyOps::session_stamp`]). Lock,
//! logout, user deletion and a sync therefore reach the vault before they
//! return to whoever asked for them, and a restarted keymint (a new boot
//! id) invalidates everything the vault learned from the earlier run.
//!
//! Invariants:
//! - Within one run the epoch only grows, by one per change of the table
//!   (insert, lock, end, end of an instance, sync); two stamps are equal
//!   only if no change happened between them.
//! - The byte form is exactly [`STAMP_LEN`] bytes, version first, and ends
//!   with a check value (the first 8 bytes of SHA-256 of what precedes
//!   it); anything else is refused ([`SessionStamp::from_bytes`] returns
//!   `None`), and a stamp that cannot be read is treated as "changed". The
//!   check value is what makes a torn read (a reader copying the file
//!   while keymintd rewrites it, part old bytes and part new) fail instead
//!   of passing for some older stamp.

use sha2::{Digest, Sha256};

/// The version byte of the stamp's byte form.
pub const STAMP_VERSION: u8 = 1;

/// Length of the byte form: version, 16-byte boot id, 8-byte epoch (big
/// endian), 8-byte check value.
pub const STAMP_LEN: usize = BODY_LEN + CHECK_LEN;

const BODY_LEN: usize = 1 + 16 + 8;
const CHECK_LEN: usize = 8;

fn check_value(body: &[u8]) -> [u8; CHECK_LEN] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&digest[..CHECK_LEN]);
    out
}

/// A keymint run's boot id and the epoch of its session table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionStamp {
    boot_id: [u8; 16],
    epoch: u64,
}

impl SessionStamp {
    /// The stamp of run `boot_id` at `epoch`.
    pub fn new(boot_id: [u8; 16], epoch: u64) -> SessionStamp {
        SessionStamp { boot_id, epoch }
    }

    /// The epoch within the run.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The byte form: `01 | boot id (16) | epoch (8, big endian) |
    /// SHA-256(all of that)[..8]`.
    pub fn to_bytes(&self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        out[0] = STAMP_VERSION;
        out[1..17].copy_from_slice(&self.boot_id);
        out[17..BODY_LEN].copy_from_slice(&self.epoch.to_be_bytes());
        let check = check_value(&out[..BODY_LEN]);
        out[BODY_LEN..].copy_from_slice(&check);
        out
    }

    /// Parse the byte form; `None` for a wrong length, version or check
    /// value.
    pub fn from_bytes(b: &[u8]) -> Option<SessionStamp> {
        if b.len() != STAMP_LEN || b.first() != Some(&STAMP_VERSION) {
            return None;
        }
        let (body, check) = b.split_at(BODY_LEN);
        if check != check_value(body) {
            return None;
        }
        let boot_id: [u8; 16] = body.get(1..17)?.try_into().ok()?;
        let epoch = u64::from_be_bytes(body.get(17..)?.try_into().ok()?);
        Some(SessionStamp { boot_id, epoch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_form_round_trips() {
        let s = SessionStamp::new([7; 16], 0x0102_0304_0506_0708);
        let b = s.to_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(&b[17..25], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(SessionStamp::from_bytes(&b), Some(s));
    }

    #[test]
    fn test_reject_malformed_stamps() {
        let b = SessionStamp::new([7; 16], 9).to_bytes();
        assert_eq!(SessionStamp::from_bytes(&[]), None);
        assert_eq!(SessionStamp::from_bytes(&b[..STAMP_LEN - 1]), None);
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(SessionStamp::from_bytes(&long), None);
        let mut v2 = b;
        v2[0] = 2;
        assert_eq!(SessionStamp::from_bytes(&v2), None);
        let mut v0 = b;
        v0[0] = 0;
        assert_eq!(SessionStamp::from_bytes(&v0), None);
        // Any single changed bit fails the check value.
        for i in 1..STAMP_LEN * 8 {
            let mut flipped = b;
            flipped[i / 8] ^= 1 << (i % 8);
            assert_eq!(SessionStamp::from_bytes(&flipped), None, "bit {i}");
        }
    }

    #[test]
    fn test_reject_torn_reads_of_two_stamps() {
        // A read that copies part of the old stamp and part of the new
        // one: every split point of every pair of neighbouring epochs
        // around a carry.
        let boot = [3u8; 16];
        for e in [0u64, 0xff, 0xffff, 0x00ff_ffff_ffff] {
            let (old, new) = (
                SessionStamp::new(boot, e).to_bytes(),
                SessionStamp::new(boot, e + 1).to_bytes(),
            );
            for cut in 1..STAMP_LEN {
                for (a, b) in [(&old, &new), (&new, &old)] {
                    let mut torn = *a;
                    torn[cut..].copy_from_slice(&b[cut..]);
                    if torn == old || torn == new {
                        continue;
                    }
                    assert_eq!(SessionStamp::from_bytes(&torn), None, "epoch {e} cut {cut}");
                }
            }
        }
    }
}
