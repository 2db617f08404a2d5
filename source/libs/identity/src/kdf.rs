//! Password → (verifier input, vault auth secret) with Argon2id.
//!
//! ```text
//! out[64]        = Argon2id(v = 0x13, m_kib, t, p, password, salt[16])
//! verifier input = out[0..32]   → keymint: HMAC under the device pepper
//!                                 (stored in the user record)
//! auth secret    = out[32..64]  → keymint: the user KEK
//! ```
//!
//! Records of the first format stored `SHA-256(out[0..32])` instead of the
//! MAC ([`Derived::legacy_hash`]); they are upgraded at the next successful
//! check.
//!
//! Invariants: the 64-byte output, the password, the verifier input and the
//! auth secret live in zeroizing buffers; verifiers are compared in
//! constant time; parameters read from disk are bounded so a damaged
//! record cannot demand gigabytes.

use crate::error::IdentityError;
use argon2::{Algorithm, Argon2, Params, Version};
use keymint::{AuthSecret, VerifierInput};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// The longest password accepted, in bytes.
pub const PASSWORD_MAX_LEN: usize = 1024;
/// Salt length in bytes.
pub(crate) const SALT_LEN: usize = 16;
/// Largest memory cost accepted from a record (1 GiB).
const MAX_M_KIB: u32 = 1 << 20;
/// Largest time cost accepted from a record.
const MAX_T: u32 = 64;
/// Largest parallelism accepted from a record.
const MAX_P: u32 = 16;

/// A password. No Debug, no Clone; zeroized on drop.
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// Adopt the password bytes (any bytes; UTF-8 is the caller's business).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Password(Zeroizing::new(bytes.into()))
    }

    pub(crate) fn checked(&self) -> Result<&[u8], IdentityError> {
        match self.0.len() {
            0 => Err(IdentityError::Invalid("password is empty")),
            n if n > PASSWORD_MAX_LEN => Err(IdentityError::Invalid("password is too long")),
            _ => Ok(&self.0),
        }
    }
}

/// Argon2id cost parameters, stored in every user record so they can be
/// raised for new passwords without breaking old ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Time cost (passes).
    pub t: u32,
    /// Parallelism (lanes).
    pub p: u32,
}

impl KdfParams {
    /// Production parameters: 64 MiB, 3 passes, 1 lane (measured in
    /// docs/security/keymint-keychain.md).
    pub const PRODUCTION: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// Tiny parameters for tests and benches of other parts. Never for
    /// real credentials.
    pub const INSECURE_TEST: KdfParams = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };

    /// Check the bounds this build accepts; the reason is structural.
    pub(crate) fn check(&self) -> Result<Params, &'static str> {
        if self.m_kib > MAX_M_KIB || self.t > MAX_T || self.p == 0 || self.p > MAX_P {
            return Err("argon2 parameters out of range");
        }
        Params::new(self.m_kib, self.t, self.p, Some(64)).map_err(|_| "argon2 parameters invalid")
    }
}

/// The two halves of one Argon2id run.
pub(crate) struct Derived {
    input: VerifierInput,
    auth: AuthSecret,
}

impl Derived {
    /// The verifier half, for keymint's MAC.
    pub(crate) fn input(&self) -> &VerifierInput {
        &self.input
    }

    /// What records of the first format stored: SHA-256 of the verifier
    /// half (no pepper).
    pub(crate) fn legacy_hash(&self) -> [u8; 32] {
        Sha256::digest(self.input.expose_secret()).into()
    }

    /// The secret keymint turns into the user's KEK.
    pub(crate) fn auth(&self) -> &AuthSecret {
        &self.auth
    }

    pub(crate) fn into_auth(self) -> AuthSecret {
        self.auth
    }
}

/// Constant-time equality of two verifiers.
pub(crate) fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// Run Argon2id over `password` with `salt` and `params`.
pub(crate) fn derive(
    params: &KdfParams,
    password: &Password,
    salt: &[u8; SALT_LEN],
) -> Result<Derived, IdentityError> {
    let pw = password.checked()?;
    let argon_params = params.check().map_err(IdentityError::Invalid)?;
    let mut out = Zeroizing::new([0u8; 64]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(pw, salt, out.as_mut_slice())
        .map_err(|_| IdentityError::Kdf)?;
    let mut half = [0u8; 32];
    half.copy_from_slice(&out[..32]);
    let input = VerifierInput::from_bytes(half);
    half.copy_from_slice(&out[32..]);
    let auth = AuthSecret::from_bytes(half);
    half.zeroize();
    Ok(Derived { input, auth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_output_and_salt_matters() {
        let p = KdfParams::INSECURE_TEST;
        let pw = Password::new("correct horse");
        let a = derive(&p, &pw, &[1; 16]).unwrap();
        let b = derive(&p, &pw, &[1; 16]).unwrap();
        let c = derive(&p, &pw, &[2; 16]).unwrap();
        assert!(same(&a.legacy_hash(), &b.legacy_hash()));
        assert!(!same(&a.legacy_hash(), &c.legacy_hash()));
        let wrong = derive(&p, &Password::new("wrong horse"), &[1; 16]).unwrap();
        assert!(!same(&a.legacy_hash(), &wrong.legacy_hash()));
        assert_eq!(a.input().expose_secret(), b.input().expose_secret());
        assert_eq!(a.auth().expose_secret(), b.auth().expose_secret());
        assert_ne!(a.input().expose_secret(), a.auth().expose_secret());
    }

    #[test]
    fn halves_and_legacy_hash_are_the_documented_ones() {
        // Independent recomputation with the argon2 crate directly.
        let p = KdfParams::INSECURE_TEST;
        let mut out = [0u8; 64];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, p.check().unwrap())
            .hash_password_into(b"pw", &[7; 16], &mut out)
            .unwrap();
        let d = derive(&p, &Password::new("pw"), &[7; 16]).unwrap();
        let expect: [u8; 32] = Sha256::digest(&out[..32]).into();
        assert_eq!(d.legacy_hash(), expect);
        assert_eq!(&d.input().expose_secret()[..], &out[..32]);
        assert_eq!(&d.auth().expose_secret()[..], &out[32..]);
    }

    #[test]
    fn test_reject_bad_passwords_and_params() {
        use nexus_core::{Coded, ErrorCode};
        let p = KdfParams::INSECURE_TEST;
        for pw in [
            Password::new(""),
            Password::new(vec![b'a'; PASSWORD_MAX_LEN + 1]),
        ] {
            let e = derive(&p, &pw, &[0; 16]).err().unwrap();
            assert_eq!(e.code(), ErrorCode::Einval);
        }
        for bad in [
            KdfParams {
                m_kib: MAX_M_KIB + 1,
                t: 1,
                p: 1,
            },
            KdfParams {
                m_kib: 8,
                t: 0,
                p: 1,
            },
            KdfParams {
                m_kib: 8,
                t: 1,
                p: 0,
            },
            KdfParams {
                m_kib: 8,
                t: MAX_T + 1,
                p: 1,
            },
            KdfParams {
                m_kib: 64,
                t: 1,
                p: MAX_P + 1,
            },
            KdfParams {
                m_kib: 1,
                t: 1,
                p: 1,
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        assert!(KdfParams::PRODUCTION.check().is_ok());
    }
}
