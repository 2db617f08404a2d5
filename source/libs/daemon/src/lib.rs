//! nexus-daemon: what every Nexus identity daemon shares, so that each
//! daemon's `main.rs` is a spec and a builder. The process contract it
//! implements is described in `docs/architecture/13-identity-and-keystore.md`.
//!
//! - [`Config`]: the common command line (`--state DIR | --volatile`,
//!   `--policy`, `--run`, `--trust-dir`, `--control-stdin`).
//! - [`Daemon`]: loads the policy (fatal on failure), opens statefs
//!   (durable or volatile), opens the audit log
//!   (`<state>/audit/<svc>.jsonl` or `<run>/audit/<svc>.jsonl`, directory
//!   0700) behind a [`policy::PolicyEngine`], reads endpoints from the
//!   control channel, serves a [`wire::Handler`] on them (and on
//!   `<run>/<svc>.sock` for daemons with a public socket, subjects from the
//!   policy's uid map), prints the ready marker, and stops cleanly on
//!   SIGTERM/SIGINT or when the control channel closes.
//! - [`Upstreams`]: a pool of clients per service (one per lane the
//!   supervisor hands out), renewed when it re-issues endpoints; callers
//!   wait a bounded time, never forever.
//! - [`Damage`]: the damaged records the daemon's libraries reported; said
//!   once each on stderr, and in every `status` reply ([`WithDamage`]).
//! - [`Markers`]: marker lines on stdout, flushed.
//! - [`run`]: all of the above for a `main.rs`.
//! - `testkit` (feature of the same name, tests only): the supervisor's
//!   side of the contract, to run a real daemon binary from a test.
//!
//! Invariants: no fallback modes (a daemon that cannot load its policy,
//! open its state or its audit log exits non-zero); stdout carries markers
//! only; the ready marker is printed only once the daemon really serves.

#![forbid(unsafe_code)]

mod args;
mod audit;
mod control;
mod daemon;
mod damage;
mod error;
mod markers;
mod shutdown;
mod trust_reader;
mod upstreams;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use args::{common_flags, Config, StateChoice};
pub use audit::AuditLog;
pub use control::SERVE;
pub use daemon::{run, run_with, Context, Daemon, Service, Spec};
pub use damage::{Damage, WithDamage};
pub use error::DaemonError;
pub use markers::{ready_line, Markers};
pub use shutdown::{Shutdown, SignalWatcher, StopReason};
pub use trust_reader::TrustReaderError;
pub use upstreams::{
    Call, SingleClient, UpstreamConfig, UpstreamError, UpstreamHandle, Upstreams,
    MAX_CLIENTS_PER_SERVICE,
};
