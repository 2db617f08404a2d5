//! Early boot: the mounts and console a Linux PID 1 must set up itself.
//!
//! When the kernel runs `/init` from an initramfs it mounts nothing for it
//! (Debian's kernels do not auto-mount devtmpfs there), and the standard
//! fds are whatever `/dev/console` node the archive carried, or closed.
//!
//! Invariants: only PID 1 may run this; a mount that is already in place
//! (as listed by the kernel's mountinfo) is left alone, never stacked; after
//! a successful return fds 0, 1 and 2 are the console, without CLOEXEC.

use crate::error::{errno_of, Pid1Error};
use crate::mountinfo;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use std::os::fd::AsRawFd;
use std::path::Path;

/// What [`early_boot`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BootReport {
    /// Mount points this call mounted.
    pub mounted: Vec<&'static str>,
    /// Mount points that already had the right file system.
    pub already: Vec<&'static str>,
}

struct EarlyMount {
    fstype: &'static str,
    target: &'static str,
    flags: MountFlags,
}

// proc comes first: it is what lets the later steps see the mount table.
const EARLY: [EarlyMount; 3] = [
    EarlyMount {
        fstype: "proc",
        target: "/proc",
        flags: MountFlags::NOSUID
            .union(MountFlags::NODEV)
            .union(MountFlags::NOEXEC),
    },
    EarlyMount {
        fstype: "sysfs",
        target: "/sys",
        flags: MountFlags::NOSUID
            .union(MountFlags::NODEV)
            .union(MountFlags::NOEXEC),
    },
    EarlyMount {
        fstype: "devtmpfs",
        target: "/dev",
        flags: MountFlags::NOSUID.union(MountFlags::NOEXEC),
    },
];

/// Whether this process is PID 1.
pub fn is_pid1() -> bool {
    rustix::process::getpid().is_init()
}

/// Mount proc, sysfs and devtmpfs and reopen `/dev/console` on fds 0..2.
pub fn early_boot() -> Result<BootReport, Pid1Error> {
    if !is_pid1() {
        return Err(Pid1Error::NotPid1);
    }
    let mut report = BootReport::default();
    for m in &EARLY {
        if mounted_as(m.target, m.fstype) {
            report.already.push(m.target);
            continue;
        }
        std::fs::create_dir_all(m.target).map_err(|e| Pid1Error::Mount {
            fstype: m.fstype,
            target: m.target,
            errno: errno_of(&e),
        })?;
        match rustix::mount::mount2(Some(m.fstype), m.target, Some(m.fstype), m.flags, None) {
            Ok(()) => report.mounted.push(m.target),
            // EBUSY is how the kernel says "already mounted" for these
            // single-instance file systems; believe it only if the table
            // agrees.
            Err(Errno::BUSY) if mounted_as(m.target, m.fstype) => report.already.push(m.target),
            Err(errno) => {
                return Err(Pid1Error::Mount {
                    fstype: m.fstype,
                    target: m.target,
                    errno,
                })
            }
        }
    }
    reopen_console()?;
    Ok(report)
}

/// True if mountinfo is readable and shows `fstype` visible at `target`.
/// Unreadable (proc not yet mounted) or unparsable means "not known to be
/// mounted", so the caller goes on to mount and the kernel decides.
fn mounted_as(target: &str, fstype: &str) -> bool {
    std::fs::read("/proc/self/mountinfo")
        .ok()
        .and_then(|t| mountinfo::parse(&t).ok())
        .is_some_and(|e| mountinfo::find(&e, Path::new(target)).is_some_and(|m| m.fstype == fstype))
}

fn reopen_console() -> Result<(), Pid1Error> {
    let fd = rustix::fs::open(
        "/dev/console",
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(Pid1Error::Console)?;
    // If fds 0..2 were closed the kernel hands back one of them; dup2 of an
    // fd onto itself would keep CLOEXEC, and dropping it would close the
    // very fd just set up. So move it above 2 first.
    let fd = if fd.as_raw_fd() <= 2 {
        let high = rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(Pid1Error::Console)?;
        drop(fd);
        high
    } else {
        fd
    };
    rustix::stdio::dup2_stdin(&fd).map_err(Pid1Error::Console)?;
    rustix::stdio::dup2_stdout(&fd).map_err(Pid1Error::Console)?;
    rustix::stdio::dup2_stderr(&fd).map_err(Pid1Error::Console)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    #[test]
    fn test_reject_early_boot_outside_pid1() {
        // The test runner is never PID 1; the guard must stop it before any
        // mount is attempted on the host.
        assert!(!is_pid1());
        let err = early_boot().unwrap_err();
        assert!(matches!(err, Pid1Error::NotPid1));
        assert_eq!(err.code(), ErrorCode::Eperm);
    }

    #[test]
    fn mounted_as_reads_the_real_table() {
        // Every Linux host running the tests has proc at /proc; nothing is
        // mounted at a path that does not exist.
        assert!(mounted_as("/proc", "proc"));
        assert!(!mounted_as("/proc", "ext4"));
        assert!(!mounted_as("/nonexistent-mount-point", "proc"));
    }

    #[test]
    fn proc_is_mounted_before_what_needs_the_table() {
        assert_eq!(EARLY[0].fstype, "proc");
        assert!(EARLY.iter().all(|m| m.flags.contains(MountFlags::NOSUID)));
    }
}
