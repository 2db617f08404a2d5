//! The SSH agent end to end, judged by OpenSSH and git: the real
//! nexus-init and daemons over a temporary state directory (as uid 0,
//! which the shipped policy maps to `system:admin`), keys created with
//! `nx ssh add-key`, and nexus-ssh-agent serving them to unmodified
//! `ssh-add`, `ssh-keygen -Y`, `ssh` (against an `sshd` the test starts
//! on 127.0.0.1) and `git`.
//!
//! The tools are Debian's openssh-client, openssh-server and git
//! (`scripts/install-test-deps.sh`); a missing one fails the test.
//!
//! Run: `cargo build --bins && cargo test -p stack_e2e --test ssh_agent`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the `stack` test, which uses the parts this one does not.
#[allow(dead_code)]
#[path = "../stack/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../stack/procs.rs"]
mod procs;
mod tools;

mod forge;

use harness::{must, repo, Stack, BOOT_WAIT};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use tools::{nx, ok, require_tools, run, start_agent, with_agent, Sshd};

/// The shipped manifest with its optional nexus-ssh-agent entry switched
/// on (the commented block, uncommented), written into `dir`.
fn manifest_with_agent(dir: &Path) -> PathBuf {
    let text = must(
        std::fs::read_to_string(repo().join("config/init.toml")),
        "read init.toml",
    );
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0] == "# [[service]]" && w[1] == "# name = \"nexus-ssh-agent\"")
        .expect("config/init.toml has the commented nexus-ssh-agent entry");
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let in_block = i >= start && lines[start..=i].iter().all(|l| l.starts_with("# "));
        out.push(if in_block { &l[2..] } else { l });
    }
    let path = dir.join("init-with-ssh-agent.toml");
    must(
        std::fs::write(&path, out.join("\n") + "\n"),
        "write manifest",
    );
    path
}

