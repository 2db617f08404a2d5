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
pub use other::{ArtifactArgs, AttestCmd, AttestKeyArgs, AttestSub, BundleCmd, UpdateCmd};
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
    after_help = "Examples:\n  nx status\n  nx key create signing k1 && nx key sign signing k1 --in msg.txt --out msg.sig\n  \
NEXUS_RUN=/run/nexus nx --json key list\n\n\
The stack is found in --run DIR, else $NEXUS_RUN, else /run/nexus if it exists, else ./state/run.\n\
Exit status: 0 ok; 1 service unreachable; 2 usage error; 3 a local file; \
10-19 a service (or offline check) refused with EPERM, ENOENT, EALREADY, \
EKEYREVOKED, EDQUOTA, ELOCKED, EINVAL, EBUSY, EAGAIN, EIO.\n\
Errors are printed as `nx: <CODE>: <message>` on stderr (with --json: \
{\"error\": {\"code\", \"message\"}}).\n\
See docs/tools/nx-key.md (or `man nx`) for every command and its --json output."
)]
pub struct Cli {
    /// Directory holding the stack's sockets (<svc>.sock). Default:
    /// $NEXUS_RUN, else /run/nexus if it exists, else ./state/run.
    #[arg(long, global = true, value_name = "DIR")]
    pub run: Option<PathBuf>,
    /// Print machine-readable JSON (one object, stable field names); errors
    /// too, as {"error": {"code", "message"}} on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The shells `nx completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompletionShell {
    /// bash (bash-completion).
    Bash,
    /// zsh (compinit).
    Zsh,
    /// fish.
    Fish,
}

/// Top-level commands. (`nx audit` is kept free for the audit log
/// commands.)
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keys in your app's keystore namespace, and the trust store.
    #[command(
        subcommand,
        after_help = "Examples:\n  nx key create signing k1\n  nx key list\n  \
nx key trust list\n\
PURPOSE always follows the verb, so any purpose works: `nx key create trust k1`."
    )]
    Key(KeyCmd),
    /// The per-user vault (needs a session id from `nx session login`).
    #[command(
        subcommand,
        after_help = "Examples:\n  printf 's3cret' | NEXUS_SID=$SID nx vault put db-password\n  \
nx vault get db-password --sid-file ~/.nx-sid"
    )]
    Vault(VaultCmd),
    /// Log in, lock, unlock, log out.
    #[command(
        subcommand,
        after_help = "Examples:\n  (umask 077; nx session login alice > ~/.nx-sid)   # asks for the password\n  \
nx session status --sid-file ~/.nx-sid"
    )]
    Session(SessionCmd),
    /// Manage users (needs identity.user.admin).
    #[command(
        subcommand,
        after_help = "Examples:\n  sudo nx user create alice   # asks for the password twice\n  sudo nx user list"
    )]
    User(UserCmd),
    /// Request an attestation token, or verify one offline.
    Attest(AttestCmd),
    /// Sign a bundle offline; install, uninstall, list bundles.
    #[command(
        subcommand,
        after_help = "Examples:\n  nx bundle sign ./app --key release/k1 --name com.example.app --version 1.2.0\n  \
nx bundle install ./app && nx bundle list"
    )]
    Bundle(BundleCmd),
    /// Sign an update offline; stage, commit, roll back, status.
    #[command(
        subcommand,
        after_help = "Examples:\n  nx update stage ./os && nx update commit\n  nx update status"
    )]
    Update(UpdateCmd),
    /// Status of every service.
    #[command(after_help = "Examples:\n  nx status\n  nx --run /run/nexus status --json")]
    Status,
    /// Measure the running services: sign rate, vault and attest latency.
    Bench(BenchArgs),
    /// Keys for the SSH agent (nexus-ssh-agent): create, list as
    /// authorized_keys lines.
    #[command(
        subcommand,
        after_help = "Examples:\n  nx ssh add-key laptop\n  nx ssh list >> ~/.ssh/authorized_keys"
    )]
    Ssh(SshCmd),
    /// Check or read the audit logs of a state directory (offline).
    #[command(
        subcommand,
        after_help = "Examples:\n  sudo nx audit verify --state /state\n  \
sudo nx audit show --state /state --decision deny"
    )]
    Audit(AuditCmd),
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    #[command(
        after_help = "Examples:\n  nx completions bash > /etc/bash_completion.d/nx\n  \
nx completions zsh > \"${fpath[1]}/_nx\"\n  \
nx completions fish > ~/.config/fish/completions/nx.fish"
    )]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write the manual pages (nx.1, and nx-key-create.1 … one per command)
    /// into DIR.
    #[command(after_help = "Examples:\n  nx man --out /usr/local/share/man/man1\n  \
nx man --out /tmp/man && man -l /tmp/man/nx-key-sign.1")]
    Man {
        /// The directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
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
