//! How bundlemgrd opens the trust store keystored writes: as a reader, its
//! manifest checked with the trust key from keymintd, and the highest
//! manifest generation seen kept at `state:/bundlemgr/trust-floor` (under bundlemgrd's own
//! state root), so a trust store put back from an older copy is `EIO`.

use nexus_daemon::{Context, DaemonError};
use statefs::{RollbackCounter, StateCounter, StatePath};
use std::path::Path;
use std::sync::Arc;
use trust::{TrustError, TrustStore};

/// Where the highest trust manifest generation seen is kept.
pub const TRUST_FLOOR: &str = "state:/bundlemgr/trust-floor";

/// Why the trust store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The trust key could not be had from keymintd.
    #[error(transparent)]
    Key(#[from] DaemonError),
    /// The store itself (a missing system directory).
    #[error(transparent)]
    Trust(#[from] TrustError),
}

/// Open the trust store over `trust_dir` for this daemon.
pub fn open(ctx: &Context, trust_dir: &Path) -> Result<TrustStore, OpenError> {
    let state = ctx.state().clone();
    let floor: Option<Arc<dyn RollbackCounter>> = if ctx.is_volatile() {
        None
    } else {
        let path = StatePath::parse(TRUST_FLOOR).map_err(|e| TrustError::State(e.into()))?;
        Some(Arc::new(StateCounter::new(state.clone(), path)))
    };
    Ok(TrustStore::open_reader(
        trust_dir,
        state,
        ctx.trust_key()?,
        floor,
    )?)
}
