//! The versioned record envelope every persisted format uses.
//!
//! Two layouts (integers big-endian). The first, still read:
//!
//! ```text
//! v1: magic[4] | version u16 | length u32 | payload | sha256(magic..payload)[32]
//! ```
//!
//! The current one, written by every write since the state root:
//!
//! ```text
//! v2: magic[4] | 0xFFFF | layout u8 = 2 | keyed u8 | version u16 | generation u64
//!     | length u32 | payload | tag[32]
//! tag = keyed 0: SHA-256(magic..payload)
//!       keyed 1: HMAC-SHA256(key, "nexus-statefs/record/v2" 0x00 path 0x00 magic..payload)
//! ```
//!
//! `version` is the format's own version (of `NXKS`, `NXUR`…), unchanged
//! between layouts; `0xFFFF` in its place says "layout 2 follows", so a
//! build that knows only v1 refuses a v2 record as an unknown version.
//! `generation` is the state root's counter when the record was written
//! (0 outside a state root); `path` is the record's `state:/…` path, so a
//! keyed record copied to another path no longer authenticates.
//!
//! The tag (or checksum) is checked before anything else, so a damaged
//! header reads as corrupt; a record from a newer build with an intact tag
//! reads as unsupported. Both are `EIO`.

use crate::key::StateKey;
use crate::path::StatePath;
use crate::StateError;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const V1_HEADER: usize = 4 + 2 + 4;
const V2_HEADER: usize = 4 + 2 + 1 + 1 + 2 + 8 + 4;
const SUM: usize = 32;
const LAYOUT2_MARK: u16 = 0xFFFF;
const MAC_LABEL: &str = "nexus-statefs/record/v2";

/// A decoded record, borrowing its payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The format version the record was written with.
    pub version: u16,
    /// The state root generation it was written at (0: none, or layout 1).
    pub generation: u64,
    /// Whether its tag is a MAC (layout 2, keyed).
    pub keyed: bool,
    /// The record body.
    pub payload: &'a [u8],
}

/// How a record's tag is checked.
#[derive(Clone, Copy)]
pub enum TagCheck<'k> {
    /// The record must be keyed, with this key's MAC.
    Key(&'k StateKey),
    /// Only unkeyed records (checksum) are accepted.
    Unkeyed,
    /// The bytes were already matched against a digest the caller trusts
    /// (a state root, a MAC'd manifest): the tag is not recomputed, only
    /// the structure is checked.
    Trusted,
}

impl std::fmt::Debug for TagCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TagCheck::Key(_) => "Key",
            TagCheck::Unkeyed => "Unkeyed",
            TagCheck::Trusted => "Trusted",
        })
    }
}

/// Frame `payload` in layout 1. Only what old builds wrote: tests and
/// fixtures use it to make records of the first layout.
pub fn encode(magic: &[u8; 4], version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(V1_HEADER + payload.len() + SUM);
    out.extend_from_slice(magic);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&len32(payload).to_be_bytes());
    out.extend_from_slice(payload);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

fn len32(payload: &[u8]) -> u32 {
    // Payloads are bounded far below 4 GiB by every caller's limits; a
    // larger one would fail the length check on decode rather than wrap.
    u32::try_from(payload.len()).unwrap_or(u32::MAX)
}

/// The size of a layout-2 record with a payload of `payload_len` bytes.
pub fn encoded_len(payload_len: usize) -> usize {
    V2_HEADER + payload_len + SUM
}

/// Frame `payload` in layout 2 at generation `generation`, keyed when a
/// key is given. The buffer is zeroized when dropped (payloads may be
/// secrets, such as the device secret).
pub fn encode_v2(
    path: &StatePath,
    magic: &[u8; 4],
    version: u16,
    generation: u64,
    payload: &[u8],
    key: Option<&StateKey>,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(encoded_len(payload.len())));
    out.extend_from_slice(magic);
    out.extend_from_slice(&LAYOUT2_MARK.to_be_bytes());
    out.push(2);
    out.push(u8::from(key.is_some()));
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&len32(payload).to_be_bytes());
    out.extend_from_slice(payload);
    let tag = match key {
        Some(k) => k.mac(MAC_LABEL, &[path.to_string().as_bytes(), &[0], &out]),
        None => Sha256::digest(out.as_slice()).into(),
    };
    out.extend_from_slice(&tag);
    out
}

