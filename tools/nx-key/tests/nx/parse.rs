//! Argument parsing, rejects and exit statuses (in-process and through the
//! real binary).

use crate::common::nx;
use std::process::Command;

#[test]
fn help_lists_every_command_and_exits_zero() {
    let o = nx(&["--help"], b"");
    assert_eq!(o.code, 0);
    for c in [
        "key", "vault", "session", "user", "attest", "bundle", "update", "status", "bench",
    ] {
        assert!(o.text().contains(c), "{c}");
    }
    for sub in [
        &["key", "create", "--help"][..],
        &["key", "trust", "add", "--help"],
        &["vault", "put", "--help"],
        &["attest", "verify", "--help"],
        &["update", "sign", "--help"],
        &["bench", "--help"],
    ] {
        let o = nx(sub, b"");
        assert_eq!(o.code, 0, "{sub:?}");
        assert!(o.text().contains("Example"), "{sub:?} has examples");
    }
}

fn assert_usage(args: &[&str]) {
    let o = nx(args, b"");
    assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
    assert!(
        o.stderr.starts_with("nx: EINVAL: "),
        "{args:?}: {}",
        o.stderr
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn test_reject_bad_arguments_exit_2() {
    assert_usage(&["frobnicate"]);
    assert_usage(&["key", "create", "signing"]);
    assert_usage(&["key", "create", "bad label", "k1"]);
    assert_usage(&["key", "create", "signing", "k1", "--alg", "rsa"]);
    assert_usage(&["key", "retire", "signing", "k1"]);
    assert_usage(&["key", "retire", "signing", "k1", "--min-version", "-1"]);
    assert_usage(&["key", "trust", "show", "not-a-kid"]);
    assert_usage(&["key", "trust", "add", "--scope", "packages", "--label", "x"]);
    assert_usage(&["key", "trust", "add", "--pubkey", "AAAA"]);
    assert_usage(&[
        "key",
        "trust",
        "add",
        "--root-file",
        "r.toml",
        "--scope",
        "packages",
    ]);
    assert_usage(&["vault", "get", "name"]);
    // A session id is never an argument.
    assert_usage(&[
        "vault",
        "get",
        "name",
        "--sid",
        "00112233445566778899aabbccddeeff",
    ]);
    assert_usage(&[
        "session",
        "lock",
        "--sid",
        "00112233445566778899aabbccddeeff",
    ]);
    assert_usage(&["session", "login"]);
    assert_usage(&["session", "login", "alice", "--password", "x"]);
    assert_usage(&["user", "passwd", "alice", "--old-password-file", "o"]);
    assert_usage(&["attest", "signing", "k1"]);
    assert_usage(&["attest", "verify", "--token", "t"]);
    assert_usage(&["bundle", "sign", "dir", "--key", "k", "--name", "n"]);
    assert_usage(&["bench", "--duration", "0"]);
    assert_usage(&["bench", "--sid-file", "f", "--login", "alice"]);
}

#[test]
fn test_reject_local_value_errors_before_sending() {
    // No service exists at this --run: these must fail before connecting.
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().to_str().unwrap();
    for args in [
        &["--run", run, "attest", "p", "n", "--nonce", "zz"][..],
        &["--run", run, "attest", "p", "n", "--nonce", "0011"],
        &[
            "--run",
            run,
            "attest",
            "p",
            "n",
            "--nonce",
            "0011223344556677",
            "--claim=5=int:1",
        ],
        &[
            "--run",
            run,
            "attest",
            "p",
            "n",
            "--nonce",
            "0011223344556677",
            "--claim=-65538=float:1",
        ],
        &[
            "--run",
            run,
            "key",
            "trust",
            "add",
            "--pubkey",
            "bm90IGEga2V5",
            "--scope",
            "packages",
            "--label",
            "x",
        ],
        &["--run", run, "session", "login", "alice"],
    ] {
        let o = nx(args, b"");
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("nx: EINVAL: "), "{}", o.stderr);
    }
}

#[test]
fn test_reject_unreachable_service_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().to_str().unwrap();
    let o = nx(&["--run", run, "key", "list"], b"");
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .starts_with(&format!("nx: EIO: cannot connect to {run}/keystored.sock")),
        "{}",
        o.stderr
    );
    let o = nx(&["--run", run, "--json", "status"], b"");
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    assert_eq!(j["services"].as_array().unwrap().len(), 5);
    assert_eq!(j["services"][0]["reachable"], false);
    assert_eq!(j["services"][0]["error"]["code"], "EIO");
}

