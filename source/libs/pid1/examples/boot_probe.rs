//! boot_probe: a stand-in `/init` that exercises every duty of this crate
//! inside the QEMU image and prints one `probe:` marker per proven step.
//!
//! Markers (each printed only when the step really happened):
//! - `probe: early boot ok mounted=[..] already=[..]`
//! - `probe: entropy ready` (or `probe: entropy not ready`)
//! - `probe: state mounted dev=/dev/nvme0n1` or `probe: state volatile (no disk)`
//! - `probe: boot count N persistent|volatile`: a counter record on /state
//!   (statefs record envelope), incremented, written atomically, read back
//! - `probe: reaped pid=P exit=3`: a child (this binary re-run) was collected
//! - `probe: done uptime=S.SSs`, then the machine powers off.
//!
//! Any failure prints `probe: FAIL <what>: <why>` and powers off.

#![forbid(unsafe_code)]

use pid1::{ChildExit, StateMount};
use statefs::{StateFs, StatePath};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

const COUNT_MAGIC: &[u8; 4] = b"NPBC";
const COUNT_VERSION: u16 = 1;
const CHILD_ARG: &str = "--probe-child";
const CHILD_EXIT: i32 = 3;

fn main() {
    if std::env::args().nth(1).as_deref() == Some(CHILD_ARG) {
        std::process::exit(CHILD_EXIT);
    }
    if let Err(msg) = run() {
        println!("probe: FAIL {msg}");
    }
    let _ = std::io::stdout().flush();
    let err = pid1::power_off();
    // Reaching here means the machine is still up; exiting PID 1 makes the
    // kernel panic, which (with panic=-1 and -no-reboot) ends the run.
    println!("probe: FAIL power off: {err}");
}

fn run() -> Result<(), String> {
    let report = pid1::early_boot().map_err(|e| format!("early boot: {e}"))?;
    println!(
        "probe: early boot ok mounted={:?} already={:?}",
        report.mounted, report.already
    );

    match pid1::entropy_ready().map_err(|e| format!("entropy: {e}"))? {
        true => println!("probe: entropy ready"),
        false => println!("probe: entropy not ready"),
    }

    let store = match pid1::mount_state(
        pid1::DEFAULT_STATE_DEVICES,
        Path::new(pid1::STATE_DIR),
        Duration::from_secs(5),
    ) {
        StateMount::Mounted { device } => {
            println!("probe: state mounted dev={}", device.display());
            StateFs::open(Path::new(pid1::STATE_DIR)).map_err(|e| format!("statefs: {e}"))?
        }
        StateMount::NoDisk => {
            println!("probe: state volatile (no disk)");
            StateFs::volatile()
        }
        StateMount::Failed(e) => return Err(format!("state: {e}")),
    };

    let count = bump_boot_count(&store)?;
    let kind = if store.is_volatile() {
        "volatile"
    } else {
        "persistent"
    };
    println!("probe: boot count {count} {kind}");

    reap_one_child()?;

    println!("probe: done uptime={}", uptime());
    Ok(())
}

fn bump_boot_count(store: &StateFs) -> Result<u64, String> {
    let path = StatePath::parse("state:/probe/boot-count").map_err(|e| format!("path: {e}"))?;
    let read = |store: &StateFs| -> Result<Option<u64>, String> {
        match store
            .read_record(&path, COUNT_MAGIC, &[COUNT_VERSION])
            .map_err(|e| format!("read count: {e}"))?
        {
            None => Ok(None),
            Some((_, payload)) => {
                let bytes: [u8; 8] = payload
                    .as_slice()
                    .try_into()
                    .map_err(|_| "read count: payload is not 8 bytes".to_string())?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    };
    let next = read(store)?.unwrap_or(0).saturating_add(1);
    store
        .write_record(&path, COUNT_MAGIC, COUNT_VERSION, &next.to_be_bytes())
        .map_err(|e| format!("write count: {e}"))?;
    match read(store)? {
        Some(n) if n == next => Ok(n),
        other => Err(format!("count read back as {other:?}, wrote {next}")),
    }
}

fn reap_one_child() -> Result<(), String> {
    let child = std::process::Command::new("/proc/self/exe")
        .arg(CHILD_ARG)
        .spawn()
        .map_err(|e| format!("spawn child: {e}"))?;
    let pid = i32::try_from(child.id()).map_err(|_| "child pid out of range".to_string())?;
    // The std handle is dropped unwaited on purpose: the child must be
    // collected by the PID 1 reaper, as an orphan would be.
    drop(child);
    for _ in 0..500 {
        let reaped = pid1::reap_children().map_err(|e| format!("reap: {e}"))?;
        if let Some(r) = reaped.iter().find(|r| r.pid == pid) {
            return match r.exit {
                ChildExit::Exited(code) if i32::try_from(code) == Ok(CHILD_EXIT) => {
                    println!("probe: reaped pid={pid} exit={code}");
                    Ok(())
                }
                other => Err(format!("child {pid} ended {other:?}")),
            };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("child {pid} not reaped within 5 s"))
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(|t| format!("{t}s")))
        .unwrap_or_else(|| "unknown".to_string())
}