/// Check and unframe a record of either layout read from `path`, whose
/// tag is checked as `check` says.
pub fn decode_with<'a>(
    path: &StatePath,
    bytes: &'a [u8],
    magic: &[u8; 4],
    supported: &[u16],
    check: TagCheck<'_>,
) -> Result<Record<'a>, StateError> {
    let corrupt = |reason| StateError::Corrupt {
        path: path.to_string(),
        reason,
    };
    if bytes.len() < V1_HEADER + SUM {
        return Err(corrupt("truncated"));
    }
    let (body, tag) = bytes.split_at(bytes.len() - SUM);
    let layout2 = body[4..6] == LAYOUT2_MARK.to_be_bytes();
    let keyed = layout2 && body.len() >= V2_HEADER && body[7] == 1;
    let tag_ok = match (check, keyed) {
        (TagCheck::Trusted, _) => true,
        (TagCheck::Key(k), true) => {
            k.verify(MAC_LABEL, &[path.to_string().as_bytes(), &[0], body], tag)
        }
        (TagCheck::Key(_), false) => return Err(corrupt("record is not keyed")),
        (TagCheck::Unkeyed, true) => return Err(corrupt("keyed record read without its key")),
        (TagCheck::Unkeyed, false) => Sha256::digest(body).as_slice() == tag,
    };
    if !tag_ok {
        return Err(corrupt(if keyed {
            "MAC mismatch"
        } else {
            "checksum mismatch"
        }));
    }
    if &body[..4] != magic {
        return Err(corrupt("wrong record type"));
    }
    let (version, generation, header) = if layout2 {
        if body.len() < V2_HEADER {
            return Err(corrupt("truncated"));
        }
        if body[6] != 2 || body[7] > 1 {
            return Err(corrupt("unknown record layout"));
        }
        let version = u16::from_be_bytes([body[8], body[9]]);
        let mut g = [0u8; 8];
        g.copy_from_slice(&body[10..18]);
        (version, u64::from_be_bytes(g), V2_HEADER)
    } else {
        (u16::from_be_bytes([body[4], body[5]]), 0, V1_HEADER)
    };
    let len_at = header - 4;
    let len = u32::from_be_bytes([
        body[len_at],
        body[len_at + 1],
        body[len_at + 2],
        body[len_at + 3],
    ]) as usize;
    if len != body.len() - header {
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
        generation,
        keyed,
        payload: &body[header..],
    })
}

/// [`decode_with`] for records outside any key: layout 1, or layout 2
/// unkeyed.
pub fn decode<'a>(
    path: &StatePath,
    bytes: &'a [u8],
    magic: &[u8; 4],
    supported: &[u16],
) -> Result<Record<'a>, StateError> {
    decode_with(path, bytes, magic, supported, TagCheck::Unkeyed)
}

/// The generation in a layout-2 header, without any check (for messages
/// about a record that does not match its state root).
pub fn peek_generation(bytes: &[u8]) -> Option<u64> {
    if bytes.len() >= V2_HEADER + SUM && bytes[4..6] == LAYOUT2_MARK.to_be_bytes() {
        let mut g = [0u8; 8];
        g.copy_from_slice(&bytes[10..18]);
        Some(u64::from_be_bytes(g))
    } else {
        None
    }
}

