//! The trust store as its readers (bundlemgrd, updated) open it: the
//! files keystored writes, the manifest checked with the trust key from
//! keymintd, and the highest manifest generation seen kept in a record of
//! the reader's own state root, so a trust store put back from an older
//! copy is `EIO`. In volatile mode there is neither key nor floor.

use crate::{Context, DaemonError};
use statefs::{RollbackCounter, StateCounter, StatePath};
use std::path::Path;
use std::sync::Arc;
use trust::{TrustError, TrustStore};

/// Why the trust store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TrustReaderError {
    /// The trust key could not be had from keymintd.
    #[error(transparent)]
    Key(#[from] DaemonError),
    /// The store itself (a missing system directory, a bad floor path).
    #[error(transparent)]
    Trust(#[from] TrustError),
}

impl Context {
    /// Open the trust store over `trust_dir` as a reader, keeping the
    /// manifest floor at `floor` (a `state:/…` path the daemon owns).
    pub fn trust_reader(
        &self,
        trust_dir: &Path,
        floor: &str,
    ) -> Result<TrustStore, TrustReaderError> {
        let state = self.state().clone();
        let counter: Option<Arc<dyn RollbackCounter>> = if self.is_volatile() {
            None
        } else {
            let path = StatePath::parse(floor).map_err(|e| TrustError::State(e.into()))?;
            Some(Arc::new(StateCounter::new(state.clone(), path)))
        };
        Ok(TrustStore::open_reader(
            trust_dir,
            state,
            self.trust_key()?,
            counter,
        )?)
    }
}
