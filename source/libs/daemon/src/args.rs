//! The command line every daemon shares, parsed into a typed [`Config`].
//!
//! ```text
//! <svc> (--state DIR | --volatile) --policy FILE --run DIR [--trust-dir DIR] [--control-stdin]
//!       [--max-connections N] [--max-connections-per-subject N]
//!       [--audit-flush group|group:<ms>|sync] [--audit-file-bytes N] [--audit-keep-files N]
//!       [--state-reserve-bytes N]
//!       [--socket-mode OCTAL] [--socket-group GID]
//! ```
//!
//! The audit and reserve settings have defaults sized for the QEMU image
//! (a 64 MiB `/state` shared by six daemons): group commit within 20 ms,
//! 512 KiB per log file and 3 rotated files kept (2 MiB per daemon), and
//! 4 MiB of free space kept for system work.
//!
//! Invariants: exactly one of `--state` and `--volatile` is given, so a
//! daemon is never volatile by accident; no path is empty; a daemon whose
//! [`Spec`] says it reads the trust store has a `--trust-dir`, and a daemon
//! without a public socket has `--control-stdin` (otherwise nothing could
//! ever reach it); the connection caps keep a reserve one subject cannot
//! reach (a sixteenth of the total). Violations are usage errors (exit
//! status 2), never defaults.

use crate::Spec;
use auditlog::{FlushMode, JournalConfig};
use clap::error::ErrorKind;
use clap::{ArgGroup, CommandFactory, FromArgMatches, Parser};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(group(ArgGroup::new("mode").required(true).args(["state", "volatile"])))]
struct Cli {
    /// The state directory (statefs root); created 0700 if absent.
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Run without a state directory: nothing survives a restart, and the
    /// ready marker says so.
    #[arg(long)]
    volatile: bool,
    /// The policy file (TOML).
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// The runtime directory (public sockets; the audit log in volatile mode).
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// The read-only system trust roots directory.
    #[arg(long = "trust-dir", value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    /// stdin is the control channel from the supervisor.
    #[arg(long = "control-stdin")]
    control_stdin: bool,
    /// Most public connections served at once, all callers together; the
    /// last sixteenth is kept for callers holding few connections.
    #[arg(long = "max-connections", value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(16..=65536))]
    max_connections: u32,
    /// Most public connections of one caller (default: half of
    /// --max-connections).
    #[arg(long = "max-connections-per-subject", value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections_per_subject: Option<u32>,
    /// When audit lines reach the disk: `group` (group commit within
    /// 20 ms), `group:<ms>` (within that many ms), or `sync` (one fdatasync
    /// per decision). State changes are durable before they are
    /// acknowledged either way.
    #[arg(long = "audit-flush", value_name = "MODE", default_value = "group", value_parser = parse_flush)]
    audit_flush: FlushMode,
    /// Rotate the audit log at this size (bytes, at least 4096).
    #[arg(long = "audit-file-bytes", value_name = "N", default_value_t = auditlog::DEFAULT_MAX_FILE_BYTES,
          value_parser = clap::value_parser!(u64).range(4096..))]
    audit_file_bytes: u64,
    /// Rotated audit log files kept.
    #[arg(long = "audit-keep-files", value_name = "N", default_value_t = auditlog::DEFAULT_KEEP_FILES)]
    audit_keep_files: u32,
    /// Free bytes of the state disk kept for system work; below it, work
    /// of non-system subjects is refused with EDQUOTA.
    #[arg(long = "state-reserve-bytes", value_name = "N", default_value_t = DEFAULT_STATE_RESERVE)]
    state_reserve_bytes: u64,
    /// Permissions of the public socket, in octal (default 0660). Who may
    /// connect at all; what a caller may do is still the policy's.
    #[arg(long = "socket-mode", value_name = "OCTAL", value_parser = wire::parse_socket_mode)]
    socket_mode: Option<u32>,
    /// Group (numeric gid) of the public socket (default: the daemon's
    /// effective group).
    #[arg(long = "socket-group", value_name = "GID")]
    socket_group: Option<u32>,
    /// How long the thread that answered a request waits on that
    /// connection for the caller's next request, in milliseconds (0: never).
    #[arg(long = "linger-ms", value_name = "MS", default_value_t = DEFAULT_LINGER_MS,
          value_parser = clap::value_parser!(u64).range(0..=1000))]
    linger_ms: u64,
}

