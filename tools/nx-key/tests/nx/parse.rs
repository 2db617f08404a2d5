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
    assert!(o.stderr.starts_with("nx: EIO: keystored: "), "{}", o.stderr);
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
