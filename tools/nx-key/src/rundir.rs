//! Where the stack's sockets are: `--run DIR`, else `$NEXUS_RUN`, else
//! `/run/nexus` when that directory exists (the stack under systemd),
//! else `./state/run` (the stack started from a checkout with
//! `nexus-init --state ./state`). The same order as `SSH_AUTH_SOCK` or
//! `PARSEC_SERVICE_ENDPOINT` users expect: flag, environment, default.
//!
//! Invariant: every "cannot connect" names the socket tried, where its
//! directory came from, and what to do about it.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The environment variable naming the run directory (nexus-init prints
/// the line that sets it).
pub const RUN_ENV: &str = "NEXUS_RUN";
/// The run directory of the stack under systemd.
pub const SYSTEM_RUN: &str = "/run/nexus";
/// The run directory of `nexus-init --state ./state`.
pub const LOCAL_RUN: &str = "./state/run";

/// Where the run directory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFrom {
    /// `--run DIR`.
    Flag,
    /// `$NEXUS_RUN`.
    Env,
    /// `/run/nexus`, which exists.
    System,
    /// `./state/run`, since `/run/nexus` does not exist.
    Local,
}

impl RunFrom {
    /// How the message of a failed connection says it.
    pub fn describe(self) -> &'static str {
        match self {
            RunFrom::Flag => "given with --run",
            RunFrom::Env => "from $NEXUS_RUN",
            RunFrom::System => "the default: /run/nexus exists",
            RunFrom::Local => "the default: /run/nexus does not exist",
        }
    }
}

/// The run directory: `flag`, else `env` (if not empty), else
/// [`SYSTEM_RUN`] if `is_dir` says it is a directory, else [`LOCAL_RUN`].
pub fn resolve(
    flag: Option<PathBuf>,
    env: Option<OsString>,
    is_dir: impl Fn(&Path) -> bool,
) -> (PathBuf, RunFrom) {
    if let Some(dir) = flag {
        return (dir, RunFrom::Flag);
    }
    if let Some(dir) = env.filter(|v| !v.is_empty()) {
        return (PathBuf::from(dir), RunFrom::Env);
    }
    if is_dir(Path::new(SYSTEM_RUN)) {
        (PathBuf::from(SYSTEM_RUN), RunFrom::System)
    } else {
        (PathBuf::from(LOCAL_RUN), RunFrom::Local)
    }
}

/// The whole message of a failed connection to `<run>/<service>.sock`.
pub fn unreachable_message(
    service: &str,
    source: &std::io::Error,
    run: &Path,
    from: RunFrom,
) -> String {
    let path = run.join(format!("{service}.sock"));
    let what = match source.kind() {
        ErrorKind::PermissionDenied => String::from(
            "you may not connect to it: the stack's sockets are open to its own user and \
             to the group set in its manifest ([sockets] group); ask the administrator to \
             add you to that group, then log in again (README: \"Use it as a non-root app\")",
        ),
        ErrorKind::NotFound | ErrorKind::ConnectionRefused => format!(
            "is the stack running? Start it (`nexus-init --state ./state`, or `systemctl \
             start nexus-identity`), or point nx at the run directory nexus-init printed \
             (`init: run directory DIR`) with --run DIR or {RUN_ENV}=DIR"
        ),
        _ => format!("check that {} is the stack's run directory", run.display()),
    };
    format!(
        "cannot connect to {} ({service}; run directory {}): {source}; {what}",
        path.display(),
        from.describe()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_then_environment_then_system_then_local() {
        let yes = |_: &Path| true;
        let no = |_: &Path| false;
        let flag = Some(PathBuf::from("/f"));
        let env = Some(OsString::from("/e"));
        assert_eq!(
            resolve(flag.clone(), env.clone(), yes),
            (PathBuf::from("/f"), RunFrom::Flag)
        );
        assert_eq!(
            resolve(None, env.clone(), yes),
            (PathBuf::from("/e"), RunFrom::Env)
        );
        assert_eq!(
            resolve(None, Some(OsString::new()), yes),
            (PathBuf::from(SYSTEM_RUN), RunFrom::System)
        );
        assert_eq!(
            resolve(None, None, no),
            (PathBuf::from(LOCAL_RUN), RunFrom::Local)
        );
    }

    #[test]
    fn unreachable_names_the_path_and_what_to_do() {
        let missing = std::io::Error::from(ErrorKind::NotFound);
        let m = unreachable_message("keystored", &missing, Path::new("/e"), RunFrom::Env);
        assert!(m.starts_with("cannot connect to /e/keystored.sock"), "{m}");
        assert!(
            m.contains("from $NEXUS_RUN") && m.contains("--run DIR"),
            "{m}"
        );
        let denied = std::io::Error::from(ErrorKind::PermissionDenied);
        let m = unreachable_message("init", &denied, Path::new("/run/nexus"), RunFrom::System);
        assert!(
            m.contains("/run/nexus/init.sock") && m.contains("[sockets] group"),
            "{m}"
        );
    }
}
