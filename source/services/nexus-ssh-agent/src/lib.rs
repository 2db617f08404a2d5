//! nexus-ssh-agent: the SSH agent protocol served from the keystore, so
//! that unmodified `ssh`, `ssh-add`, `ssh-keygen -Y` and `git` sign with
//! Ed25519 keys that never leave keymintd.
//!
//! The agent is an ordinary client of keystored over its public socket:
//! its subject comes from its own uid through the policy file, exactly as
//! for any app, and it holds no key material. Identities are the subject's
//! active Ed25519 keys of one purpose (default `ssh`); a signature is a
//! `key.sign`, which keystored authorizes and audits. See
//! docs/tools/nexus-ssh-agent.md for the protocol subset and what is
//! refused.
//!
//! Crates for the SSH formats: RustCrypto's `ssh-key` (key blobs,
//! signature blobs, fingerprints, `authorized_keys` lines, the check that
//! an added key's halves agree) and `ssh-encoding` (its encoder), built
//! with Ed25519 only: both are maintained by the RustCrypto project with
//! the `ed25519-dalek` the workspace already uses, and without their RSA
//! and ECDSA features they add three small crates to the build.
//! `ssh-agent-lib` was not taken: it brings tokio and an async service
//! model, a large tree for a daemon that serves a handful of local
//! connections with one thread each. The message reader is the small strict
//! [`proto::cursor`] (see there why not `ssh_encoding::Decode`).
//!
//! Modules: [`proto`] (messages), [`frame`] (lengths on the stream),
//! [`agent`] (answers), [`added`] (ADD_IDENTITY and its constraints),
//! [`identities`] (keystore keys as SSH identities), [`lock`],
//! [`confirm`], [`bind`] (session-bind@openssh.com), [`backend`] (the
//! keystore), [`socket`], [`server`], [`cli`], [`run`] (the process).
//!
//! Invariants: no private key byte, passphrase or signed data in a log
//! line; one connection's malformed input never affects another; every
//! refusal is `SSH_AGENT_FAILURE` (or `SSH_AGENT_EXTENSION_FAILURE` for an
//! unknown extension) with one log line that says why.

#![forbid(unsafe_code)]

pub mod added;
pub mod agent;
pub mod backend;
pub mod bind;
pub mod cli;
pub mod confirm;
pub mod frame;
pub mod identities;
pub mod lock;
pub mod proto;
pub mod run;
pub mod server;
pub mod socket;

#[cfg(test)]
mod tests;

pub use agent::{Agent, AgentConfig, Connection};
pub use backend::{ImportError, KeyBackend, KeychainBackend};

/// Log one line on stderr (the supervisor's or the terminal's).
pub fn log(line: &str) {
    eprintln!("nexus-ssh-agent: {line}");
}