fn tmp(stack: &Stack) -> PathBuf {
    // <tmp>/state/run -> <tmp>
    stack
        .run_dir()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A stack with one key `ssh/<name>`; its authorized_keys line.
fn stack_with_key(name: &str) -> (Stack, String) {
    let stack = Stack::start();
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let line = nx(&stack.run_dir(), &["ssh", "add-key", name]);
    assert!(line.starts_with("ssh-ed25519 "), "{line}");
    assert!(
        line.trim_end()
            .ends_with(&format!("system.admin/ssh/{name} v1")),
        "{line}"
    );
    (stack, line)
}

#[test]
fn init_starts_the_agent_and_openssh_lists_and_signs_with_keystore_keys() {
    require_tools();
    let scratch = must(tempfile::tempdir(), "tempdir");
    let stack = Stack::start_with(&manifest_with_agent(scratch.path()));
    stack.expect("init: up nexus-ssh-agent", BOOT_WAIT, |l| {
        l == "init: up nexus-ssh-agent"
    });
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");
    let run_dir = stack.run_dir();
    let sock = run_dir.join("nexus-ssh-agent.sock");
    let meta = must(std::fs::symlink_metadata(&sock), "agent socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.mode() & 0o777, 0o600, "socket mode");
    assert_eq!(
        meta.uid(),
        rustix::process::geteuid().as_raw(),
        "socket owner"
    );
    assert!(stack.stdout().contains(&format!(
        "SSH_AUTH_SOCK={}; export SSH_AUTH_SOCK;",
        sock.display()
    )));

    // No key yet: ssh-add -L says so (exit 1).
    let out = run(with_agent("ssh-add", &sock).arg("-L"), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no identities"));

    let laptop = nx(&run_dir, &["ssh", "add-key", "laptop"]);
    let desk = nx(&run_dir, &["ssh", "add-key", "desk"]);
    nx(&run_dir, &["key", "create", "release", "signer"]); // another purpose
    let listed = ok(with_agent("ssh-add", &sock).arg("-L"));
    // keystored lists keys by name.
    assert_eq!(listed, format!("{desk}{laptop}"));
    assert_eq!(listed, nx(&run_dir, &["ssh", "list"]));
    let fingerprints = ok(with_agent("ssh-add", &sock).arg("-l"));
    assert!(
        fingerprints.contains("system.admin/ssh/laptop v1 (ED25519)"),
        "{fingerprints}"
    );

    // ssh-keygen -Y sign through the agent; ssh-keygen -Y verify with an
    // allowed-signers file accepts it, and refuses a changed message.
    let dir = scratch.path();
    let pub_file = dir.join("laptop.pub");
    must(std::fs::write(&pub_file, &laptop), "laptop.pub");
    let msg = dir.join("release.txt");
    must(
        std::fs::write(&msg, b"the file signed through the agent\n"),
        "msg",
    );
    ok(with_agent("ssh-keygen", &sock)
        .args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&pub_file)
        .arg(&msg));
    let allowed = dir.join("allowed_signers");
    must(
        std::fs::write(&allowed, format!("release@example.com {laptop}")),
        "allowed",
    );
    let verify = |data: &[u8]| {
        run(
            Command::new("ssh-keygen")
                .args([
                    "-Y",
                    "verify",
                    "-n",
                    "file",
                    "-I",
                    "release@example.com",
                    "-f",
                ])
                .arg(&allowed)
                .arg("-s")
                .arg(dir.join("release.txt.sig")),
            data,
        )
    };
    let good = verify(b"the file signed through the agent\n");
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(String::from_utf8_lossy(&good.stdout).contains("Good \"file\" signature"));
    assert!(!verify(b"another file\n").status.success());
}

#[test]
fn sshd_accepts_the_agent_key_and_refuses_it_while_locked() {
    require_tools();
    let (stack, line) = stack_with_key("login");
    let dir = tmp(&stack);
    let (agent, sock) = start_agent(&stack.run_dir(), &dir);
    let pub_file = dir.join("login.pub");
    must(std::fs::write(&pub_file, &line), "login.pub");
    let sshd = Sshd::start(&dir, &line);

    let out = sshd.ssh(&sock, &pub_file, "echo logged-in-with-the-keystore-key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"logged-in-with-the-keystore-key\n");
    // ssh told the agent which host it signed for (session-bind), and
    // the agent verified and recorded it.
    agent.expect("session bound", |l| {
        l.contains("session bound to host SHA256:")
    });

    // ssh-add -x: locked, the agent lists nothing and signs nothing.
    let locked = run(with_agent("ssh-add", &sock).arg("-x"), b"pass\npass\n");
    assert!(
        locked.status.success(),
        "{}",
        String::from_utf8_lossy(&locked.stderr)
    );
    let out = sshd.ssh(&sock, &pub_file, "echo should-not-run");
    assert_eq!(out.status.code(), Some(255), "login while locked");
    assert!(out.stdout.is_empty());
    // A wrong passphrase leaves it locked; the right one (after the
    // throttle delay) unlocks it, and the login works again.
    let wrong = run(with_agent("ssh-add", &sock).arg("-X"), b"nope\n");
    assert!(!wrong.status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let unlocked = run(with_agent("ssh-add", &sock).arg("-X"), b"pass\n");
    assert!(
        unlocked.status.success(),
        "{}",
        String::from_utf8_lossy(&unlocked.stderr)
    );
    let out = sshd.ssh(&sock, &pub_file, "echo again");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"again\n");
    drop(sshd);
    drop(agent);
}

#[test]
fn git_commit_signed_through_the_agent_verifies() {
    require_tools();
    let (stack, line) = stack_with_key("git");
    let dir = tmp(&stack);
    let (_agent, sock) = start_agent(&stack.run_dir(), &dir);
    let repo_dir = dir.join("repo");
    must(std::fs::create_dir(&repo_dir), "repo dir");
    let git = |args: &[&str]| {
        let mut c = with_agent("git", &sock);
        c.current_dir(&repo_dir)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args);
        c
    };
    ok(&mut git(&["init", "-q"]));
    for (k, v) in [
        ("user.name", "Nexus Test"),
        ("user.email", "dev@example.com"),
        ("gpg.format", "ssh"),
    ] {
        ok(&mut git(&["config", k, v]));
    }
    ok(&mut git(&[
        "config",
        "user.signingkey",
        &format!("key::{}", line.trim_end()),
    ]));
    must(std::fs::write(repo_dir.join("README"), "signed\n"), "file");
    ok(&mut git(&["add", "README"]));
    ok(&mut git(&[
        "commit",
        "-q",
        "-S",
        "-m",
        "signed through nexus-ssh-agent",
    ]));

    let allowed = dir.join("allowed_signers");
    must(
        std::fs::write(&allowed, format!("dev@example.com {line}")),
        "allowed",
    );
    let allowed_opt = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let out = run(
        &mut git(&["-c", &allowed_opt, "verify-commit", "HEAD"]),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Good \"git\" signature for dev@example.com")
    );

    // Another key in the allowed-signers file: the same commit is refused.
    let other = dir.join("other");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other));
    let other_pub = must(
        std::fs::read_to_string(other.with_extension("pub")),
        "other.pub",
    );
    must(
        std::fs::write(&allowed, format!("dev@example.com {other_pub}")),
        "allowed",
    );
    let out = run(
        &mut git(&["-c", &allowed_opt, "verify-commit", "HEAD"]),
        b"",
    );
    assert!(!out.status.success());
}

