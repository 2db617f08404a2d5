//! Every size limit of the public ops, defined once.
//!
//! A request crosses up to two frames on its way (client → keystored →
//! keymintd) and its answer two more; each frame is at most
//! [`MAX_FRAME_LEN`] (1 MiB, `wire::MAX_FRAME_LEN`). The limits below are
//! set so that anything accepted at the edge fits every frame it will
//! travel in, with the largest of everything else the op carries (labels,
//! app id, AAD, the wrapped key, the sealed-data header, the CBOR framing):
//! what is sealed can be unsealed, what is signed can be verified, what is
//! put can be got. Anything larger is refused at the edge with `EINVAL`
//! naming the limit ([`TooLarge`]), before it is read further.
//!
//! keystored, keymintd, the vault, the keychain and `nx` all check against
//! these constants; the tests of this module encode the largest request and
//! reply of every op that carries data and check that each fits a frame.
//!
//! Invariant: `MAX_SEALED_LEN = MAX_PLAINTEXT_LEN + SEALED_OVERHEAD`, and
//! [`SEALED_HEADER_LEN`] and [`KEYMINT_SEAL_OVERHEAD`] are the keystore's
//! sealed-data header and keymint's AEAD framing (the keystore crate
//! checks both at compile time).

use nexus_core::{Coded, ErrorCode};
use std::fmt;

/// The largest frame body either side of any connection accepts.
pub const MAX_FRAME_LEN: usize = wire::MAX_FRAME_LEN;

/// What a frame keeps free beside the one large field an op carries: at
/// most 4 KiB of AAD, three 64-byte ids, a wrapped key, headers and CBOR
/// framing need under 6 KiB; 64 KiB leaves room for what later ops add.
pub const FRAME_RESERVE: usize = 64 * 1024;

/// The largest message `key.sign` signs and `key.verify` checks
/// (983,040 bytes = 960 KiB).
pub const MAX_MESSAGE_LEN: usize = MAX_FRAME_LEN - FRAME_RESERVE;

/// The largest plaintext `key.seal` seals (and `key.unseal` returns).
pub const MAX_PLAINTEXT_LEN: usize = MAX_MESSAGE_LEN;

/// The largest AAD `key.seal` and `key.unseal` bind. AAD binds context (a
/// file name, a record id), not bulk data.
pub const MAX_AAD_LEN: usize = 4096;

/// The keystore's sealed-data header (`"nxs1"` + the key version), which
/// keystored also binds into the AAD it hands keymintd.
pub const SEALED_HEADER_LEN: usize = 8;

/// What keymint's AEAD adds to a plaintext: kind, format, 24-byte nonce,
/// 16-byte tag.
pub const KEYMINT_SEAL_OVERHEAD: usize = 42;

/// What sealing adds to a plaintext: [`SEALED_HEADER_LEN`] +
/// [`KEYMINT_SEAL_OVERHEAD`].
pub const SEALED_OVERHEAD: usize = SEALED_HEADER_LEN + KEYMINT_SEAL_OVERHEAD;

/// The largest sealed blob `key.unseal` accepts: exactly what sealing the
/// largest plaintext gives.
pub const MAX_SEALED_LEN: usize = MAX_PLAINTEXT_LEN + SEALED_OVERHEAD;

/// The largest AAD keymintd binds: the sealed-data header, then the
/// caller's AAD.
pub const MAX_BOUND_AAD_LEN: usize = SEALED_HEADER_LEN + MAX_AAD_LEN;

/// The largest sealed object keymintd opens: the largest plaintext (or
/// vault) sealed by keymint.
pub const MAX_KEYMINT_SEALED_LEN: usize = MAX_PLAINTEXT_LEN + KEYMINT_SEAL_OVERHEAD;

/// The longest vault entry name, in bytes.
pub const MAX_VAULT_NAME_LEN: usize = 255;

/// The largest vault entry value, in bytes.
pub const MAX_VAULT_VALUE_LEN: usize = 64 * 1024;

/// The largest encoded vault of one user (every app's entries, before
/// sealing). keymintd seals the whole vault in one request, so it is a
/// plaintext like any other; a put that would pass it is `EDQUOTA`.
pub const MAX_VAULT_FILE_LEN: usize = MAX_PLAINTEXT_LEN;

/// The most other sessions one `km.session.user` asks about (the vault's
/// sessions of one user instance; it forgets any beyond these).
pub const MAX_SESSION_OTHERS: usize = 256;

/// One limit, by the name the documentation and error messages use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The constant's name, e.g. `MAX_MESSAGE_LEN`.
    pub name: &'static str,
    /// The largest accepted length, in bytes.
    pub max: usize,
}

/// [`MAX_MESSAGE_LEN`].
pub const MESSAGE: Limit = Limit {
    name: "MAX_MESSAGE_LEN",
    max: MAX_MESSAGE_LEN,
};
/// [`MAX_PLAINTEXT_LEN`].
pub const PLAINTEXT: Limit = Limit {
    name: "MAX_PLAINTEXT_LEN",
    max: MAX_PLAINTEXT_LEN,
};
/// [`MAX_AAD_LEN`].
pub const AAD: Limit = Limit {
    name: "MAX_AAD_LEN",
    max: MAX_AAD_LEN,
};
/// [`MAX_SEALED_LEN`].
pub const SEALED: Limit = Limit {
    name: "MAX_SEALED_LEN",
    max: MAX_SEALED_LEN,
};
/// [`MAX_BOUND_AAD_LEN`].
pub const BOUND_AAD: Limit = Limit {
    name: "MAX_BOUND_AAD_LEN",
    max: MAX_BOUND_AAD_LEN,
};
/// [`MAX_KEYMINT_SEALED_LEN`].
pub const KEYMINT_SEALED: Limit = Limit {
    name: "MAX_KEYMINT_SEALED_LEN",
    max: MAX_KEYMINT_SEALED_LEN,
};
/// [`MAX_VAULT_NAME_LEN`].
pub const VAULT_NAME: Limit = Limit {
    name: "MAX_VAULT_NAME_LEN",
    max: MAX_VAULT_NAME_LEN,
};
/// [`MAX_VAULT_VALUE_LEN`].
pub const VAULT_VALUE: Limit = Limit {
    name: "MAX_VAULT_VALUE_LEN",
    max: MAX_VAULT_VALUE_LEN,
};
/// [`MAX_VAULT_FILE_LEN`].
pub const VAULT_FILE: Limit = Limit {
    name: "MAX_VAULT_FILE_LEN",
    max: MAX_VAULT_FILE_LEN,
};

impl Limit {
    /// Refuse `len` bytes of `what` (e.g. `"message"`) if over the limit.
    pub fn check(self, what: &'static str, len: usize) -> Result<(), TooLarge> {
        if len > self.max {
            Err(TooLarge {
                what,
                len,
                limit: self,
            })
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {} bytes", self.name, self.max)
    }
}

/// An input over its limit: `EINVAL`, naming the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {len} bytes; the limit is {limit}")]
pub struct TooLarge {
    /// Which input, e.g. `"plaintext"`.
    pub what: &'static str,
    /// Its length.
    pub len: usize,
    /// The limit it passed.
    pub limit: Limit,
}

impl Coded for TooLarge {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
