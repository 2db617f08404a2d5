//! Opening a password-encrypted minisign secret key (`minisign -G`
//! without `-W`; kdf `Sc`).
//!
//! minisign derives a 104-byte stream with libsodium's
//! `crypto_pwhash_scryptsalsa208sha256(password, salt, opslimit,
//! memlimit)` and XORs it over `keynum || seed || pk || checksum`. The
//! scrypt parameters (N, r, p) come from `opslimit` and `memlimit` by
//! libsodium's `pickparams`, reproduced in [`params`]; minisign writes
//! the "sensitive" limits (2^25 operations, 1 GiB), which give N = 2^20,
//! r = 8, p = 1: about a gigabyte of memory and seconds of work, by
//! design.
//!
//! Invariants: the limits are bounded before any work (a file asking for
//! more than minisign's own parameters is refused, so a crafted key file
//! cannot make this process allocate without bound); the stream and the
//! decrypted structure live in zeroizing buffers; whether the password
//! was right is decided by the key's checksum (in `keys.rs`), never by
//! anything the caller can observe earlier.

use super::keys::{KEYNUM_AT, MEM_AT, OPS_AT, SALT_AT};
use super::MinisignError;
use zeroize::Zeroizing;

/// libsodium's `OPSLIMIT_SENSITIVE` / `MEMLIMIT_SENSITIVE` for scrypt:
/// what minisign writes, and the most this reader accepts.
const MAX_OPSLIMIT: u64 = 1 << 25;
const MAX_MEMLIMIT: u64 = 1 << 30;
/// keynum (8) + secret key (64) + checksum (32).
const STREAM_LEN: usize = 8 + 64 + 32;

/// libsodium's `pickparams`: (log2 N, r, p) for the given limits.
fn params(opslimit: u64, memlimit: u64) -> (u8, u32, u32) {
    let opslimit = opslimit.max(32_768);
    let r: u32 = 8;
    let log2 = |max_n: u64| {
        let mut n_log2 = 1u8;
        while n_log2 < 63 && (1u64 << n_log2) <= max_n / 2 {
            n_log2 += 1;
        }
        n_log2
    };
    if opslimit < memlimit / 32 {
        let n_log2 = log2(opslimit / (u64::from(r) * 4));
        (n_log2, r, 1)
    } else {
        let n_log2 = log2(memlimit / (u64::from(r) * 128));
        let maxrp = ((opslimit / 4) >> n_log2).min(0x3fff_ffff);
        // maxrp fits in 30 bits; p = maxrp / r.
        let p = u32::try_from(maxrp).unwrap_or(0x3fff_ffff) / r;
        (n_log2, r, p)
    }
}

fn le64(raw: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&raw[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Decrypt the key structure `raw` in place with `password`.
pub(super) fn decrypt(raw: &mut [u8], password: &[u8]) -> Result<(), MinisignError> {
    let (ops, mem) = (le64(raw, OPS_AT), le64(raw, MEM_AT));
    if ops > MAX_OPSLIMIT || mem > MAX_MEMLIMIT {
        return Err(MinisignError::KdfOutOfBounds);
    }
    let (n_log2, r, p) = params(ops, mem);
    if p == 0 {
        return Err(MinisignError::KdfOutOfBounds);
    }
    // `Params`' length is that of its PHC hash strings (at most 64
    // bytes); `scrypt::scrypt` derives as many bytes as its output has.
    let scrypt_params =
        scrypt::Params::new(n_log2, r, p, 64).map_err(|_| MinisignError::KdfOutOfBounds)?;
    let mut stream = Zeroizing::new([0u8; STREAM_LEN]);
    scrypt::scrypt(
        password,
        &raw[SALT_AT..OPS_AT],
        &scrypt_params,
        stream.as_mut_slice(),
    )
    .map_err(|_| MinisignError::KdfOutOfBounds)?;
    for (b, s) in raw[KEYNUM_AT..KEYNUM_AT + STREAM_LEN]
        .iter_mut()
        .zip(stream.iter())
    {
        *b ^= s;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pickparams_matches_libsodium_for_minisigns_limits() {
        // minisign's sensitive limits: N = 2^20, r = 8, p = 1 (1 GiB).
        assert_eq!(params(1 << 25, 1 << 30), (20, 8, 1));
        // libsodium's interactive limits (2^19 ops, 16 MiB): N = 2^14.
        assert_eq!(params(1 << 19, 1 << 24), (14, 8, 1));
        // Few operations, much memory: the operations bound N.
        assert_eq!(params(32_768, 1 << 30), (10, 8, 1));
    }

    #[test]
    fn test_reject_limits_beyond_minisigns() {
        let mut raw = vec![0u8; 158];
        raw[OPS_AT..OPS_AT + 8].copy_from_slice(&(MAX_OPSLIMIT + 1).to_le_bytes());
        raw[MEM_AT..MEM_AT + 8].copy_from_slice(&MAX_MEMLIMIT.to_le_bytes());
        assert_eq!(decrypt(&mut raw, b"pw"), Err(MinisignError::KdfOutOfBounds));
        raw[OPS_AT..OPS_AT + 8].copy_from_slice(&MAX_OPSLIMIT.to_le_bytes());
        raw[MEM_AT..MEM_AT + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decrypt(&mut raw, b"pw"), Err(MinisignError::KdfOutOfBounds));
    }
}
