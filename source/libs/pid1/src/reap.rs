//! Reaping: PID 1 inherits every orphaned process and must wait for them,
//! or they stay zombies holding a PID each.
//!
//! Invariant: `reap_children` never blocks; it collects every child that
//! has already exited and returns, so a supervisor can call it from its
//! main loop (for example on SIGCHLD or a tick).

use crate::error::Pid1Error;
use rustix::io::Errno;
use rustix::process::{WaitOptions, WaitStatus};

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    /// It called exit with this status.
    Exited(u32),
    /// It was killed by this signal.
    Signaled(u32),
    /// wait reported some other state (not expected without WUNTRACED).
    Other,
}

/// One collected child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Its process id.
    pub pid: i32,
    /// How it ended.
    pub exit: ChildExit,
}

fn classify(status: WaitStatus) -> ChildExit {
    if let Some(code) = status.exit_status() {
        ChildExit::Exited(code)
    } else if let Some(sig) = status.terminating_signal() {
        ChildExit::Signaled(sig)
    } else {
        ChildExit::Other
    }
}

/// Collect every child that has exited, without blocking. An empty list
/// means none was waiting (or there are no children at all).
pub fn reap_children() -> Result<Vec<Reaped>, Pid1Error> {
    let mut out = Vec::new();
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => out.push(Reaped {
                pid: pid.as_raw_nonzero().get(),
                exit: classify(status),
            }),
            Ok(None) | Err(Errno::CHILD) => return Ok(out),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Pid1Error::Wait(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn reap_until(pid: u32) -> Reaped {
        // The child exits on its own; poll (bounded) until it is a zombie.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = reap_children().unwrap();
            if let Some(r) = got.into_iter().find(|r| r.pid as u32 == pid) {
                return r;
            }
            assert!(Instant::now() < deadline, "child {pid} never reaped");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    // One test spawns all children, so no other test's child is reaped
    // from under it (tests share this process).
    #[test]
    #[allow(
        clippy::zombie_processes,
        reason = "the children are collected by reap_children, the code under test"
    )]
    fn reaps_exited_and_killed_children() {
        let ok = std::process::Command::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        assert_eq!(reap_until(ok.id()).exit, ChildExit::Exited(7));

        let mut killed = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30"])
            .spawn()
            .unwrap();
        let pid = killed.id();
        killed.kill().unwrap();
        assert_eq!(reap_until(pid).exit, ChildExit::Signaled(9));

        // Nothing left: the call returns at once with nothing.
        assert_eq!(reap_children().unwrap(), vec![]);
    }
}
