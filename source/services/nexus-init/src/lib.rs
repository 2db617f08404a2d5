//! nexus-init: the supervisor of the Nexus identity services.
//!
//! It reads the manifest (`config/init.toml`, see [`manifest`]), starts the
//! daemons in dependency order, gives each a control channel on its stdin
//! and hands out one endpoint per route over it (see [`handout`]), waits
//! until each prints its ready marker, restarts what dies with bounded
//! backoff (see [`restart`]; core daemons are never given up after boot),
//! serves `init.status` on `<run>/init.sock` (see [`status`]), and stops
//! everything in reverse order on SIGTERM or SIGINT. With `--selftest` it then runs the selftest app and
//! exits with its status. As PID 1 it first does the image's early boot
//! (see [`early`]). The full description is
//! `docs/architecture/09-nexus-init.md`.
//!
//! Console markers (stdout, one per line): `init: start <svc>`,
//! `init: up <svc>`, `init: ready`, `init: restart <svc> (status …)`,
//! `init: failed <svc> (…)`, `init: selftest exit <code>`,
//! `init: shutdown`, `init: stopped`; every line a child prints on its
//! stdout is forwarded verbatim between them.

#![forbid(unsafe_code)]

pub mod child;
pub mod config;
pub mod console;
pub mod early;
pub mod error;
mod graph;
pub mod handout;
pub mod manifest;
pub mod notify;
pub mod restart;
pub mod rundir;
pub mod status;
pub mod supervisor;

pub use config::{Cli, Config, ReapMode, Storage};
pub use error::{InitError, ManifestError};
pub use manifest::{Kind, Manifest, Route, Service, MAX_LANES};
pub use restart::{Decision, Persistence, RestartPolicy, RestartTracker};

/// Run as an ordinary process (not PID 1): resolve `cli` against the
/// executable's location and the working directory, then supervise.
/// Returns init's exit status.
pub fn run_host(cli: &Cli) -> Result<i32, InitError> {
    let exe = std::env::current_exe().map_err(InitError::ExePath)?;
    let cwd = std::env::current_dir().map_err(InitError::ExePath)?;
    let cfg = Config::resolve(cli, &exe, &cwd, None, ReapMode::Own)?;
    supervisor::run(cfg)
}
