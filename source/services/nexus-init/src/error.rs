//! The crate's two error domains: a manifest that cannot be used
//! ([`ManifestError`]) and a supervisor that cannot start
//! ([`InitError`]).
//!
//! Messages name services, paths and keys of the manifest only; none of
//! these carries anything a service produced.

use nexus_core::{Coded, ErrorCode, SubjectParseError};
use std::io;
use std::path::PathBuf;

/// Why a manifest was refused. Every variant but [`ManifestError::Read`]
/// is a defect of the file itself (`EINVAL`).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The manifest's path.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// Not TOML, an unknown key, a missing key or a value of the wrong type.
    #[error("manifest is malformed: {0}")]
    Syntax(#[from] toml::de::Error),
    /// `version` is not 1.
    #[error("unsupported manifest version {0} (this init reads version 1)")]
    UnsupportedVersion(i64),
    /// A service name is not 1..=64 bytes of `[A-Za-z0-9._-]` starting with
    /// a letter or digit.
    #[error("bad service name {0:?}")]
    BadName(String),
    /// A service is named `serve` (reserved for server endpoints) or `init`
    /// (init's own socket).
    #[error("service name {0:?} is reserved")]
    ReservedName(String),
    /// Two entries have the same name.
    #[error("service {0:?} is listed twice")]
    DuplicateName(String),
    /// A subject is not `system:<name>`, `app:<id>` or `uid:<n>`.
    #[error("service {service:?} has a bad subject: {reason}")]
    BadSubject {
        /// The service.
        service: String,
        /// Why the subject was refused.
        reason: SubjectParseError,
    },
    /// Two entries share a subject, so a server could not tell them apart.
    #[error("subject {0} is given to more than one service")]
    DuplicateSubject(String),
    /// `binary` is empty or holds a NUL byte.
    #[error("service {0:?} has a bad binary path")]
    BadBinary(String),
    /// An extra argument holds a NUL byte or repeats a flag init passes
    /// itself (`--state`, `--volatile`, `--policy`, `--run`, `--trust-dir`,
    /// `--control-stdin`).
    #[error("service {service:?} has a bad or reserved argument {arg:?}")]
    BadArg {
        /// The service.
        service: String,
        /// The argument.
        arg: String,
    },
    /// `[sockets]` has a bad mode or group.
    #[error("[sockets]: {0}")]
    BadSockets(String),
    /// `ready_marker` is empty or spans lines.
    #[error("service {0:?} has a bad ready marker")]
    BadMarker(String),
    /// `ready_timeout_secs` is 0 or over an hour.
    #[error("service {0:?} has a ready timeout outside 1..=3600 s")]
    BadTimeout(String),
    /// An app sets a key that only daemons have (`restart`, `core`,
    /// `public_socket`, `ready_marker`, `ready_timeout_secs`).
    #[error("app {service:?} sets {key}, which only daemons have")]
    AppOption {
        /// The app.
        service: String,
        /// The key.
        key: &'static str,
    },
    /// `after` names no entry.
    #[error("service {service:?} comes after unknown service {dependency:?}")]
    UnknownDependency {
        /// The service.
        service: String,
        /// The name it depends on.
        dependency: String,
    },
    /// `after` names an app: apps start only on demand.
    #[error("service {service:?} comes after app {app:?}, which is started only on demand")]
    AfterApp {
        /// The service.
        service: String,
        /// The app it names.
        app: String,
    },
    /// The `after` relation has a cycle (listed in order, first repeated
    /// at the end).
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    /// A route names an entry that does not exist.
    #[error("route {from:?} -> {to:?} names unknown service {missing:?}")]
    UnknownRouteEnd {
        /// The calling end.
        from: String,
        /// The serving end.
        to: String,
        /// The end that does not exist.
        missing: String,
    },
    /// A route leads from a service to itself.
    #[error("route from {0:?} to itself")]
    SelfRoute(String),
    /// The same route is listed twice.
    #[error("route {from:?} -> {to:?} is listed twice")]
    DuplicateRoute {
        /// The calling end.
        from: String,
        /// The serving end.
        to: String,
    },
    /// A route's serving end is an app; apps only call.
    #[error("route {from:?} -> {to:?} leads to an app; apps only call services")]
    RouteToApp {
        /// The calling end.
        from: String,
        /// The serving end.
        to: String,
    },
    /// A daemon calls a daemon it does not start after: it would wait
    /// for an upstream that is not running yet.
    #[error("route {from:?} -> {to:?}: {from:?} must come after {to:?}")]
    RouteAgainstOrder {
        /// The calling end.
        from: String,
        /// The serving end.
        to: String,
    },
    /// A route's `lanes` is 0 or over [`crate::manifest::MAX_LANES`].
    #[error("route {from:?} -> {to:?}: lanes must be 1..=8, not {lanes}")]
    BadLanes {
        /// The calling end.
        from: String,
        /// The serving end.
        to: String,
        /// The number given.
        lanes: u64,
    },
    /// A value of the `[restart]` table is out of range.
    #[error("restart policy: {0}")]
    BadRestartPolicy(&'static str),
    /// The file, or the number of entries or routes, is over its cap.
    #[error("manifest too large: {0}")]
    TooLarge(&'static str),
}

impl Coded for ManifestError {
    fn code(&self) -> ErrorCode {
        match self {
            ManifestError::Read { .. } => ErrorCode::Eio,
            _ => ErrorCode::Einval,
        }
    }
}

/// Why the supervisor could not start (before any service runs).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The path of the running executable is unknown, so nothing can be
    /// resolved next to it.
    #[error("cannot find the nexus-init executable: {0}")]
    ExePath(io::Error),
    /// A default file was not found next to the executable.
    #[error("no {what} found (looked for {wanted} in {searched} and its parents)")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The relative path looked for.
        wanted: &'static str,
        /// Where the search started.
        searched: PathBuf,
    },
    /// A service's binary does not exist or is not a regular file.
    #[error("binary of {service} not found at {path}")]
    MissingBinary {
        /// The service.
        service: String,
        /// The resolved path.
        path: PathBuf,
    },
    /// `--selftest` was given but the manifest has no such app.
    #[error("the manifest has no app named {0:?}")]
    NoSuchApp(String),
    /// The state or run directory is not a directory (or is a symlink).
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    /// The state directory belongs to another user.
    #[error("{0} belongs to another user")]
    ForeignOwner(PathBuf),
    /// The manifest opens the sockets to others, but the run directory is
    /// inside the private state directory, where nobody else can reach it.
    #[error(
        "[sockets] lets others connect, but the run directory {run} is inside the private \
         state directory {state}: give --run DIR outside it (e.g. /run/nexus)"
    )]
    RunInsideState {
        /// The run directory.
        run: PathBuf,
        /// The state directory.
        state: PathBuf,
    },
    /// An existing run directory that is shared with everyone (world
    /// writable or sticky, such as /tmp): init would change its mode.
    #[error("{0} is world-writable or sticky: give --run a directory of the stack's own")]
    SharedRunDir(PathBuf),
    /// `[sockets] group` names no group in /etc/group.
    #[error(
        "[sockets] group {0:?} is not in /etc/group (create it with groupadd, or give its number)"
    )]
    UnknownGroup(String),
    /// Creating or checking a directory failed.
    #[error("cannot prepare {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// Signal handlers or the supervisor's threads could not be set up.
    #[error("cannot set up the supervisor: {0}")]
    Setup(io::Error),
    /// The policy file (for the subjects of `init.sock`) was refused.
    #[error("cannot load the policy {path}: {source}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// Why.
        source: policy::PolicyError,
    },
    /// Init's own socket could not be served.
    #[error("cannot serve {path}: {source}")]
    Serve {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: wire::ServerError,
    },
}

impl Coded for InitError {
    fn code(&self) -> ErrorCode {
        match self {
            InitError::Manifest(e) => e.code(),
            InitError::NotFound { .. } | InitError::MissingBinary { .. } => ErrorCode::Enoent,
            InitError::NoSuchApp(_)
            | InitError::NotADirectory(_)
            | InitError::RunInsideState { .. }
            | InitError::SharedRunDir(_)
            | InitError::UnknownGroup(_) => ErrorCode::Einval,
            InitError::ForeignOwner(_) => ErrorCode::Eperm,
            InitError::ExePath(_) | InitError::Dir { .. } | InitError::Setup(_) => ErrorCode::Eio,
            InitError::Policy { source, .. } => source.code(),
            InitError::Serve { source, .. } => source.code(),
        }
    }
}
