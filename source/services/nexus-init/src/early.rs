//! The PID-1 path: what nexus-init does first when the kernel starts it as
//! `/init` in the image, using the `pid1` crate's duties.
//!
//! Order: mount proc, sysfs and devtmpfs and put the console on fds 0..2;
//! report whether the kernel RNG is ready; mount the state disk at
//! `/state` (no disk: every service runs volatile and says so; a disk that
//! fails to mount stops the boot, never a silent fall-back to volatile);
//! supervise as on a host, collecting orphans too; finally sync and power
//! off. PID 1 must never simply exit (the kernel would panic), so every
//! path ends in [`pid1::power_off`].

use crate::config::{Cli, Config, ReapMode, Storage};
use crate::console::say;
use crate::error::InitError;
use clap::Parser;
use pid1::{Pid1Error, StateMount, StateMountError};
use std::path::Path;
use std::time::Duration;

/// How long to wait for the state disk's device node to appear.
const STATE_DEVICE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
enum BootError {
    #[error("early boot: {0}")]
    EarlyBoot(#[from] Pid1Error),
    #[error("state disk: {0}")]
    State(#[from] StateMountError),
    #[error("command line: {0}")]
    Cli(#[from] clap::Error),
    #[error(transparent)]
    Init(#[from] InitError),
}

/// Boot the image, supervise, power off. Returns only if powering off
/// failed.
pub fn run_as_pid1() {
    match boot_and_supervise() {
        Ok(code) => say(&format!("init: power off (exit {code})")),
        Err(e) => say(&format!("init: FAIL {e}")),
    }
    let err = pid1::power_off();
    say(&format!("init: FAIL power off: {err}"));
}

fn boot_and_supervise() -> Result<i32, BootError> {
    let report = pid1::early_boot()?;
    say(&format!(
        "init: early boot ok (mounted {:?}, already {:?})",
        report.mounted, report.already
    ));
    match pid1::entropy_ready() {
        Ok(true) => say("init: entropy ready"),
        Ok(false) => say("init: entropy not ready (key generation will wait for it)"),
        Err(e) => say(&format!("init: entropy unknown ({e})")),
    }
    let cli = Cli::try_parse()?;
    let storage = if cli.volatile {
        Storage::Volatile
    } else {
        match pid1::mount_state(
            pid1::DEFAULT_STATE_DEVICES,
            Path::new(pid1::STATE_DIR),
            STATE_DEVICE_WAIT,
        ) {
            StateMount::Mounted { device } => {
                say(&format!(
                    "init: state mounted ({} at {})",
                    device.display(),
                    pid1::STATE_DIR
                ));
                Storage::Durable(Path::new(pid1::STATE_DIR).to_path_buf())
            }
            StateMount::NoDisk => {
                say("init: no state disk; every service runs volatile");
                Storage::Volatile
            }
            StateMount::Failed(e) => return Err(e.into()),
        }
    };
    let exe = std::env::current_exe().map_err(InitError::ExePath)?;
    let cfg = Config::resolve(&cli, &exe, Path::new("/"), Some(storage), ReapMode::Pid1)?;
    Ok(crate::supervisor::run(cfg)?)
}
