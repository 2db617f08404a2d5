//! The `/state` disk: find it, mount it, and say exactly what happened.
//!
//! In the image, persistent state lives on an ext4 file system on an NVMe
//! disk (the kernel flavour used builds NVMe in; virtio-blk is a module).
//! The kernel probes NVMe namespaces asynchronously, so the device node may
//! appear in devtmpfs a little after PID 1 starts: we poll for it briefly.
//! PCI enumeration, by contrast, is finished before PID 1 runs, so if no
//! NVMe controller is on the bus there is nothing to wait for.
//!
//! Invariants: [`StateMount::Mounted`] only after the kernel's mount table
//! shows ext4 at the target; [`StateMount::NoDisk`] only when no NVMe
//! controller exists at all; every other outcome (a controller with no
//! namespace, an unformatted or corrupt disk, a node that is not a block
//! device) is [`StateMount::Failed`], never silently volatile.

use crate::boot::is_pid1;
use crate::error::errno_of;
use crate::mountinfo::{self, MountInfoError};
use nexus_core::{Coded, ErrorCode};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the state disk is mounted in the image.
pub const STATE_DIR: &str = "/state";

/// The namespace device QEMU's first NVMe controller shows up as.
pub const DEFAULT_STATE_DEVICES: &[&str] = &["/dev/nvme0n1"];

/// PCI class code of an NVMe controller (mass storage / NVM / NVMe).
const NVME_CLASS: u32 = 0x01_08_02;

const POLL: Duration = Duration::from_millis(10);

/// The outcome of [`mount_state`].
#[derive(Debug)]
pub enum StateMount {
    /// ext4 on `device` is mounted at the target.
    Mounted {
        /// The block device that was mounted.
        device: PathBuf,
    },
    /// No state disk is attached: the stack must run volatile and say so.
    NoDisk,
    /// A disk is (or may be) there but could not be mounted.
    Failed(StateMountError),
}

/// Why a present (or possibly present) state disk was not mounted.
#[derive(Debug, thiserror::Error)]
pub enum StateMountError {
    /// Only PID 1 mounts the state disk.
    #[error("refused: this process is not PID 1")]
    NotPid1,
    /// sysfs is not mounted, so whether a disk exists cannot be known.
    #[error("sysfs is not mounted; cannot tell whether a state disk exists")]
    NoSysfs,
    /// The PCI device list could not be read.
    #[error("reading the PCI device list failed: {0}")]
    Sysfs(Errno),
    /// An NVMe controller exists but no namespace node appeared in time.
    #[error("NVMe controller present but no namespace appeared within {waited_ms} ms")]
    NoNamespace {
        /// How long we waited.
        waited_ms: u64,
    },
    /// The path exists but is not a block device.
    #[error("{0} is not a block device")]
    NotBlockDevice(PathBuf),
    /// The mount point could not be created.
    #[error("creating mount point failed: {0}")]
    MountPoint(Errno),
    /// The kernel refused the mount (unformatted, corrupt, not ext4, …).
    #[error("mounting {device} as ext4 failed: {errno}")]
    Mount {
        /// The device tried.
        device: PathBuf,
        /// The kernel's answer.
        errno: Errno,
    },
    /// mountinfo could not be read.
    #[error("reading mountinfo failed: {0}")]
    MountInfoRead(Errno),
    /// mountinfo could not be parsed.
    #[error(transparent)]
    MountInfo(#[from] MountInfoError),
    /// mount(2) succeeded yet the table shows no ext4 there.
    #[error("mount reported success but no ext4 is visible at the target")]
    NotVisible,
}

impl Coded for StateMountError {
    fn code(&self) -> ErrorCode {
        match self {
            StateMountError::NotPid1 => ErrorCode::Eperm,
            _ => ErrorCode::Eio,
        }
    }
}

/// What the wait loop should do next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Mount(PathBuf),
    NoDisk,
    GiveUp,
    Wait,
}

