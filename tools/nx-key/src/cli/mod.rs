//! The command line, as clap derive types. Parsing only: every value that
//! has an invariant (labels, user ids, session ids, kids, algorithms) is
//! parsed into its validated type here, so a bad value is a usage error
//! (exit 2) before anything is sent.

mod audit;
mod key;
mod keyfmt;
mod other;
mod ssh;

pub use audit::{AuditCmd, AuditScope};
pub use key::{KeyCmd, TrustCmd, TrustFileArgs};
pub use keyfmt::{ExportPublicArgs, ImportArgs, KeyIdArg, PublicFormat, SignForm};
pub use other::{ArtifactArgs, AttestCmd, AttestSub, BundleCmd, UpdateCmd};
pub use ssh::SshCmd;

use clap::{Args, Parser, Subcommand};
use nexus_core::UserId;
use std::path::PathBuf;

/// nx: keys, the trust store, the vault, sessions, users, attestation,
/// bundles and updates of the Nexus identity subsystem.
#[derive(Debug, Parser)]
#[command(
    name = "nx",
    version,
    after_help = "Exit status: 0 ok; 1 service unreachable; 2 usage error; \
10-19 a service (or offline check) refused with EPERM, ENOENT, EALREADY, \
EKEYREVOKED, EDQUOTA, ELOCKED, EINVAL, EBUSY, EAGAIN, EIO.\n\
Errors are printed as `nx: <CODE>: <message>` on stderr.\n\
See docs/tools/nx-key.md for every command and its --json output."
)]
pub struct Cli {
    /// Directory holding the services' public sockets (<svc>.sock).
    #[arg(long, global = true, value_name = "DIR", default_value = "./state/run")]
    pub run: PathBuf,
    /// Print machine-readable JSON (one object, stable field names).
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keys in your app's keystore namespace, and the trust store.
    #[command(subcommand)]
    Key(KeyCmd),
    /// The per-user vault (needs a session id from `nx session login`).
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Log in, lock, unlock, log out.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Manage users (needs identity.user.admin).
    #[command(subcommand)]
    User(UserCmd),
    /// Request an attestation token, or verify one offline.
    Attest(AttestCmd),
    /// Sign a bundle offline; install, uninstall, list bundles.
    #[command(subcommand)]
    Bundle(BundleCmd),
    /// Sign an update offline; stage, commit, roll back, status.
    #[command(subcommand)]
    Update(UpdateCmd),
    /// Status of every service.
    #[command(after_help = "Example:\n  nx --run ./state/run status --json")]
    Status,
    /// Measure the running services: sign rate, vault and attest latency.
    Bench(BenchArgs),
    /// Keys for the SSH agent (nexus-ssh-agent): create, list as
    /// authorized_keys lines.
    #[command(subcommand)]
    Ssh(SshCmd),
    /// Check or read the audit logs of a state directory (offline).
    #[command(subcommand)]
    Audit(AuditCmd),
}

/// Where the session id comes from. Never the command line: argv is
/// readable by every local user (`/proc/<pid>/cmdline`) and lands in shell
/// history. In order: `--sid-file FILE`, else `$NEXUS_SID`, else the first
/// line of stdin (then a password or value read from stdin follows it).
#[derive(Debug, Args)]
pub struct Sid {
    /// Read the session id (from `nx session login`) from the first line
    /// of FILE. Without it: $NEXUS_SID, else the first line of stdin.
    #[arg(long, value_name = "FILE")]
    pub sid_file: Option<PathBuf>,
}

