//! The keystore's sealed-data format.
//!
//! ```text
//! sealed = "nxs" | format (1 byte, ASCII '1') | version (u32 big-endian)
//!          | keymint sealed object ('S' | 0x01 | nonce[24] | ciphertext | tag[16])
//! ```
//!
//! The 8-byte header says which key version sealed the data, so unseal
//! finds it after a rotation (as Vault's `vault:vN:` prefix does). The
//! header is authenticated twice over: keymint binds the key identity
//! (which includes the version) into the AEAD associated data, and the
//! keystore passes `header | caller AAD` as the AAD it hands keymint. A
//! header of an unknown format is refused (`EINVAL`); a changed version
//! fails authentication (`EIO`).

use crate::error::KeystoreError;

/// The fixed prefix of every sealed object.
pub const MAGIC: &[u8; 3] = b"nxs";
/// The format byte this build writes and reads.
pub const FORMAT: u8 = b'1';
/// Header length: magic, format byte, version.
pub const HEADER_LEN: usize = 8;

/// A parsed header and the keymint object after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedParts<'a> {
    /// The key version that sealed the data.
    pub version: u32,
    /// The header bytes (bound into the AAD).
    pub header: [u8; HEADER_LEN],
    /// keymint's sealed object.
    pub body: &'a [u8],
}

/// The header for data sealed under `version`.
pub fn header(version: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[..3].copy_from_slice(MAGIC);
    h[3] = FORMAT;
    h[4..].copy_from_slice(&version.to_be_bytes());
    h
}

/// Split sealed data into header and body, refusing what is too short, of
/// an unknown format, or names version 0.
pub fn parse(sealed: &[u8]) -> Result<SealedParts<'_>, KeystoreError> {
    if sealed.len() < HEADER_LEN + keymint::SEAL_OVERHEAD {
        return Err(KeystoreError::Invalid("sealed data is truncated"));
    }
    let (head, body) = sealed.split_at(HEADER_LEN);
    if &head[..3] != MAGIC {
        return Err(KeystoreError::Invalid("not keystore sealed data"));
    }
    if head[3] != FORMAT {
        return Err(KeystoreError::Invalid("unknown sealed-data format version"));
    }
    let version = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if version == 0 {
        return Err(KeystoreError::Invalid("sealed data names version 0"));
    }
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(head);
    Ok(SealedParts {
        version,
        header,
        body,
    })
}

/// The AAD handed to keymint: the header, then the caller's AAD.
pub(crate) fn bound_aad(header: &[u8; HEADER_LEN], aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + aad.len());
    out.extend_from_slice(header);
    out.extend_from_slice(aad);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    fn sample(v: u32) -> Vec<u8> {
        let mut s = header(v).to_vec();
        s.extend_from_slice(&[b'S', 1]);
        s.extend_from_slice(&[0u8; keymint::SEAL_OVERHEAD - 2 + 5]);
        s
    }

    #[test]
    fn round_trip() {
        let s = sample(7);
        let p = parse(&s).unwrap();
        assert_eq!(p.version, 7);
        assert_eq!(&p.header, b"nxs1\0\0\0\x07");
        assert_eq!(p.body, &s[HEADER_LEN..]);
        assert_eq!(bound_aad(&p.header, b"ctx"), b"nxs1\0\0\0\x07ctx");
    }

    #[test]
    fn test_reject_malformed_headers() {
        let s = sample(1);
        for cut in [0, 3, 7, HEADER_LEN + keymint::SEAL_OVERHEAD - 1] {
            assert_eq!(parse(&s[..cut]).unwrap_err().code(), ErrorCode::Einval);
        }
        for (i, b) in [(0, b'N'), (2, b'z'), (3, b'2'), (3, b'0')] {
            let mut bad = s.clone();
            bad[i] = b;
            assert_eq!(parse(&bad).unwrap_err().code(), ErrorCode::Einval, "{i}");
        }
        assert_eq!(parse(&sample(0)).unwrap_err().code(), ErrorCode::Einval);
    }
}
