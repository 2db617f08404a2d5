//! Writing one line whole, and the background flusher (group commit
//! within the window, rotation hooks).

use super::{lock, Journal, Shared};
use crate::config::FlushMode;
use crate::AuditError;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::sync::{PoisonError, Weak};
use std::time::{Duration, Instant};

/// One `write(2)` of the whole line; anything less is cut back off.
pub(super) fn write_whole(file: &File, line: &[u8], size: u64) -> Result<(), AuditError> {
    loop {
        match (&*file).write(line) {
            Ok(n) if n == line.len() => return Ok(()),
            Ok(_) => {
                file.set_len(size)?;
                return Err(AuditError::ShortWrite);
            }
            // Nothing was written; trying again cannot split the line.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                // A failed write may still have written a part.
                let _ = file.set_len(size);
                return Err(AuditError::Io(e));
            }
        }
    }
}

/// The flusher: group commit within the window, and rotation hooks.
pub(super) fn flusher(weak: Weak<Shared>) {
    const IDLE: Duration = Duration::from_millis(500);
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let journal = Journal { shared };
        let sh = &journal.shared;
        let mut st = lock(&sh.state);
        if st.closed {
            return;
        }
        if st.rotations != st.hooked {
            st.hooked = st.rotations;
            drop(st);
            if let Some(hook) = lock(&sh.hook).as_ref() {
                hook();
            }
            continue;
        }
        let window = match sh.cfg.flush {
            FlushMode::Group(w) => Some(w),
            _ => None,
        };
        match window {
            Some(w) if st.durable_next < st.pos.next_seq && !st.syncing => {
                let deadline = Instant::now() + w;
                while !st.kicked && !st.closed {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    st = sh
                        .cond
                        .wait_timeout(st, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if st.durable_next < st.pos.next_seq && !st.syncing {
                    let st = journal.sync_locked(st);
                    drop(st);
                }
            }
            _ => {
                let _ = sh
                    .cond
                    .wait_timeout(st, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    }
}
