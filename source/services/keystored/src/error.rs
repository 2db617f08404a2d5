//! Why keystored could not start. (Request errors are the domain crates'
//! own errors, turned into wire errors by their stable codes.)

use nexus_core::{Coded, ErrorCode};

/// A start-up failure; each is fatal (exit status 1), never a fallback.
#[derive(Debug, thiserror::Error)]
pub enum KeystoredError {
    /// keymintd did not answer `km.device` within the start-up wait.
    #[error("keymintd did not answer km.device: {0}")]
    Keymint(#[from] keymint::KeyMintError),
    /// The trust store could not be opened (missing system directory,
    /// damaged entry).
    #[error("cannot open the trust store: {0}")]
    Trust(#[from] trust::TrustError),
    /// The command line had no `--trust-dir` (the spec requires one, so
    /// this only happens when embedding).
    #[error("no --trust-dir given")]
    NoTrustDir,
    /// A key from keymintd (the trust key) could not be had.
    #[error("{0}")]
    Setup(Box<dyn std::error::Error + Send + Sync>),
}

impl Coded for KeystoredError {
    fn code(&self) -> ErrorCode {
        match self {
            KeystoredError::Keymint(e) => e.code(),
            KeystoredError::Trust(e) => e.code(),
            KeystoredError::NoTrustDir => ErrorCode::Einval,
            KeystoredError::Setup(_) => ErrorCode::Eio,
        }
    }
}