/// Where a password comes from.
#[derive(Debug, Args)]
pub struct PasswordSource {
    /// Read the password from the first line of FILE instead of stdin.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `nx vault …`
#[derive(Debug, Subcommand)]
pub enum VaultCmd {
    /// Store a value (from --in FILE or stdin) under NAME.
    #[command(
        after_help = "Example:\n  printf 's3cret' | NEXUS_SID=$SID nx vault put db-password"
    )]
    Put {
        /// The entry's name.
        name: String,
        #[command(flatten)]
        sid: Sid,
        /// Read the value from FILE instead of stdin.
        #[arg(long = "in", value_name = "FILE")]
        input: Option<PathBuf>,
    },
    /// Print the value under NAME (raw bytes) or write it to --out FILE.
    #[command(
        after_help = "Example:\n  nx vault get db-password --sid-file ~/.nx-sid --out pw.bin"
    )]
    Get {
        /// The entry's name.
        name: String,
        #[command(flatten)]
        sid: Sid,
        /// Write the value to FILE (created with mode 0600).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Delete NAME.
    #[command(after_help = "Example:\n  nx vault del db-password --sid-file ~/.nx-sid")]
    Del {
        /// The entry's name.
        name: String,
        #[command(flatten)]
        sid: Sid,
    },
    /// List the names stored for this session's user and your app.
    #[command(after_help = "Example:\n  NEXUS_SID=$SID nx vault list --json")]
    List {
        #[command(flatten)]
        sid: Sid,
    },
}

/// `nx session …`
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Log USER in (password from stdin or --password-file); prints the sid.
    #[command(
        after_help = "Example:\n  (umask 077; nx session login alice --password-file ~/.pw > ~/.nx-sid)"
    )]
    Login {
        /// The user.
        user: UserId,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Lock the session (vault calls then fail with ELOCKED).
    #[command(after_help = "Example:\n  nx session lock --sid-file ~/.nx-sid")]
    Lock {
        #[command(flatten)]
        sid: Sid,
    },
    /// Unlock the session with the user's password.
    #[command(after_help = "Example:\n  nx session unlock --sid-file ~/.nx-sid < ~/.pw")]
    Unlock {
        #[command(flatten)]
        sid: Sid,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// End the session.
    #[command(after_help = "Example:\n  nx session logout --sid-file ~/.nx-sid")]
    Logout {
        #[command(flatten)]
        sid: Sid,
    },
    /// Whose session it is and whether it is locked.
    #[command(after_help = "Example:\n  NEXUS_SID=$SID nx session status --json")]
    Status {
        #[command(flatten)]
        sid: Sid,
    },
}

/// `nx user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create USER (password from stdin or --password-file).
    #[command(after_help = "Example:\n  nx user create alice --password-file ~/.pw")]
    Create {
        /// The user.
        user: UserId,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Delete USER and their vault.
    #[command(after_help = "Example:\n  nx user delete alice")]
    Delete {
        /// The user.
        user: UserId,
    },
    /// List users.
    #[command(after_help = "Example:\n  nx user list --json")]
    List,
    /// Change USER's password: old and new password, one per line on stdin,
    /// or from --old-password-file and --new-password-file.
    #[command(
        after_help = "Example:\n  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | nx user passwd alice"
    )]
    Passwd {
        /// The user.
        user: UserId,
        /// The old password's file.
        #[arg(long, value_name = "FILE", requires = "new_password_file")]
        old_password_file: Option<PathBuf>,
        /// The new password's file.
        #[arg(long, value_name = "FILE", requires = "old_password_file")]
        new_password_file: Option<PathBuf>,
    },
}

/// `nx bench`
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  nx bench --duration 5 --sid-file ~/.nx-sid --json\n  \
nx bench --duration 5 --create-user nx-bench --password-file ~/.pw"
)]
pub struct BenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Use the session whose id is the first line of FILE for the vault
    /// part (without this, --login or --create-user: $NEXUS_SID if set).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["login", "create_user"])]
    pub sid_file: Option<PathBuf>,
    /// Log this user in for the vault part (password from stdin or
    /// --password-file).
    #[arg(long, value_name = "USER", conflicts_with = "create_user")]
    pub login: Option<UserId>,
    /// Create this user for the vault part (needs identity.user.admin),
    /// log in, and delete it at the end.
    #[arg(long, value_name = "USER")]
    pub create_user: Option<UserId>,
    #[command(flatten)]
    pub password: PasswordSource,
    /// Parallel clients for the second sign measurement.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(2..=64))]
    pub clients: u64,
}