fn next_step(found: Option<PathBuf>, controller_present: bool, timed_out: bool) -> Step {
    match (found, controller_present, timed_out) {
        (Some(dev), _, _) => Step::Mount(dev),
        (None, false, _) => Step::NoDisk,
        (None, true, true) => Step::GiveUp,
        (None, true, false) => Step::Wait,
    }
}

/// Whether a sysfs PCI `class` file's contents (`0x010802\n`) name an NVMe
/// controller. Anything malformed is "no".
pub fn is_nvme_class(text: &str) -> bool {
    text.trim()
        .strip_prefix("0x")
        .filter(|h| h.len() == 6)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        == Some(NVME_CLASS)
}

fn nvme_controller_present(sys: &Path) -> Result<bool, StateMountError> {
    if !sys.join("bus").is_dir() {
        return Err(StateMountError::NoSysfs);
    }
    let devices = match std::fs::read_dir(sys.join("bus/pci/devices")) {
        Ok(d) => d,
        // A machine with no PCI bus has no NVMe controller.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StateMountError::Sysfs(errno_of(&e))),
    };
    for dev in devices {
        let dev = dev.map_err(|e| StateMountError::Sysfs(errno_of(&e)))?;
        // A device without a readable class file is not one we can use.
        if let Ok(class) = std::fs::read_to_string(dev.path().join("class")) {
            if is_nvme_class(&class) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn first_present(devices: &[&str]) -> Result<Option<PathBuf>, StateMountError> {
    for d in devices {
        match std::fs::metadata(d) {
            Ok(m) if m.file_type().is_block_device() => return Ok(Some(PathBuf::from(d))),
            Ok(_) => return Err(StateMountError::NotBlockDevice(PathBuf::from(d))),
            Err(_) => {}
        }
    }
    Ok(None)
}

fn ext4_at(target: &Path) -> Result<Option<PathBuf>, StateMountError> {
    let text = std::fs::read("/proc/self/mountinfo")
        .map_err(|e| StateMountError::MountInfoRead(errno_of(&e)))?;
    let entries = mountinfo::parse(&text)?;
    Ok(mountinfo::find(&entries, target)
        .filter(|m| m.fstype == "ext4")
        .map(|m| PathBuf::from(&m.source)))
}

/// Wait up to `wait` for one of `devices` (NVMe namespace nodes) to appear
/// and mount it as ext4 at `target` (nosuid, nodev, noexec).
///
/// Needs proc, sysfs and devtmpfs mounted ([`crate::early_boot`]).
pub fn mount_state(devices: &[&str], target: &Path, wait: Duration) -> StateMount {
    match try_mount_state(devices, target, wait) {
        Ok(outcome) => outcome,
        Err(e) => StateMount::Failed(e),
    }
}

fn try_mount_state(
    devices: &[&str],
    target: &Path,
    wait: Duration,
) -> Result<StateMount, StateMountError> {
    if !is_pid1() {
        return Err(StateMountError::NotPid1);
    }
    if let Some(device) = ext4_at(target)? {
        return Ok(StateMount::Mounted { device });
    }
    let controller = nvme_controller_present(Path::new("/sys"))?;
    let start = Instant::now();
    let device = loop {
        let found = first_present(devices)?;
        match next_step(found, controller, start.elapsed() >= wait) {
            Step::Mount(dev) => break dev,
            Step::NoDisk => return Ok(StateMount::NoDisk),
            Step::GiveUp => {
                return Err(StateMountError::NoNamespace {
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                })
            }
            Step::Wait => std::thread::sleep(POLL),
        }
    };
    std::fs::create_dir_all(target).map_err(|e| StateMountError::MountPoint(errno_of(&e)))?;
    let flags = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    rustix::mount::mount2(Some(&device), target, Some("ext4"), flags, None).map_err(|errno| {
        StateMountError::Mount {
            device: device.clone(),
            errno,
        }
    })?;
    match ext4_at(target)? {
        Some(_) => Ok(StateMount::Mounted { device }),
        None => Err(StateMountError::NotVisible),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        let dev = || Some(PathBuf::from("/dev/nvme0n1"));
        // A device found is mounted whatever else holds.
        assert_eq!(
            next_step(dev(), true, true),
            Step::Mount(PathBuf::from("/dev/nvme0n1"))
        );
        assert_eq!(
            next_step(dev(), false, false),
            Step::Mount(PathBuf::from("/dev/nvme0n1"))
        );
        // No controller: volatile at once, no waiting.
        assert_eq!(next_step(None, false, false), Step::NoDisk);
        // A controller without a namespace: wait, then fail (never volatile).
        assert_eq!(next_step(None, true, false), Step::Wait);
        assert_eq!(next_step(None, true, true), Step::GiveUp);
    }

    #[test]
    fn nvme_class_is_recognised() {
        assert!(is_nvme_class("0x010802\n"));
        assert!(is_nvme_class("0x010802"));
        assert!(is_nvme_class("  0x010802  \n"));
    }

    #[test]
    fn other_classes_and_junk_are_not_nvme() {
        for s in [
            "0x010601\n", // AHCI
            "0x010000\n", // SCSI
            "0x020000\n", // Ethernet
            "010802\n",   // no prefix
            "0x10802\n",  // short
            "0x0108020\n",
            "0x01080z\n",
            "",
            "0x",
        ] {
            assert!(!is_nvme_class(s), "{s:?}");
        }
    }

    #[test]
    fn controller_scan_reads_a_sysfs_shaped_tree() {
        let sys = tempfile::tempdir().unwrap();
        let pci = sys.path().join("bus/pci/devices");
        for (dev, class) in [
            ("0000:00:01.0", "0x060100\n"),
            ("0000:00:02.0", "0x020000\n"),
        ] {
            std::fs::create_dir_all(pci.join(dev)).unwrap();
            std::fs::write(pci.join(dev).join("class"), class).unwrap();
        }
        assert!(!nvme_controller_present(sys.path()).unwrap());
        std::fs::create_dir_all(pci.join("0000:00:04.0")).unwrap();
        std::fs::write(pci.join("0000:00:04.0/class"), "0x010802\n").unwrap();
        assert!(nvme_controller_present(sys.path()).unwrap());
    }

    #[test]
    fn no_pci_bus_means_no_controller() {
        let sys = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(sys.path().join("bus")).unwrap();
        assert!(!nvme_controller_present(sys.path()).unwrap());
    }

    #[test]
    fn test_reject_unmounted_sysfs() {
        // An empty directory is what /sys looks like before sysfs is
        // mounted: that must not read as "no disk".
        let sys = tempfile::tempdir().unwrap();
        let err = nvme_controller_present(sys.path()).unwrap_err();
        assert!(matches!(err, StateMountError::NoSysfs));
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_non_block_device() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("nvme0n1");
        std::fs::write(&f, b"").unwrap();
        let f = f.to_str().unwrap();
        let missing = dir.path().join("absent");
        let missing = missing.to_str().unwrap();
        assert!(first_present(&[missing]).unwrap().is_none());
        let err = first_present(&[missing, f]).unwrap_err();
        assert!(matches!(err, StateMountError::NotBlockDevice(_)));
        assert_eq!(err.code(), ErrorCode::Eio);
    }

    #[test]
    fn test_reject_mount_state_outside_pid1() {
        let dir = tempfile::tempdir().unwrap();
        match mount_state(DEFAULT_STATE_DEVICES, dir.path(), Duration::ZERO) {
            StateMount::Failed(e) => {
                assert!(matches!(e, StateMountError::NotPid1));
                assert_eq!(e.code(), ErrorCode::Eperm);
            }
            other => panic!("expected refusal, got {other:?}"),
        }
    }
}