/// `--linger-ms` by default: [`wire::DEFAULT_LINGER`].
const DEFAULT_LINGER_MS: u64 = 2;
const _: () = assert!(wire::DEFAULT_LINGER.as_millis() == DEFAULT_LINGER_MS as u128);

/// Free space kept on the state disk for system work, by default.
pub const DEFAULT_STATE_RESERVE: u64 = 4 << 20;

fn parse_flush(s: &str) -> Result<FlushMode, String> {
    match FlushMode::parse(s) {
        Some(FlushMode::Buffered) | None => {
            Err("expected group, group:<ms> (1..10000) or sync".to_owned())
        }
        Some(m) => Ok(m),
    }
}

/// The common flags as a clap command (for the configuration reference
/// and its test: every flag a daemon accepts is documented).
pub fn common_flags() -> clap::Command {
    Cli::command()
}

/// Where the daemon keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChoice {
    /// The statefs root directory.
    Durable(PathBuf),
    /// In memory only (`--volatile`).
    Volatile,
}

/// The parsed, checked command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--state DIR` or `--volatile`.
    pub state: StateChoice,
    /// `--policy FILE`.
    pub policy: PathBuf,
    /// `--run DIR`.
    pub run: PathBuf,
    /// `--trust-dir DIR`.
    pub trust_dir: Option<PathBuf>,
    /// `--control-stdin`.
    pub control_stdin: bool,
    /// `--max-connections`.
    pub max_connections: usize,
    /// `--max-connections-per-subject` (default: half of the total).
    pub max_connections_per_subject: usize,
    /// The audit log's durability, rotation and retention (in volatile
    /// mode the log is never synced).
    pub audit: JournalConfig,
    /// `--state-reserve-bytes`.
    pub state_reserve: u64,
    /// `--socket-mode` (default `0o660`).
    pub socket_mode: u32,
    /// `--socket-group`.
    pub socket_group: Option<u32>,
    /// `--linger-ms` (zero: no linger).
    pub linger: Duration,
}

