//! `nx ssh …`: keys for the SSH agent (nexus-ssh-agent), as clap types.

use clap::Subcommand;
use nexus_core::Label;

/// `nx ssh …`
#[derive(Debug, Subcommand)]
pub enum SshCmd {
    /// Create an Ed25519 key NAME of purpose `ssh` (what nexus-ssh-agent
    /// offers) and print its `authorized_keys` line.
    #[command(after_help = "Example:\n  nx ssh add-key laptop >> ~/.ssh/authorized_keys")]
    AddKey {
        /// The key's name.
        name: Label,
        /// Another purpose (the agent's `--purpose`).
        #[arg(long, default_value = "ssh")]
        purpose: Label,
    },
    /// The keys nexus-ssh-agent offers, one `authorized_keys` line each
    /// (`ssh-ed25519 <key> <app>/<purpose>/<name> v<N>`).
    #[command(after_help = "Examples:\n  nx ssh list\n  nx ssh list --json")]
    List {
        /// Another purpose (the agent's `--purpose`).
        #[arg(long, default_value = "ssh")]
        purpose: Label,
    },
}
