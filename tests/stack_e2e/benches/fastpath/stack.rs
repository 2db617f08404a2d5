//! The real stack for the bench: nexus-init from target/release with the
//! shipped manifest, durable (`--state`) or volatile, and a copy of the
//! shipped policy whose default quotas hold the scale part's 10,000 keys
//! and 1,000 vault entries.

use crate::procs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const DAEMONS: [&str; 6] = [
    "keymintd",
    "keystored",
    "identityd",
    "attestd",
    "bundlemgrd",
    "updated",
];

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// target/release (this bench runs from target/release/deps).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    for b in std::iter::once("nexus-init").chain(DAEMONS) {
        assert!(
            dir.join(b).is_file(),
            "{b} missing from {}: run `cargo build --release --bins` first",
            dir.display()
        );
    }
    dir
}

/// The shipped policy with room for the scale part (and the caller's uid
/// mapped to `system:admin` when it is not root).
pub fn write_policy(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(repo().join("config/policy.toml")).unwrap();
    let mut text: String = shipped
        .lines()
        .map(|l| {
            if l.starts_with("keystore_quota = ") {
                "keystore_quota = { soft_bytes = 67108864, hard_bytes = 134217728, soft_count = 20000, hard_count = 40000 }".to_owned()
            } else if l.starts_with("vault_quota = ") {
                "vault_quota = { soft_bytes = 524288, hard_bytes = 786432, soft_count = 4000, hard_count = 8000 }".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let uid = rustix::process::getuid().as_raw();
    if uid != 0 {
        text += &format!("\n[[uid_map]]\nuid = {uid}\nsubject = \"system:admin\"\n");
    }
    let p = dir.join("policy.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A running nexus-init.
pub struct Stack {
    child: Child,
    pub run: PathBuf,
    /// From spawning nexus-init to its `init: ready` line.
    pub boot: Duration,
}

impl Stack {
    /// Start nexus-init over `dir` (`dir/state` when durable) and wait for
    /// `init: ready`.
    pub fn start(dir: &Path, durable: bool) -> Stack {
        let bins = bin_dir();
        let policy = write_policy(dir);
        let run = dir.join("run");
        let mut cmd = Command::new(bins.join("nexus-init"));
        cmd.arg("--config")
            .arg(repo().join("config/init.toml"))
            .arg("--policy")
            .arg(&policy)
            .arg("--trust-dir")
            .arg(repo().join("config/trust"))
            .arg("--run")
            .arg(&run);
        if durable {
            cmd.arg("--state").arg(dir.join("state"));
        } else {
            cmd.arg("--volatile");
        }
        let t = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining the pipe.
                    continue;
                }
            }
        });
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("no `init: ready` within 60 s");
            if line == "init: ready" {
                break;
            }
        }
        Stack {
            child,
            run,
            boot: t.elapsed(),
        }
    }

    /// Each daemon's resident memory, KiB.
    pub fn rss_kib(&self) -> Vec<(&'static str, u64)> {
        let bins = bin_dir();
        let children = procs::children_of(self.child.id());
        DAEMONS
            .iter()
            .map(|name| {
                let pid = children
                    .iter()
                    .find(|p| p.argv0 == bins.join(name))
                    .map_or(0, |p| p.pid);
                (*name, vm_rss(pid))
            })
            .collect()
    }

    /// Stop with SIGTERM and wait.
    pub fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::Term);
        let _ = self.child.wait();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vm_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
