//! Where randomness comes from.
//!
//! Production builds draw every byte from the OS (`getrandom`). The
//! `insecure-deterministic` cargo feature adds a seeded generator for
//! reproducible tests; a build with it reports itself INSECURE (see
//! [`crate::INSECURE_BUILD`]) and the daemons say so in their ready marker.

use crate::error::KeyMintError;
#[cfg(feature = "insecure-deterministic")]
use sha2::{Digest, Sha256};
#[cfg(feature = "insecure-deterministic")]
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The source of randomness for keys, nonces and secrets.
pub struct Entropy {
    inner: Source,
}

enum Source {
    Os,
    #[cfg(feature = "insecure-deterministic")]
    Seeded(Mutex<(Zeroizing<[u8; 32]>, u64)>),
}

impl Entropy {
    /// The operating system's generator.
    pub fn os() -> Self {
        Entropy { inner: Source::Os }
    }

    /// A reproducible generator: SHA-256(seed || counter) blocks. TESTS ONLY.
    #[cfg(feature = "insecure-deterministic")]
    pub fn insecure_seeded(seed: u64) -> Self {
        let mut s = Zeroizing::new([0u8; 32]);
        s[..8].copy_from_slice(&seed.to_be_bytes());
        Entropy {
            inner: Source::Seeded(Mutex::new((s, 0))),
        }
    }

    /// Whether this source is the insecure seeded one.
    pub fn is_insecure(&self) -> bool {
        !matches!(self.inner, Source::Os)
    }

    /// Fill `out` with random bytes.
    pub fn fill(&self, out: &mut [u8]) -> Result<(), KeyMintError> {
        match &self.inner {
            Source::Os => getrandom::getrandom(out).map_err(|_| KeyMintError::Entropy),
            #[cfg(feature = "insecure-deterministic")]
            Source::Seeded(state) => {
                let mut st = state.lock().map_err(|_| KeyMintError::Entropy)?;
                for chunk in out.chunks_mut(32) {
                    let mut h = Sha256::new();
                    h.update(b"nexus-keymint/insecure-drbg");
                    h.update(st.0.as_slice());
                    h.update(st.1.to_be_bytes());
                    st.1 = st.1.wrapping_add(1);
                    let block = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
                    chunk.copy_from_slice(&block[..chunk.len()]);
                }
                Ok(())
            }
        }
    }

    /// 32 fresh random bytes, zeroized on drop.
    pub fn secret32(&self) -> Result<Zeroizing<[u8; 32]>, KeyMintError> {
        let mut b = Zeroizing::new([0u8; 32]);
        self.fill(b.as_mut_slice())?;
        Ok(b)
    }

    /// A fresh 24-byte XChaCha20 nonce (random nonces are safe at 192 bits).
    pub fn nonce24(&self) -> Result<[u8; 24], KeyMintError> {
        let mut n = [0u8; 24];
        self.fill(&mut n)?;
        Ok(n)
    }
}
