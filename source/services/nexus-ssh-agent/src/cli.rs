//! The command line.
//!
//! ```text
//! nexus-ssh-agent --run DIR [--socket PATH] [--purpose LABEL] [--confirm-helper PROGRAM]
//! ```
//!
//! Started by nexus-init, the agent also gets the supervisor's common
//! flags (`--state DIR | --volatile`, `--policy`, `--trust-dir`,
//! `--control-stdin`, and `--socket-mode`/`--socket-group`); it keeps no
//! state and reads no policy (keystored decides what it may do), and its
//! socket is always 0600, so only `--run` and `--control-stdin` matter.
//!
//! Where the socket goes unless `--socket` says: under the supervisor,
//! `<run>/nexus-ssh-agent.sock` (the supervisor checks that file before it
//! declares the agent up); otherwise `$XDG_RUNTIME_DIR/nexus-ssh-agent.sock`,
//! or, without `XDG_RUNTIME_DIR`, a new private directory
//! `$TMPDIR/nexus-ssh-XXXXXX/agent.<pid>` removed at exit (as `ssh-agent`).

use clap::Parser;
use nexus_core::Label;
use std::path::PathBuf;

/// nexus-ssh-agent: an SSH agent whose keys live in the Nexus keystore.
#[derive(Debug, Parser)]
#[command(
    name = "nexus-ssh-agent",
    version,
    after_help = "Prints `SSH_AUTH_SOCK=PATH; export SSH_AUTH_SOCK;` once it listens.\n\
Example:\n  nexus-ssh-agent --run /run/nexus --socket \"$XDG_RUNTIME_DIR/nexus-ssh-agent.sock\"\n\
See docs/tools/nexus-ssh-agent.md."
)]
pub struct Cli {
    /// The stack's runtime directory (keystored's public socket is
    /// <run>/keystored.sock).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// Where to listen (default: see the documentation).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The purpose of the keystore keys the agent offers.
    #[arg(long, value_name = "LABEL", default_value = "ssh")]
    pub purpose: Label,
    /// A program asked to confirm each use of a key added with
    /// `ssh-add -c` (run as `PROGRAM PROMPT`; exit status 0 allows).
    /// Without it such keys are refused.
    #[arg(long, value_name = "PROGRAM")]
    pub confirm_helper: Option<PathBuf>,
    /// stdin is the supervisor's control channel: exit when it closes.
    #[arg(long)]
    pub control_stdin: bool,
    /// Supervisor's common flag (the agent keeps no state).
    #[arg(long, value_name = "DIR", hide = true)]
    pub state: Option<PathBuf>,
    /// Supervisor's common flag (the agent keeps no state).
    #[arg(long, hide = true)]
    pub volatile: bool,
    /// Supervisor's common flag (keystored applies the policy).
    #[arg(long, value_name = "FILE", hide = true)]
    pub policy: Option<PathBuf>,
    /// Supervisor's common flag (unused).
    #[arg(long = "trust-dir", value_name = "DIR", hide = true)]
    pub trust_dir: Option<PathBuf>,
    /// Supervisor's socket flag, unused: the agent's socket is always
    /// 0600, since whoever reaches it signs as the agent's user.
    #[arg(long = "socket-mode", value_name = "OCTAL", hide = true)]
    pub socket_mode: Option<String>,
    /// Supervisor's socket flag, unused (see `--socket-mode`).
    #[arg(long = "socket-group", value_name = "GID", hide = true)]
    pub socket_group: Option<String>,
}
