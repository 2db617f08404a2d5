//! The versioned record envelope every persisted format uses.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! magic[4] | version u16 | length u32 | payload[length] | sha256(magic..payload)[32]
//! ```
//!
//! The checksum catches corruption (a torn disk, a flipped bit); it is not
//! an authenticity check: formats that need one (wrapped keys, the vault)
//! also carry an AEAD tag inside the payload. The checksum is checked before
//! the version, so a damaged version field reads as corrupt, and a record
//! from a newer build with an intact checksum reads as unsupported. Both are
//! `EIO`.

use crate::path::StatePath;
use crate::StateError;
use sha2::{Digest, Sha256};

const HEADER: usize = 4 + 2 + 4;
const SUM: usize = 32;

/// A decoded record, borrowing its payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The format version the record was written with.
    pub version: u16,
    /// The record body.
    pub payload: &'a [u8],
}

/// Frame `payload` as a record of format `magic`, version `version`.
pub fn encode(magic: &[u8; 4], version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + SUM);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_be_bytes());
    // Payloads are bounded far below 4 GiB by every caller's quotas; a
    // larger one would fail the length check on decode rather than wrap.
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Check and unframe a record read from `path`.
pub fn decode<'a>(
    path: &StatePath,
    bytes: &'a [u8],
    magic: &[u8; 4],
    supported: &[u16],
) -> Result<Record<'a>, StateError> {
    let corrupt = |reason| StateError::Corrupt {
        path: path.to_string(),
        reason,
    };
    if bytes.len() < HEADER + SUM {
        return Err(corrupt("truncated"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - SUM);
    if Sha256::digest(body).as_slice() != sum {
        return Err(corrupt("checksum mismatch"));
    }
    if &body[..4] != magic {
        return Err(corrupt("wrong record type"));
    }
    let version = u16::from_be_bytes([body[4], body[5]]);
    let len = u32::from_be_bytes([body[6], body[7], body[8], body[9]]) as usize;
    if len != body.len() - HEADER {
        return Err(corrupt("length mismatch"));
    }
    if !supported.contains(&version) {
        return Err(StateError::UnsupportedVersion {
            path: path.to_string(),
            version,
        });
    }
    Ok(Record {
        version,
        payload: &body[HEADER..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> StatePath {
        StatePath::parse("state:/x").unwrap()
    }

    #[test]
    fn round_trip() {
        let enc = encode(b"ABCD", 3, b"hello");
        let rec = decode(&path(), &enc, b"ABCD", &[2, 3]).unwrap();
        assert_eq!(
            rec,
            Record {
                version: 3,
                payload: b"hello"
            }
        );
        let empty = encode(b"ABCD", 1, b"");
        assert_eq!(decode(&path(), &empty, b"ABCD", &[1]).unwrap().payload, b"");
    }

    #[test]
    fn test_reject_malformed_records() {
        let enc = encode(b"ABCD", 1, b"hello");
        for cut in 0..enc.len() {
            assert!(
                decode(&path(), &enc[..cut], b"ABCD", &[1]).is_err(),
                "cut {cut}"
            );
        }
        for i in 0..enc.len() {
            let mut bad = enc.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(
                    decode(&path(), &bad, b"ABCD", &[1]),
                    Err(StateError::Corrupt { .. })
                ),
                "flip {i}"
            );
        }
        assert!(matches!(
            decode(&path(), &enc, b"WXYZ", &[1]),
            Err(StateError::Corrupt {
                reason: "wrong record type",
                ..
            })
        ));
        assert!(matches!(
            decode(&path(), &enc, b"ABCD", &[2]),
            Err(StateError::UnsupportedVersion { version: 1, .. })
        ));
    }
}
