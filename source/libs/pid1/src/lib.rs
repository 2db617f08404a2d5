//! pid1: the duties of the first userspace process in the Nexus image.
//!
//! The image boots a Linux kernel with an initramfs whose `/init` is ours.
//! The kernel leaves that process with almost nothing: no `/proc`, `/sys` or
//! `/dev` mounted, and standard fds that point at whatever `/dev/console`
//! node the initramfs carried. This crate does the rest, with safe `rustix`
//! calls only:
//!
//! - [`early_boot`]: mount proc, sysfs and devtmpfs (skipping what is already
//!   mounted) and reopen `/dev/console` as fds 0, 1 and 2.
//! - [`mount_state`]: wait briefly for the state disk, mount it ext4 at
//!   `/state`, and say exactly what happened ([`StateMount`]): mounted, no
//!   disk attached (the stack then runs volatile), or failed.
//! - [`entropy_ready`]: whether the kernel RNG is initialised, without
//!   blocking.
//! - [`reap_children`]: collect exited children (PID 1 inherits orphans).
//! - [`power_off`]: sync and power the machine off.
//!
//! Invariants:
//! - Anything that changes the machine (mounts, console, power) first checks
//!   that the caller is PID 1 and refuses otherwise ([`Pid1Error::NotPid1`]),
//!   so a test or a mistaken run on a host cannot remount or power it off.
//! - A result never claims more than was verified: `/state` is reported
//!   mounted only once `/proc/self/mountinfo` shows an ext4 mount there.

#![forbid(unsafe_code)]

mod boot;
mod error;
pub mod mountinfo;
mod power;
mod reap;
mod state;

pub use boot::{early_boot, is_pid1, BootReport};
pub use error::Pid1Error;
pub use power::{entropy_ready, power_off};
pub use reap::{reap_children, ChildExit, Reaped};
pub use state::{
    is_nvme_class, mount_state, StateMount, StateMountError, DEFAULT_STATE_DEVICES, STATE_DIR,
};
