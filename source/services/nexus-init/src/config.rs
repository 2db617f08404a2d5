//! The command line and everything resolved from it before a service
//! starts: the manifest, the binaries, the policy and trust paths, the
//! state and run directories.
//!
//! Invariants: every path handed to a child is absolute (children may
//! change directory); every binary a run needs exists before the first
//! one starts; the state directory is private (0700) and owned by init's
//! user; a run directory that others may enter (see [`crate::rundir`]) is
//! never inside the state directory. The system trust directory is never
//! created here: a missing one must stay a hard failure for the services
//! that read it.
//!
//! Where the configuration comes from, without `--config`/`--policy`:
//! `/etc/nexus/` when it holds `init.toml` (an installed system), else the
//! nearest `config/` holding `init.toml` in the executable's directory or
//! one of its parents (the build tree, and `/config/` in the image). Both
//! files come from the same directory.

use crate::error::InitError;
use crate::manifest::{Kind, Manifest};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The app `--selftest` runs.
pub const SELFTEST_APP: &str = "selftest-client";

/// The configuration directory of an installed system, looked at first.
pub const ETC_DIR: &str = "/etc/nexus";
/// The manifest's file name in a configuration directory.
pub const MANIFEST_NAME: &str = "init.toml";
/// The policy's file name in a configuration directory.
pub const POLICY_NAME: &str = "policy.toml";
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
    /// The manifest (default: /etc/nexus/init.toml if it exists, else
    /// config/init.toml next to the executable or in one of its parent
    /// directories).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The state directory, created 0700 if missing (default: ./state).
    #[arg(long, value_name = "DIR", conflicts_with = "volatile")]
    pub state: Option<PathBuf>,
    /// The run directory holding the public sockets (default: <state>/run,
    /// or a temporary directory with --volatile). Sockets that others may
    /// reach ([sockets] in the manifest) need one outside the state
    /// directory, such as /run/nexus.
    #[arg(long, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Run without a state directory: every service runs volatile.
    #[arg(long)]
    pub volatile: bool,
    /// The policy file (default: policy.toml beside the default manifest).
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
    /// `--run DIR` (absolute), if given.
    pub run: Option<PathBuf>,
    /// The gid of `[sockets] group`, looked up once at start.
    pub socket_gid: Option<u32>,
    /// The manifest file read.
    pub manifest_path: PathBuf,
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
        Config::resolve_in(cli, exe, cwd, storage, reap, Path::new(ETC_DIR))
    }

    /// [`Config::resolve`] with the installed configuration directory at
    /// `etc` instead of `/etc/nexus` (tests).
    pub fn resolve_in(
        cli: &Cli,
        exe: &Path,
        cwd: &Path,
        storage: Option<Storage>,
        reap: ReapMode,
        etc: &Path,
    ) -> Result<Config, InitError> {
        let exe_dir = exe.parent().unwrap_or(Path::new("/"));
        let absolute = |p: &Path| cwd.join(p);
        let config_dir = config_dir(etc, exe_dir);
        let manifest_path = match (&cli.config, &config_dir) {
            (Some(p), _) => absolute(p),
            (None, Some(dir)) => dir.join(MANIFEST_NAME),
            (None, None) => find_up(exe_dir, DEFAULT_MANIFEST, "manifest")?,
        };
        let manifest = Manifest::load(&manifest_path)?;
        let policy = match (&cli.policy, &config_dir) {
            (Some(p), _) => absolute(p),
            (None, Some(dir)) => dir.join(POLICY_NAME),
            (None, None) => find_up(exe_dir, DEFAULT_POLICY, "policy")?,
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
        let run = cli.run.as_deref().map(absolute);
        let socket_gid = manifest
            .sockets()
            .group
            .as_ref()
            .map(|g| crate::rundir::resolve_group(g, Path::new(crate::rundir::GROUP_FILE)))
            .transpose()?;
        if let (Storage::Durable(state), true) = (&storage, manifest.sockets().is_shared()) {
            let run_path = run.clone().unwrap_or_else(|| state.join("run"));
            if run_path.starts_with(state) {
                return Err(InitError::RunInsideState {
                    run: run_path,
                    state: state.clone(),
                });
            }
        }
        Ok(Config {
            manifest,
            manifest_path,
            binaries,
            storage,
            run,
            socket_gid,
            policy,
            trust_dir,
            selftest,
            stop_timeout: Duration::from_secs(cli.stop_timeout),
            reap,
        })
    }
}

/// The default configuration directory: `etc` if it holds the manifest,
/// else the nearest `config/` holding one next to the executable.
fn config_dir(etc: &Path, exe_dir: &Path) -> Option<PathBuf> {
    if etc.join(MANIFEST_NAME).is_file() {
        return Some(etc.to_path_buf());
    }
    find_up(exe_dir, DEFAULT_MANIFEST, "manifest")
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
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
    fn the_installed_configuration_comes_first_then_the_build_tree() {
        use clap::Parser;
        let tmp = tempfile::tempdir().unwrap();
        let (etc, tree) = (tmp.path().join("etc/nexus"), tmp.path().join("tree"));
        let manifest = "version = 1\n";
        for dir in [&etc, &tree.join("config")] {
            fs::create_dir_all(dir).unwrap();
            fs::write(dir.join(MANIFEST_NAME), manifest).unwrap();
            fs::write(dir.join(POLICY_NAME), "").unwrap();
        }
        fs::create_dir_all(tree.join("target/debug")).unwrap();
        let exe = tree.join("target/debug/nexus-init");
        let cli = Cli::parse_from(["nexus-init"]);
        let resolve =
            || Config::resolve_in(&cli, &exe, tmp.path(), None, ReapMode::Own, &etc).unwrap();
        let c = resolve();
        assert_eq!(c.manifest_path, etc.join(MANIFEST_NAME));
        assert_eq!(c.policy, etc.join(POLICY_NAME));
        assert_eq!(c.trust_dir, etc.join(TRUST_DIR_NAME));
        fs::remove_file(etc.join(MANIFEST_NAME)).unwrap();
        let c = resolve();
        assert_eq!(c.manifest_path, tree.join("config").join(MANIFEST_NAME));
        assert_eq!(c.policy, tree.join("config").join(POLICY_NAME));
        assert_eq!(c.storage, Storage::Durable(tmp.path().join("state")));
    }

    #[test]
    fn test_reject_shared_sockets_in_the_private_state_directory() {
        use clap::Parser;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("config");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join(MANIFEST_NAME),
            "version = 1\n[sockets]\nmode = \"0666\"\n",
        )
        .unwrap();
        let exe = tmp.path().join("nexus-init");
        let etc = tmp.path().join("no-etc");
        let resolve = |args: &[&str]| {
            let cli = Cli::parse_from(std::iter::once("nexus-init").chain(args.iter().copied()));
            Config::resolve_in(&cli, &exe, tmp.path(), None, ReapMode::Own, &etc)
        };
        for args in [
            &["--state", "s"][..],
            &["--state", "s", "--run", "s/sockets"],
        ] {
            let e = resolve(args).unwrap_err();
            assert!(matches!(e, InitError::RunInsideState { .. }), "{e}");
            assert_eq!(e.code(), ErrorCode::Einval);
            assert!(e.to_string().contains("--run"), "{e}");
        }
        let ok = resolve(&["--state", "s", "--run", "r"]).unwrap();
        assert_eq!(ok.run, Some(tmp.path().join("r")));
        resolve(&["--volatile"]).unwrap();
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