#[test]
fn real_binary_exit_statuses() {
    let bin = env!("CARGO_BIN_EXE_nx");
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(bin).arg("--version").output().unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let usage = Command::new(bin).args(["key", "nope"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let transport = Command::new(bin)
        .args(["--run", dir.path().to_str().unwrap(), "key", "list"])
        .output()
        .unwrap();
    assert_eq!(transport.status.code(), Some(1));
    let stderr = String::from_utf8(transport.stderr).unwrap();
    assert!(stderr.starts_with("nx: EIO: "), "{stderr}");
}

/// Every command's help, `nx` and each group included, ends with at least
/// one example: walked from the clap definitions, so a new command without
/// one fails here.
#[test]
fn every_command_help_has_an_example() {
    use clap::CommandFactory;
    let mut root = nx_key::cli::Cli::command();
    root.build();
    let mut seen = 0;
    for mut cmd in nx_key::cmd::manual::pages(&root) {
        let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("Example"), "{name} has no example:\n{help}");
        seen += 1;
    }
    assert!(seen > 50, "walked {seen} commands");
    // And through the real parser: `--help` anywhere prints it, exit 0.
    for path in [
        &["key", "--help"][..],
        &["key", "trust", "--help"],
        &["completions", "--help"],
    ] {
        let o = nx(path, b"");
        assert_eq!(o.code, 0, "{path:?}");
        assert!(o.text().contains("Example"), "{path:?}");
    }
}

/// `nx completions` for each shell: bash's script parses (`bash -n`) and
/// registers a completion for nx; zsh's and fish's name the commands.
#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let o = nx(&["completions", shell], b"");
        assert_eq!(o.code, 0, "{shell}: {}", o.stderr);
        let text = o.text();
        for word in ["key", "vault", "export-public", "completions"] {
            assert!(text.contains(word), "{shell} script lacks {word}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("nx.bash");
    std::fs::write(&script, nx(&["completions", "bash"], b"").stdout).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(". {} && complete -p nx", script.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nx"));
    let o = nx(&["completions", "powershell"], b"");
    assert_eq!(o.code, 2);
}

/// `nx man --out DIR`: a page per command, each clean under
/// `groff -man -ww` (every warning on), naming its own usage.
#[test]
fn man_pages_are_generated_for_every_command_and_are_valid_roff() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = nx(&["--json", "man", "--out", out.to_str().unwrap()], b"");
    let j = o.json();
    let pages: Vec<String> = j["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    for want in [
        "nx.1",
        "nx-key.1",
        "nx-key-create.1",
        "nx-key-trust-add.1",
        "nx-attest-key.1",
    ] {
        assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
    let create = std::fs::read_to_string(out.join("nx-key-create.1")).unwrap();
    assert!(create.contains("nx key create"), "{create}");
    for p in &pages {
        let check = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(out.join(p))
            .output()
            .expect("groff (Debian's groff-base; run scripts/install-test-deps.sh)");
        let warnings = String::from_utf8_lossy(&check.stderr);
        assert!(
            check.status.success() && warnings.trim().is_empty(),
            "{p}: {warnings}"
        );
    }
}

/// A key whose purpose is the name of an `nx attest` subcommand is still
/// reachable through the explicit form `nx attest key PURPOSE NAME`, and
/// `nx key` takes any purpose, since the purpose always follows the verb.
#[test]
fn purposes_named_like_subcommands_stay_reachable() {
    use clap::Parser;
    use nx_key::cli::{AttestSub, Cli, Command as C, KeyCmd};
    for purpose in ["verify", "device-key", "key", "help"] {
        let cli = Cli::try_parse_from([
            "nx",
            "attest",
            "key",
            purpose,
            "k1",
            "--nonce",
            "00112233445566778899",
        ])
        .unwrap_or_else(|e| panic!("{purpose}: {e}"));
        match cli.command {
            C::Attest(a) => match a.sub {
                Some(AttestSub::Key(k)) => assert_eq!(k.purpose.as_str(), purpose),
                other => panic!("{purpose}: {other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }
    let short = Cli::try_parse_from([
        "nx",
        "attest",
        "signing",
        "k1",
        "--nonce",
        "0011223344556677",
    ])
    .unwrap();
    assert!(matches!(short.command, C::Attest(ref a) if a.sub.is_none()));
    for purpose in ["trust", "create", "list", "import"] {
        let cli = Cli::try_parse_from(["nx", "key", "sign", purpose, "k1"])
            .unwrap_or_else(|e| panic!("{purpose}: {e}"));
        assert!(
            matches!(cli.command, C::Key(KeyCmd::Sign { ref key, .. }) if key.purpose.as_str() == purpose)
        );
        Cli::try_parse_from(["nx", "key", "create", purpose, "k1"]).unwrap();
    }
}

/// `--json` makes every failure a JSON object on stderr, usage errors
/// included, with the same exit status; nothing goes to stdout.
#[test]
fn json_errors_are_json_with_the_same_exit_status() {
    for (args, status, code) in [
        (&["--json", "frobnicate"][..], 2, "EINVAL"),
        (&["key", "create", "bad label", "k1", "--json"], 2, "EINVAL"),
        (
            &["--json", "--run", "/nonexistent/run", "key", "list"],
            1,
            "EIO",
        ),
        (
            &[
                "--json",
                "key",
                "verify",
                "a",
                "b",
                "--sig",
                "/nonexistent/sig",
            ],
            3,
            "ENOENT",
        ),
    ] {
        let o = nx(args, b"");
        assert_eq!(o.code, status, "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty(), "{args:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        let j: serde_json::Value = serde_json::from_str(&o.stderr).unwrap();
        assert_eq!(j["error"]["code"], code, "{args:?}");
        assert!(j["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let text = nx(&["--run", "/nonexistent/run", "key", "list"], b"");
    assert!(
        text.stderr
            .starts_with("nx: EIO: cannot connect to /nonexistent/run/keystored.sock"),
        "{}",
        text.stderr
    );
    assert!(
        text.stderr.contains("given with --run") && text.stderr.contains("NEXUS_RUN"),
        "{}",
        text.stderr
    );
}

/// Without --run: $NEXUS_RUN, and the error says where the directory came
/// from.
#[test]
fn the_run_directory_comes_from_nexus_run_when_no_flag_is_given() {
    let mut input: &[u8] = b"";
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = nx_key::io::Io {
        stdin: &mut input,
        terminal: false,
        stdout: &mut out,
        stderr: &mut err,
    };
    let env = nx_key::Env {
        sid: None,
        run: Some("/nonexistent/from-env".into()),
    };
    let code = nx_key::run_with_env(["nx", "status"], io, env);
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("/nonexistent/from-env/init.sock") && err.contains("from $NEXUS_RUN"),
        "{err}"
    );
}
