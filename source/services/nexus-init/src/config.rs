//! The command line and everything resolved from it before a service
//! starts: the manifest, the binaries, the policy and trust paths, the
//! state and run directories.
//!
//! Invariants: every path handed to a child is absolute (children may
//! change directory); every binary a run needs exists before the first
//! one starts; the state and run directories are private (0700) and owned
//! by init's user. The system trust directory is never created here: a
//! missing one must stay a hard failure for the services that read it.

use crate::error::InitError;
use crate::manifest::{Kind, Manifest};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The app `--selftest` runs.
pub const SELFTEST_APP: &str = "selftest-client";

/// Where the default manifest is looked for, relative to the executable's
/// directory or one of its parents.
pub const DEFAULT_MANIFEST: &str = "config/init.toml";
/// Where the default policy is looked for, likewise.
pub const DEFAULT_POLICY: &str = "config/policy.toml";
/// The default system trust directory, next to the policy file.
pub const TRUST_DIR_NAME: &str = "trust";

/// nexus-init's command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "nexus-init",
    about = "Start the Nexus identity services in order, hand out their endpoints, wait until they serve, restart what dies."
)]
pub struct Cli {
    /// The manifest (default: config/init.toml next to the executable or
    /// in one of its parent directories).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The state directory, created 0700 if missing (default: ./state).
    #[arg(long, value_name = "DIR", conflicts_with = "volatile")]
    pub state: Option<PathBuf>,
    /// Run without a state directory: every service runs volatile.
    #[arg(long)]
    pub volatile: bool,
    /// The policy file (default: config/policy.toml found like the
    /// manifest).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The read-only system trust roots (default: trust/ next to the
    /// policy file, i.e. config/trust/).
    #[arg(long = "trust-dir", value_name = "DIR")]
    pub trust_dir: Option<PathBuf>,
    /// After `init: ready`, run the selftest-client app, shut down and exit
    /// with its status.
    #[arg(long)]
    pub selftest: bool,
    /// How long the selftest app may run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub selftest_timeout: u64,
    /// How long a service may take to exit after SIGTERM before it is
    /// killed, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub stop_timeout: u64,
}

/// Where the services keep their state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Under this directory (`--state DIR`).
    Durable(PathBuf),
    /// Nowhere: every service runs with `--volatile`.
    Volatile,
}

/// How exited children are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReapMode {
    /// Wait for our own children only.
    Own,
    /// As PID 1: collect every exited process (orphans included).
    Pid1,
}

/// Everything the supervisor needs, resolved and checked.
#[derive(Debug)]
pub struct Config {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The resolved binary of every entry (manifest order).
    pub binaries: Vec<PathBuf>,
    /// State directory or volatile.
    pub storage: Storage,
    /// The policy file passed to every service.
    pub policy: PathBuf,
    /// The system trust directory passed to every service.
    pub trust_dir: PathBuf,
    /// The app to run once ready, and how long it may take.
    pub selftest: Option<(usize, Duration)>,
    /// SIGTERM-to-SIGKILL grace per service at shutdown.
    pub stop_timeout: Duration,
    /// How children are collected.
    pub reap: ReapMode,
}

