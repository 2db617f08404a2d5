//! Confirmation of a key's use (`ssh-add -c`): an external helper in the
//! manner of `SSH_ASKPASS`, asked before every signature with such a key.
//!
//! Invariants: no helper configured means no confirmation is possible, so
//! keys that ask for one are refused when added (never added without it);
//! the helper's answer is its exit status only (0 = allow), it gets no
//! secret (the prompt names the key and its fingerprint), and it has at
//! most [`HELPER_TIMEOUT`] to answer before it is killed and the use
//! refused.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a confirmation helper may take.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks a person whether a key may be used.
pub trait Confirm: Send + Sync {
    /// True only if the use was allowed.
    fn confirm(&self, prompt: &str) -> bool;
}

/// A helper program run as `PROGRAM PROMPT` with `SSH_ASKPASS_PROMPT=confirm`
/// (what OpenSSH's ssh-askpass programs expect for a yes/no question).
pub struct Helper {
    program: PathBuf,
    timeout: Duration,
}

impl Helper {
    /// A helper running `program`.
    pub fn new(program: PathBuf) -> Helper {
        Helper {
            program,
            timeout: HELPER_TIMEOUT,
        }
    }

    /// The same with another timeout (tests).
    pub fn with_timeout(mut self, timeout: Duration) -> Helper {
        self.timeout = timeout;
        self
    }
}

impl Confirm for Helper {
    fn confirm(&self, prompt: &str) -> bool {
        let child = Command::new(&self.program)
            .arg(prompt)
            .env("SSH_ASKPASS_PROMPT", "confirm")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                crate::log(&format!(
                    "confirmation helper {} could not run: {e}",
                    self.program.display()
                ));
                return false;
            }
        };
        let until = Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
                _ => {
                    crate::log("confirmation helper did not answer in time; use refused");
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }
}
