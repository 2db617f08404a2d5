//! Key ids: RFC 9679 COSE Key Thumbprints.
//!
//! The thumbprint is SHA-256 over the deterministic CBOR (RFC 8949 §4.2.1)
//! of the key's required public parameters only. For an Ed25519 key that is
//! `{1: 1 (OKP), -1: 6 (Ed25519), -2: x}`; map keys sorted by their encoded
//! bytes gives the order 1 (0x01), -1 (0x20), -2 (0x21), -3 (0x22). The same
//! kid names a key in the keystore, in attestation tokens and in the trust
//! store. The [`Kid`] type itself lives in `nexus_core` (re-exported
//! here), so that code which only carries kids needs no crypto.

use ed25519_dalek::VerifyingKey;
pub use nexus_core::{Kid, KidParseError};
use sha2::{Digest, Sha256};

/// COSE key type OKP.
const KTY_OKP: u8 = 1;
/// COSE key type EC2.
const KTY_EC2: u8 = 2;
/// COSE curve Ed25519.
const CRV_ED25519: u8 = 6;

/// Append a CBOR byte string header for a 32-byte string plus the bytes.
fn push_bstr32(out: &mut Vec<u8>, b: &[u8; 32]) {
    out.extend_from_slice(&[0x58, 0x20]);
    out.extend_from_slice(b);
}

/// The deterministic CBOR the thumbprint hashes, for an Ed25519 key.
pub fn ed25519_thumbprint_input(x: &[u8; 32]) -> Vec<u8> {
    // {1: 1, -1: 6, -2: x}: small unsigned ints and negative ints encode in
    // one byte (0x01, 0x20 = -1, 0x21 = -2), already in §4.2.1 order.
    let mut out = vec![0xa3, 0x01, KTY_OKP, 0x20, CRV_ED25519, 0x21];
    push_bstr32(&mut out, x);
    out
}

/// The kid of an Ed25519 public key.
pub fn ed25519_kid(key: &VerifyingKey) -> Kid {
    Kid::from_bytes(Sha256::digest(ed25519_thumbprint_input(key.as_bytes())).into())
}

/// The kid of an EC2 key with 32-byte coordinates (P-256: crv 1). Kept for
/// the RFC 9679 known-answer test, whose example is a P-256 key.
pub fn ec2_kid(crv: u8, x: &[u8; 32], y: &[u8; 32]) -> Kid {
    let mut out = vec![0xa4, 0x01, KTY_EC2, 0x20, crv, 0x21];
    push_bstr32(&mut out, x);
    out.push(0x22);
    push_bstr32(&mut out, y);
    Kid::from_bytes(Sha256::digest(out).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h32(s: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).unwrap();
        b
    }

    /// RFC 9679 §6 example (P-256 key from RFC 9052 Appendix C.7.1).
    #[test]
    fn rfc9679_example_thumbprint() {
        let x = h32("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d");
        let y = h32("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c");
        assert_eq!(
            ec2_kid(1, &x, &y).to_hex(),
            "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec"
        );
    }

    /// The Ed25519 input is exactly the §4.2.1 encoding of {1:1,-1:6,-2:x}.
    #[test]
    fn ed25519_input_layout() {
        let x = [7u8; 32];
        let enc = ed25519_thumbprint_input(&x);
        assert_eq!(&enc[..8], &[0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20]);
        assert_eq!(&enc[8..], &x);
    }
}