impl Config {
    /// Resolve `cli`: `exe` is the running executable, `cwd` the working
    /// directory. `storage` overrides the command line's choice (PID 1
    /// decides from the state disk).
    pub fn resolve(
        cli: &Cli,
        exe: &Path,
        cwd: &Path,
        storage: Option<Storage>,
        reap: ReapMode,
    ) -> Result<Config, InitError> {
        let exe_dir = exe.parent().unwrap_or(Path::new("/"));
        let absolute = |p: &Path| cwd.join(p);
        let manifest_path = match &cli.config {
            Some(p) => absolute(p),
            None => find_up(exe_dir, DEFAULT_MANIFEST, "manifest")?,
        };
        let manifest = Manifest::load(&manifest_path)?;
        let policy = match &cli.policy {
            Some(p) => absolute(p),
            None => find_up(exe_dir, DEFAULT_POLICY, "policy")?,
        };
        let trust_dir = match &cli.trust_dir {
            Some(p) => absolute(p),
            None => policy
                .parent()
                .unwrap_or(Path::new("/"))
                .join(TRUST_DIR_NAME),
        };
        let storage = storage.unwrap_or_else(|| {
            if cli.volatile {
                Storage::Volatile
            } else {
                Storage::Durable(absolute(cli.state.as_deref().unwrap_or(Path::new("state"))))
            }
        });
        let selftest = if cli.selftest {
            let app = manifest
                .index_of(SELFTEST_APP)
                .filter(|&i| manifest.services()[i].kind() == Kind::App)
                .ok_or_else(|| InitError::NoSuchApp(SELFTEST_APP.to_owned()))?;
            Some((app, Duration::from_secs(cli.selftest_timeout)))
        } else {
            None
        };
        let binaries: Vec<PathBuf> = manifest
            .services()
            .iter()
            .map(|s| exe_dir.join(s.binary()))
            .collect();
        let needed = manifest
            .start_order()
            .iter()
            .copied()
            .chain(selftest.map(|(app, _)| app));
        for i in needed {
            let path = &binaries[i];
            if !fs::metadata(path).is_ok_and(|m| m.is_file()) {
                return Err(InitError::MissingBinary {
                    service: manifest.services()[i].name().to_owned(),
                    path: path.clone(),
                });
            }
        }
        Ok(Config {
            manifest,
            binaries,
            storage,
            policy,
            trust_dir,
            selftest,
            stop_timeout: Duration::from_secs(cli.stop_timeout),
            reap,
        })
    }
}

/// `rel` under `start` or the nearest of its parents that has it. Lets the
/// same defaults work from a build tree (`target/debug/nexus-init` finds
/// the repository's `config/`) and from the image (`/init` finds
/// `/config/`).
fn find_up(start: &Path, rel: &'static str, what: &'static str) -> Result<PathBuf, InitError> {
    start
        .ancestors()
        .map(|d| d.join(rel))
        .find(|p| p.is_file())
        .ok_or_else(|| InitError::NotFound {
            what,
            wanted: rel,
            searched: start.to_path_buf(),
        })
}

/// Create `dir` (and missing parents) with mode 0700, or check an existing
/// one: a real directory (not a symlink) owned by this user. An existing
/// directory open to group or others is narrowed to 0700, since the
/// services' state and sockets live below it.
pub fn private_dir(dir: &Path) -> Result<(), InitError> {
    let err = |source| InitError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?,
        Err(e) => return Err(err(e)),
        Ok(_) => {}
    }
    let meta = fs::symlink_metadata(dir).map_err(err)?;
    if !meta.file_type().is_dir() {
        return Err(InitError::NotADirectory(dir.to_path_buf()));
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(InitError::ForeignOwner(dir.to_path_buf()));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexus_core::{Coded, ErrorCode};

    #[test]
    fn private_dir_creates_0700_and_narrows_an_open_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/state");
        private_dir(&dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn test_reject_state_dir_that_is_a_file_or_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let e = private_dir(&file).unwrap_err();
        assert!(matches!(e, InitError::NotADirectory(_)));
        assert_eq!(e.code(), ErrorCode::Einval);

        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = private_dir(&link).unwrap_err();
        assert!(matches!(e, InitError::NotADirectory(_)));
    }

    #[test]
    fn find_up_walks_to_the_parents() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("config")).unwrap();
        fs::create_dir_all(tmp.path().join("target/debug")).unwrap();
        fs::write(tmp.path().join("config/init.toml"), b"").unwrap();
        let found = find_up(
            &tmp.path().join("target/debug"),
            DEFAULT_MANIFEST,
            "manifest",
        );
        assert_eq!(found.unwrap(), tmp.path().join("config/init.toml"));
        let e = find_up(&tmp.path().join("target"), DEFAULT_POLICY, "policy").unwrap_err();
        assert_eq!(e.code(), ErrorCode::Enoent);
    }
}