impl Config {
    /// Parse `args` (the first item is the program name) for the daemon
    /// described by `spec`. The error prints itself in clap's format and
    /// knows its exit status ([`clap::Error::exit_code`]): 0 for `--help`
    /// and `--version`, 2 for usage errors.
    pub fn parse<I, T>(spec: &Spec, args: I) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut cmd = Cli::command()
            .name(spec.name)
            .bin_name(spec.name)
            .version(spec.version);
        let matches = cmd.try_get_matches_from_mut(args)?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.with_cmd(&cmd))?;
        let invalid = |msg: String| cmd.clone().error(ErrorKind::InvalidValue, msg);
        let state = match (cli.state, cli.volatile) {
            (Some(dir), false) => StateChoice::Durable(non_empty(dir, "--state", &invalid)?),
            (None, true) => StateChoice::Volatile,
            // The argument group makes the two exclusive and one required.
            _ => {
                return Err(cmd.clone().error(
                    ErrorKind::ArgumentConflict,
                    "exactly one of --state and --volatile is required",
                ))
            }
        };
        let policy = non_empty(cli.policy, "--policy", &invalid)?;
        let run = non_empty(cli.run, "--run", &invalid)?;
        let trust_dir = cli
            .trust_dir
            .map(|d| non_empty(d, "--trust-dir", &invalid))
            .transpose()?;
        if spec.needs_trust_dir && trust_dir.is_none() {
            return Err(cmd.clone().error(
                ErrorKind::MissingRequiredArgument,
                format!(
                    "{} reads the trust store: --trust-dir is required",
                    spec.name
                ),
            ));
        }
        if !spec.public_socket && !cli.control_stdin {
            return Err(cmd.clone().error(
                ErrorKind::MissingRequiredArgument,
                format!(
                    "{} has no public socket and serves only endpoints from the supervisor: \
                     --control-stdin is required",
                    spec.name
                ),
            ));
        }
        let total = cli.max_connections as usize;
        let per_subject = cli
            .max_connections_per_subject
            .map_or(total / 2, |n| n as usize);
        if per_subject > total - total / 16 {
            return Err(cmd.clone().error(
                ErrorKind::InvalidValue,
                format!(
                    "--max-connections-per-subject must leave the reserve of --max-connections \
                     free: at most {}",
                    total - total / 16
                ),
            ));
        }
        let audit = JournalConfig {
            flush: if state == StateChoice::Volatile {
                FlushMode::Buffered
            } else {
                cli.audit_flush
            },
            max_file_bytes: cli.audit_file_bytes,
            keep_files: cli.audit_keep_files,
        };
        Ok(Config {
            state,
            policy,
            run,
            trust_dir,
            control_stdin: cli.control_stdin,
            max_connections: total,
            max_connections_per_subject: per_subject,
            audit,
            state_reserve: cli.state_reserve_bytes,
            socket_mode: cli
                .socket_mode
                .unwrap_or(wire::ServerConfig::default().socket_mode),
            socket_group: cli.socket_group,
            linger: Duration::from_millis(cli.linger_ms),
        })
    }

    /// The wire server's settings: the connection caps and the socket's
    /// mode and group from the command line (the reserve is a sixteenth of
    /// the total), the rest defaults.
    pub fn server_config(&self) -> wire::ServerConfig {
        wire::ServerConfig {
            max_connections: self.max_connections,
            max_connections_per_subject: self.max_connections_per_subject,
            reserved_connections: self.max_connections / 16,
            socket_mode: self.socket_mode,
            socket_group: self.socket_group,
            linger: Some(self.linger),
            ..wire::ServerConfig::default()
        }
    }

    /// Whether `--volatile` was given.
    pub fn is_volatile(&self) -> bool {
        self.state == StateChoice::Volatile
    }

    /// The audit log of service `svc`: `<state>/audit/<svc>.jsonl` in
    /// durable mode, `<run>/audit/<svc>.jsonl` in volatile mode.
    pub fn audit_path(&self, svc: &str) -> PathBuf {
        self.audit_dir().join(format!("{svc}.jsonl"))
    }

    /// The directory of [`Config::audit_path`].
    pub fn audit_dir(&self) -> PathBuf {
        match &self.state {
            StateChoice::Durable(dir) => dir.join("audit"),
            StateChoice::Volatile => self.run.join("audit"),
        }
    }

    /// The public socket of service `svc`: `<run>/<svc>.sock`.
    pub fn socket_path(&self, svc: &str) -> PathBuf {
        self.run.join(format!("{svc}.sock"))
    }
}

