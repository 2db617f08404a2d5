//! When and why a daemon stops: a one-shot latch, and the SIGTERM/SIGINT
//! watcher that trips it.
//!
//! Invariants: the first reason recorded wins and is never overwritten, so
//! the exit status reflects what actually started the shutdown; signals are
//! handled by signal-hook's self-pipe (no work in the signal handler), on a
//! thread that only trips the latch.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Why the daemon is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGTERM or SIGINT (the signal number).
    Signal(i32),
    /// The supervisor closed the control channel (end of stream).
    ControlClosed,
    /// The control channel failed or lost its framing.
    ControlFailed,
    /// Stopped from inside the process (tests, an embedding program).
    Requested,
}

impl StopReason {
    /// The process exit status for this reason: 0 for an orderly stop,
    /// 1 when the control channel broke.
    pub fn exit_status(self) -> u8 {
        match self {
            StopReason::Signal(_) | StopReason::ControlClosed | StopReason::Requested => 0,
            StopReason::ControlFailed => 1,
        }
    }
}

/// A one-shot latch. Cheap to clone; clones share it.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<(Mutex<Option<StopReason>>, Condvar)>,
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shutdown")
            .field("reason", &self.reason())
            .finish()
    }
}

impl Shutdown {
    /// An untripped latch.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Trip the latch with `reason` (ignored if already tripped).
    pub fn trigger(&self, reason: StopReason) {
        let (m, cv) = &*self.inner;
        let mut r = m.lock().unwrap_or_else(PoisonError::into_inner);
        if r.is_none() {
            *r = Some(reason);
        }
        cv.notify_all();
    }

    /// The reason, if tripped.
    pub fn reason(&self) -> Option<StopReason> {
        *self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Block until tripped.
    pub fn wait(&self) -> StopReason {
        let (m, cv) = &*self.inner;
        let mut r = m.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(reason) = *r {
                return reason;
            }
            r = cv.wait(r).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Block until tripped or `timeout` passed.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<StopReason> {
        let (m, cv) = &*self.inner;
        let r = m.lock().unwrap_or_else(PoisonError::into_inner);
        let (r, _) = cv
            .wait_timeout_while(r, timeout, |r| r.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        *r
    }
}

/// Watches SIGTERM and SIGINT and trips a [`Shutdown`].
pub struct SignalWatcher {
    handle: Handle,
    thread: JoinHandle<()>,
}

impl std::fmt::Debug for SignalWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalWatcher").finish_non_exhaustive()
    }
}

impl SignalWatcher {
    /// Install the handlers and start the watcher thread.
    pub fn start(shutdown: Shutdown) -> io::Result<SignalWatcher> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let handle = signals.handle();
        let thread = thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    shutdown.trigger(StopReason::Signal(sig));
                }
            })?;
        Ok(SignalWatcher { handle, thread })
    }

    /// Stop watching and join the thread.
    pub fn stop(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_wakes_waiters() {
        let s = Shutdown::new();
        assert_eq!(s.wait_timeout(Duration::from_millis(10)), None);
        let waiter = {
            let s = s.clone();
            thread::spawn(move || s.wait())
        };
        s.trigger(StopReason::ControlClosed);
        s.trigger(StopReason::ControlFailed);
        assert_eq!(waiter.join().unwrap(), StopReason::ControlClosed);
        assert_eq!(s.reason(), Some(StopReason::ControlClosed));
        assert_eq!(StopReason::ControlClosed.exit_status(), 0);
        assert_eq!(StopReason::Signal(15).exit_status(), 0);
        assert_eq!(StopReason::ControlFailed.exit_status(), 1);
    }
}
