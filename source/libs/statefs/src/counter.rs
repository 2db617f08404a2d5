//! Monotonic counters that a rollback cannot take back: the trait, and the
//! software implementation.
//!
//! A state root checks its generation against a [`RollbackCounter`]: a
//! root (snapshot and journal) older than the counter is refused. The
//! software implementations keep the counter in a record of the same state
//! directory, so they catch a root put back without its counter, but not
//! the whole directory put back at once; only a counter outside the disk
//! (a TPM NV index, a secure element) can. Readers of records another
//! daemon writes (the trust store) keep the highest generation they have
//! seen in a [`StateCounter`] under their own root.

use crate::path::StatePath;
use crate::store::StateFs;
use crate::StateError;
use std::sync::Mutex;

/// A counter that only goes up.
pub trait RollbackCounter: Send + Sync {
    /// The current value (0 if never advanced).
    fn read(&self) -> Result<u64, StateError>;
    /// Raise the counter to `to`; a lower or equal value changes nothing.
    fn advance(&self, to: u64) -> Result<(), StateError>;
}

const MAGIC: &[u8; 4] = b"NXCT";
const VERSION: u16 = 1;

/// A counter kept as a record (`NXCT` v1, a big-endian u64) at a state
/// path, written through the store (so, under a state root, journaled and
/// itself protected against rollback of that one file).
pub struct StateCounter {
    state: StateFs,
    path: StatePath,
    lock: Mutex<()>,
}

impl std::fmt::Debug for StateCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateCounter({})", self.path)
    }
}

impl StateCounter {
    /// The counter at `path` in `state`.
    pub fn new(state: StateFs, path: StatePath) -> StateCounter {
        StateCounter {
            state,
            path,
            lock: Mutex::new(()),
        }
    }
}

impl RollbackCounter for StateCounter {
    fn read(&self) -> Result<u64, StateError> {
        match self.state.read_record(&self.path, MAGIC, &[VERSION])? {
            None => Ok(0),
            Some((_, payload)) => {
                let b: [u8; 8] =
                    payload
                        .as_slice()
                        .try_into()
                        .map_err(|_| StateError::Corrupt {
                            path: self.path.to_string(),
                            reason: "counter is not 8 bytes",
                        })?;
                Ok(u64::from_be_bytes(b))
            }
        }
    }

    fn advance(&self, to: u64) -> Result<(), StateError> {
        let _g = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if to > self.read()? {
            self.state
                .write_record(&self.path, MAGIC, VERSION, &to.to_be_bytes())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_goes_up() {
        let c = StateCounter::new(StateFs::volatile(), StatePath::parse("state:/c").unwrap());
        assert_eq!(c.read().unwrap(), 0);
        c.advance(5).unwrap();
        c.advance(3).unwrap();
        assert_eq!(c.read().unwrap(), 5);
        c.advance(9).unwrap();
        assert_eq!(c.read().unwrap(), 9);
    }
}