fn non_empty(
    p: PathBuf,
    flag: &str,
    invalid: &dyn Fn(String) -> clap::Error,
) -> Result<PathBuf, clap::Error> {
    if p.as_os_str().is_empty() {
        Err(invalid(format!("{flag} must not be empty")))
    } else {
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Spec = Spec {
        name: "testd",
        version: "0.1.0",
        public_socket: true,
        needs_trust_dir: false,
        upstreams: &[],
        owns: &[],
    };

    fn parse(spec: &Spec, args: &[&str]) -> Result<Config, clap::Error> {
        Config::parse(spec, std::iter::once("testd").chain(args.iter().copied()))
    }

    #[test]
    fn durable_and_volatile_parse_into_the_typed_config() {
        let c = parse(
            &SPEC,
            &[
                "--state",
                "/s",
                "--policy",
                "/p.toml",
                "--run",
                "/r",
                "--control-stdin",
            ],
        )
        .unwrap();
        assert_eq!(c.state, StateChoice::Durable("/s".into()));
        assert!(!c.is_volatile());
        assert!(c.control_stdin);
        assert_eq!(c.trust_dir, None);
        assert_eq!(c.audit_path("testd"), PathBuf::from("/s/audit/testd.jsonl"));
        assert_eq!(c.socket_path("testd"), PathBuf::from("/r/testd.sock"));

        let v = parse(
            &SPEC,
            &[
                "--volatile",
                "--policy",
                "p",
                "--run",
                "/r",
                "--trust-dir",
                "/t",
            ],
        )
        .unwrap();
        assert!(v.is_volatile());
        assert!(!v.control_stdin);
        assert_eq!(v.trust_dir, Some(PathBuf::from("/t")));
        assert_eq!(v.audit_path("testd"), PathBuf::from("/r/audit/testd.jsonl"));
    }

    #[test]
    fn test_reject_state_and_volatile_together_or_neither() {
        let both = parse(
            &SPEC,
            &["--state", "/s", "--volatile", "--policy", "p", "--run", "r"],
        )
        .unwrap_err();
        assert_eq!(both.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(both.exit_code(), 2);
        let neither = parse(&SPEC, &["--policy", "p", "--run", "r"]).unwrap_err();
        assert_eq!(neither.kind(), ErrorKind::MissingRequiredArgument);
        assert_eq!(neither.exit_code(), 2);
    }

    #[test]
    fn test_reject_missing_or_empty_or_unknown_arguments() {
        for args in [
            &["--volatile", "--run", "r"][..],
            &["--volatile", "--policy", "p"][..],
            &["--volatile", "--policy", "", "--run", "r"][..],
            &["--state", "", "--policy", "p", "--run", "r"][..],
            &["--volatile", "--policy", "p", "--run", "r", "--bogus"][..],
            &["--volatile", "--policy", "p", "--run", "r", "extra"][..],
            &["--volatile", "--policy", "p", "--run", "r", "--state"][..],
        ] {
            let e = parse(&SPEC, args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn test_reject_spec_requirements() {
        let trust = Spec {
            needs_trust_dir: true,
            ..SPEC
        };
        let e = parse(&trust, &["--volatile", "--policy", "p", "--run", "r"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--trust-dir"));

        let private = Spec {
            public_socket: false,
            ..SPEC
        };
        let e = parse(&private, &["--volatile", "--policy", "p", "--run", "r"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--control-stdin"));
        parse(
            &private,
            &[
                "--volatile",
                "--policy",
                "p",
                "--run",
                "r",
                "--control-stdin",
            ],
        )
        .unwrap();
    }

    #[test]
    fn linger_defaults_to_the_servers_and_zero_turns_it_off() {
        let base = ["--volatile", "--policy", "p", "--run", "r"];
        let c = parse(&SPEC, &base).unwrap();
        assert_eq!(c.server_config().linger, Some(wire::DEFAULT_LINGER));
        let mut off = base.to_vec();
        off.extend(["--linger-ms", "0"]);
        let c = parse(&SPEC, &off).unwrap();
        assert_eq!(c.server_config().linger, Some(Duration::ZERO));
        for bad in ["1001", "-1", "x"] {
            let mut a = base.to_vec();
            a.extend(["--linger-ms", bad]);
            assert!(parse(&SPEC, &a).is_err(), "{bad}");
        }
    }

    #[test]
    fn connection_caps_default_and_keep_their_reserve() {
        let base = ["--volatile", "--policy", "p", "--run", "r"];
        let c = parse(&SPEC, &base).unwrap().server_config();
        let d = wire::ServerConfig::default();
        assert_eq!(
            (
                c.max_connections,
                c.max_connections_per_subject,
                c.reserved_connections
            ),
            (
                d.max_connections,
                d.max_connections_per_subject,
                d.reserved_connections
            )
        );
        let mut args = base.to_vec();
        args.extend([
            "--max-connections",
            "1024",
            "--max-connections-per-subject",
            "900",
        ]);
        let c = parse(&SPEC, &args).unwrap().server_config();
        assert_eq!(
            (c.max_connections, c.max_connections_per_subject),
            (1024, 900)
        );
        assert_eq!(c.reserved_connections, 64);
    }

    #[test]
    fn test_reject_connection_caps_without_a_reserve() {
        let base = ["--volatile", "--policy", "p", "--run", "r"];
        for extra in [
            &["--max-connections", "15"][..],
            &[
                "--max-connections",
                "64",
                "--max-connections-per-subject",
                "61",
            ][..],
            &["--max-connections-per-subject", "0"][..],
        ] {
            let mut args = base.to_vec();
            args.extend_from_slice(extra);
            let e = parse(&SPEC, &args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{extra:?}");
        }
    }

    #[test]
    fn audit_and_reserve_settings_have_defaults_and_parse() {
        let base = ["--state", "/s", "--policy", "p", "--run", "r"];
        let c = parse(&SPEC, &base).unwrap();
        assert_eq!(c.audit, JournalConfig::default());
        assert_eq!(c.state_reserve, DEFAULT_STATE_RESERVE);
        let mut args = base.to_vec();
        args.extend([
            "--audit-flush",
            "sync",
            "--audit-file-bytes",
            "8192",
            "--audit-keep-files",
            "1",
            "--state-reserve-bytes",
            "0",
        ]);
        let c = parse(&SPEC, &args).unwrap();
        assert_eq!(
            c.audit,
            JournalConfig {
                flush: FlushMode::Sync,
                max_file_bytes: 8192,
                keep_files: 1
            }
        );
        assert_eq!(c.state_reserve, 0);
        // Volatile: the log is a diagnostic, never synced.
        let v = parse(&SPEC, &["--volatile", "--policy", "p", "--run", "r"]).unwrap();
        assert_eq!(v.audit.flush, FlushMode::Buffered);
        for bad in [
            &["--audit-flush", "buffered"][..],
            &["--audit-flush", "group:0"],
            &["--audit-file-bytes", "100"],
            &["--audit-keep-files", "-1"],
        ] {
            let mut a = base.to_vec();
            a.extend_from_slice(bad);
            assert_eq!(parse(&SPEC, &a).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn socket_mode_and_group_reach_the_server_config() {
        let base = ["--volatile", "--policy", "p", "--run", "r"];
        let c = parse(&SPEC, &base).unwrap().server_config();
        assert_eq!((c.socket_mode, c.socket_group), (0o660, None));
        let mut args = base.to_vec();
        args.extend(["--socket-mode", "0666", "--socket-group", "123"]);
        let c = parse(&SPEC, &args).unwrap().server_config();
        assert_eq!((c.socket_mode, c.socket_group), (0o666, Some(123)));
        assert_eq!(wire::parse_socket_mode("600"), Ok(0o600));
    }

    #[test]
    fn test_reject_bad_socket_modes() {
        for bad in ["", "8", "0x660", "1777", "4660", "06600", "-660", "rw"] {
            assert!(wire::parse_socket_mode(bad).is_err(), "{bad:?}");
            let mut args = vec!["--volatile", "--policy", "p", "--run", "r", "--socket-mode"];
            args.push(bad);
            assert_eq!(parse(&SPEC, &args).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn help_is_not_a_usage_error() {
        let e = parse(&SPEC, &["--help"]).unwrap_err();
        assert_eq!(e.exit_code(), 0);
        assert!(e.to_string().contains("--control-stdin"));
    }
}