/// Whether `bytes` look like a layout-2 keyed record (a file written under
/// a state root), without any check.
pub fn looks_keyed_v2(bytes: &[u8]) -> bool {
    bytes.len() >= V2_HEADER + SUM
        && bytes[4..6] == LAYOUT2_MARK.to_be_bytes()
        && bytes[6] == 2
        && bytes[7] == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> StatePath {
        StatePath::parse("state:/x").unwrap()
    }

    fn key(b: u8) -> StateKey {
        StateKey::new(Zeroizing::new([b; 32]))
    }

    #[test]
    fn round_trip_both_layouts() {
        let enc = encode(b"ABCD", 3, b"hello");
        let rec = decode(&path(), &enc, b"ABCD", &[2, 3]).unwrap();
        assert_eq!(
            rec,
            Record {
                version: 3,
                generation: 0,
                keyed: false,
                payload: b"hello"
            }
        );
        let empty = encode(b"ABCD", 1, b"");
        assert_eq!(decode(&path(), &empty, b"ABCD", &[1]).unwrap().payload, b"");

        let v2 = encode_v2(&path(), b"ABCD", 3, 77, b"hello", None);
        assert_eq!(v2.len(), encoded_len(5));
        let rec = decode(&path(), &v2, b"ABCD", &[3]).unwrap();
        assert_eq!((rec.version, rec.generation, rec.keyed), (3, 77, false));
        assert_eq!(rec.payload, b"hello");

        let k = key(7);
        let mac = encode_v2(&path(), b"ABCD", 3, 78, b"hello", Some(&k));
        let rec = decode_with(&path(), &mac, b"ABCD", &[3], TagCheck::Key(&k)).unwrap();
        assert_eq!(
            (rec.generation, rec.keyed, rec.payload),
            (78, true, &b"hello"[..])
        );
        assert_eq!(peek_generation(&mac), Some(78));
        assert!(looks_keyed_v2(&mac) && !looks_keyed_v2(&v2) && !looks_keyed_v2(&enc));
    }

    #[test]
    fn test_reject_malformed_records() {
        let k = key(7);
        let records = [
            (encode(b"ABCD", 1, b"hello").to_vec(), TagCheck::Unkeyed),
            (
                encode_v2(&path(), b"ABCD", 1, 5, b"hello", None).to_vec(),
                TagCheck::Unkeyed,
            ),
            (
                encode_v2(&path(), b"ABCD", 1, 5, b"hello", Some(&k)).to_vec(),
                TagCheck::Key(&k),
            ),
        ];
        for (enc, check) in &records {
            for cut in 0..enc.len() {
                assert!(
                    decode_with(&path(), &enc[..cut], b"ABCD", &[1], *check).is_err(),
                    "cut {cut}"
                );
            }
            for i in 0..enc.len() {
                for bit in 0..8 {
                    let mut bad = enc.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        matches!(
                            decode_with(&path(), &bad, b"ABCD", &[1], *check),
                            Err(StateError::Corrupt { .. })
                        ),
                        "flip {i}.{bit}"
                    );
                }
            }
            assert!(matches!(
                decode_with(&path(), enc, b"WXYZ", &[1], *check),
                Err(StateError::Corrupt {
                    reason: "wrong record type",
                    ..
                })
            ));
            assert!(matches!(
                decode_with(&path(), enc, b"ABCD", &[2], *check),
                Err(StateError::UnsupportedVersion { version: 1, .. })
            ));
        }
        // A keyed record: another key, another path, or no key at all.
        let mac = &records[2].0;
        let other = StatePath::parse("state:/y").unwrap();
        assert!(decode_with(&path(), mac, b"ABCD", &[1], TagCheck::Key(&key(8))).is_err());
        assert!(decode_with(&other, mac, b"ABCD", &[1], TagCheck::Key(&k)).is_err());
        assert!(decode(&path(), mac, b"ABCD", &[1]).is_err());
        // A reader that wants a MAC refuses a checksummed record.
        assert!(decode_with(&path(), &records[1].0, b"ABCD", &[1], TagCheck::Key(&k)).is_err());
        // Trusted skips the tag only: structure is still checked.
        let mut bad = mac.clone();
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert!(decode_with(&path(), &bad, b"ABCD", &[1], TagCheck::Trusted).is_ok());
        assert!(decode_with(&path(), &bad[..n - 2], b"ABCD", &[1], TagCheck::Trusted).is_err());
    }
}
