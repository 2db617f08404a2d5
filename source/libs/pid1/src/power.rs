//! Entropy readiness and power-off.
//!
//! Invariants: `entropy_ready` never blocks (GRND_NONBLOCK) and reports
//! "not ready" only for EAGAIN; `power_off` flushes file systems before
//! asking the kernel to power off, and refuses outside PID 1 so it cannot
//! take down a host by mistake.

use crate::boot::is_pid1;
use crate::error::Pid1Error;
use crate::state::STATE_DIR;
use rustix::io::Errno;
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::rand::GetRandomFlags;
use rustix::system::RebootCommand;

/// Whether the kernel's RNG is initialised, asked without blocking.
///
/// getrandom(2) with GRND_NONBLOCK fails with EAGAIN exactly while the pool
/// is not yet initialised; the byte it yields when ready is discarded.
pub fn entropy_ready() -> Result<bool, Pid1Error> {
    let mut byte = [0u8; 1];
    loop {
        return match rustix::rand::getrandom(&mut byte, GetRandomFlags::NONBLOCK) {
            Ok(_) => Ok(true),
            Err(Errno::AGAIN) => Ok(false),
            Err(Errno::INTR) => continue,
            Err(e) => Err(Pid1Error::Random(e)),
        };
    }
}

/// Sync, close the `/state` file system (if mounted) and power the machine
/// off. Returns only if that did not happen, with the reason.
pub fn power_off() -> Pid1Error {
    if !is_pid1() {
        return Pid1Error::NotPid1;
    }
    rustix::fs::sync();
    // The data is on disk after sync; closing /state cleanly as well marks
    // the ext4 journal clean, so the next boot mounts without a replay.
    // Unmount fails if something still holds a file open there; read-only
    // remount is the fallback. Neither failing loses data (the journal
    // covers it), so their errors do not stop the power-off.
    if rustix::mount::unmount(STATE_DIR, UnmountFlags::empty()).is_err() {
        let _ = rustix::mount::mount_remount(STATE_DIR, MountFlags::RDONLY, "");
    }
    match rustix::system::reboot(RebootCommand::PowerOff) {
        Err(e) => Pid1Error::PowerOff(e),
        // reboot(2) does not return on success; if it ever did, the machine
        // is still running and saying otherwise would be a lie.
        Ok(()) => Pid1Error::PowerOff(Errno::IO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    #[test]
    fn host_entropy_is_ready() {
        // Any host that has been up long enough to build this crate has an
        // initialised pool; false here would mean the check is inverted.
        assert!(entropy_ready().unwrap());
    }

    #[test]
    fn test_reject_power_off_outside_pid1() {
        let err = power_off();
        assert!(matches!(err, Pid1Error::NotPid1));
        assert_eq!(err.code(), ErrorCode::Eperm);
    }
}