#[test]
fn ssh_add_imports_a_key_file_that_then_logs_in_and_is_never_exported() {
    require_tools();
    let (stack, line) = stack_with_key("present");
    let dir = tmp(&stack);
    let (agent, sock) = start_agent(&stack.run_dir(), &dir);
    let ssh_dir = dir.join("home/.ssh");
    must(std::fs::create_dir_all(&ssh_dir), "~/.ssh");
    let key = ssh_dir.join("id_ed25519");
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f"])
        .arg(&key));
    let seed = {
        let k = must(
            ssh_key::PrivateKey::read_openssh_file(&key),
            "read id_ed25519",
        );
        let pair = k.key_data().ed25519().expect("an Ed25519 key").clone();
        pair.private.to_bytes()
    };
    let file_pub = must(std::fs::read_to_string(key.with_extension("pub")), "id.pub");
    let key_field = file_pub.split_whitespace().nth(1).unwrap().to_owned();

    // ssh-add imports it (key.import under purpose ssh) ...
    let out = run(with_agent("ssh-add", &sock).arg(&key), b"");
    assert!(
        out.status.success(),
        "ssh-add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let logged = agent.expect("import", |l| {
        l.contains("key imported into the keystore as ssh/me-laptop-")
    });
    let name = logged.rsplit("ssh/").next().unwrap().trim().to_owned();
    // ... and it is the keystore's now: the agent offers it with the
    // keystore's comment, next to the key that was there.
    let listed = ok(with_agent("ssh-add", &sock).arg("-L"));
    let imported_line = listed
        .lines()
        .find(|l| l.contains(&key_field))
        .expect("ssh-add -L lists the imported key")
        .to_owned();
    assert_eq!(
        imported_line,
        format!("ssh-ed25519 {key_field} system.admin/ssh/{name} v1")
    );
    assert!(listed.contains(line.trim_end()), "{listed}");
    // Adding the same file again is idempotent.
    let again = run(with_agent("ssh-add", &sock).arg(&key), b"");
    assert!(again.status.success());

    // The keystore cannot export it: no op returns the seed; export-wrapped
    // gives only a blob for this device's keymintd; no state file holds it.
    let run_dir = stack.run_dir();
    let shown = nx(&run_dir, &["--json", "key", "show", "ssh", &name]);
    let exported = nx(&run_dir, &["--json", "key", "export-wrapped", "ssh", &name]);
    for text in [&shown, &exported] {
        assert!(!text.contains(&hex(&seed)), "{text}");
    }
    let blob = b64(&exported);
    assert!(blob.len() > 32 && !blob.windows(32).any(|w| w == seed));
    for f in walk(run_dir.parent().unwrap()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(32).any(|w| w == seed),
            "{} holds the seed",
            f.display()
        );
    }

    // The key file can go: ssh still logs in with the key, through the
    // agent and the keystore.
    must(std::fs::remove_file(&key), "rm id_ed25519");
    let pub_file = dir.join("imported.pub");
    must(std::fs::write(&pub_file, &imported_line), "imported.pub");
    let sshd = Sshd::start(&dir, &file_pub);
    let out = sshd.ssh(&sock, &pub_file, "echo logged-in-with-the-imported-key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"logged-in-with-the-imported-key\n");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `blob_b64` of a `--json` export.
fn b64(json: &str) -> Vec<u8> {
    use base64::Engine;
    let v: serde_json::Value = must(serde_json::from_str(json), "json");
    must(
        base64::engine::general_purpose::STANDARD.decode(v["blob_b64"].as_str().unwrap()),
        "base64",
    )
}

/// Every regular file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => out.extend(walk(&p)),
            Ok(m) if m.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}
