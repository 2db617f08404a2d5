//! The keymintd watcher: once a second, identityd asks keymintd for its
//! boot id; a new one means keymintd restarted and lost every unsealed
//! session key, so identityd's sessions become locked and keymintd learns
//! them again (as locked) through [`identity::Identity::sync_keymint`].
//! Session operations check the same thing first, so their answers never
//! wait for the watcher; the watcher bounds how long keystored answers a
//! restarted keymintd's "not synced yet" (`ELOCKED` for any id).
//!
//! Invariant: the thread ends when the daemon stops; a failed check (no
//! keymintd right now) is retried at the next tick.

use identity::Identity;
use nexus_daemon::Shutdown;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How often the boot id is checked.
pub const EVERY: Duration = Duration::from_secs(1);

/// Start watching keymintd for `identity` until `shutdown`.
pub fn start(identity: Arc<Identity>, shutdown: Shutdown) -> std::io::Result<()> {
    thread::Builder::new()
        .name("keymintd-watch".into())
        .spawn(move || {
            while shutdown.wait_timeout(EVERY).is_none() {
                // The sync says what it did (identity logs a restart); a
                // keymintd that cannot be asked now is asked next tick.
                let _ = identity.sync_keymint();
            }
        })
        .map(drop)
}
