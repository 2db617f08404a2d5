//! A non-root app uses the real stack: real users made with `useradd`, a
//! socket group in the manifest (`[sockets] group`), a run directory
//! outside the private state directory (`--run`), and a `[[uid_map]]`
//! entry that maps the app's uid to `app:com.example.nonroot`. The app
//! drives keys and the vault through the real `nx` binary as its own uid
//! (`setpriv`), finding the stack through `$NEXUS_RUN`; a user of the
//! socket group whom the policy does not map is refused with a message
//! naming its uid and the policy file; a user outside the group cannot
//! open the sockets at all, and nobody but root reads the state.
//!
//! It creates users and a group, so it needs root (CI runs as root): run
//! as anyone else it fails, it does not skip. Names carry the test's pid
//! and are removed at the end, whatever happens.
//!
//! Run: `cargo build --bins && cargo test -p stack_e2e --test nonroot`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../stack/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../stack/procs.rs"]
mod procs;

use harness::{bin_dir, must, repo, Stack, BOOT_WAIT};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const APP: &str = "app:com.example.nonroot";

/// Run a command that must succeed (set-up and clean-up tools).
fn sh(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run scripts/install-test-deps.sh)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The users and the group this test made; removed on drop.
struct Accounts {
    group: String,
    users: Vec<String>,
}

impl Accounts {
    fn create(tag: &str) -> Accounts {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test creates users and a group with useradd/groupadd: run it as root \
             (CI does); it does not skip"
        );
        let group = format!("nxg{tag}");
        sh("groupadd", &["--system", &group]);
        let mut acc = Accounts {
            group,
            users: Vec::new(),
        };
        for (who, in_group) in [("app", true), ("stranger", true), ("outsider", false)] {
            let name = format!("nx{who}{tag}");
            let mut args = vec![
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ];
            if in_group {
                args.extend(["-G", acc.group.as_str()]);
            }
            args.push(&name);
            sh("useradd", &args);
            acc.users.push(name);
        }
        acc
    }

    fn user(&self, who: &str) -> &str {
        self.users
            .iter()
            .find(|u| u.starts_with(&format!("nx{who}")))
            .unwrap()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for u in &self.users {
            let _ = Command::new("userdel").arg(u).output();
        }
        let _ = Command::new("groupdel").arg(&self.group).output();
    }
}

fn uid_of(user: &str) -> u32 {
    let out = must(Command::new("id").args(["-u", user]).output(), "id -u");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// `nx ARGS` as `user` (its uid, primary and supplementary groups), with a
/// clean environment holding only `NEXUS_RUN` and `extra`, in `cwd`.
fn nx_as(
    user: &str,
    nx: &Path,
    run: &Path,
    cwd: &Path,
    extra: &[(&str, &str)],
    args: &[&str],
) -> Output {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={user}"))
        .arg(format!("--regid={user}"))
        .arg("--init-groups")
        .arg("--")
        .arg(nx)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NEXUS_RUN", run);
    for (k, v) in extra {
        c.env(k, v);
    }
    must(c.output(), "setpriv (util-linux)")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(o: &Output, what: &str) -> String {
    let (out, err) = text(o);
    assert!(o.status.success(), "{what}: {err}");
    out
}

#[test]
fn a_non_root_app_uses_keys_and_the_vault_through_nx() {
    let tag = std::process::id().to_string();
    let acc = Accounts::create(&tag);
    let (app, stranger, outsider) = (acc.user("app"), acc.user("stranger"), acc.user("outsider"));
    let app_uid = uid_of(app);
    let stranger_uid = uid_of(stranger);

    let dir = must(tempfile::tempdir(), "temporary directory");
    let root = dir.path().to_path_buf();
    // Others may pass through the test's directory (as through /run), not
    // into the state directory below it.
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let nx: PathBuf = root.join("nx");
    std::fs::copy(bin_dir().join("nx"), &nx).unwrap();
    std::fs::set_permissions(&nx, std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = root.join("work");
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::chown(&work, Some(app_uid), None).unwrap();

    let repo = repo();
    let manifest = root.join("init.toml");
    let shipped = std::fs::read_to_string(repo.join("config/init.toml")).unwrap();
    std::fs::write(
        &manifest,
        format!("{shipped}\n[sockets]\ngroup = \"{}\"\n", acc.group),
    )
    .unwrap();
    let policy = root.join("policy.toml");
    let shipped = std::fs::read_to_string(repo.join("config/policy.toml")).unwrap();
    std::fs::write(
        &policy,
        format!(
            "{shipped}\n[[subjects]]\nsubject = \"{APP}\"\ncapabilities = [\"identity.key.create\", \
             \"identity.key.sign\", \"identity.key.delete\", \"identity.vault.use\"]\n\n\
             [[uid_map]]\nuid = {app_uid}\nsubject = \"{APP}\"\n"
        ),
    )
    .unwrap();
    let run = root.join("run");
    let stack = Stack::start_custom(dir, &manifest, Some(policy.clone()), Some(run.clone()));
    let export = format!("NEXUS_RUN={}; export NEXUS_RUN;", run.display());
    stack.expect("the export line", BOOT_WAIT, |l| l == export);
    stack.expect("init: ready", BOOT_WAIT, |l| l == "init: ready");

    // The layout: sockets reachable by the group, state private to root.
    let state = root.join("state");
    let meta = |p: &Path| std::fs::symlink_metadata(p).unwrap();
    assert_eq!(meta(&state).mode() & 0o7777, 0o700);
    assert_eq!(meta(&run).mode() & 0o7777, 0o750);
    for sock in ["keystored.sock", "identityd.sock", "init.sock"] {
        let m = meta(&run.join(sock));
        assert_eq!(m.mode() & 0o7777, 0o660, "{sock}");
        assert_eq!(m.gid(), meta(&run).gid(), "{sock}");
    }

    // Root (system:admin) creates a user for the app's vault.
    let pw = root.join("alice.pw");
    std::fs::write(&pw, "correct horse\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let root_nx = must(
        Command::new(&nx)
            .args([
                "--run",
                run.to_str().unwrap(),
                "user",
                "create",
                "alice",
                "--password-file",
            ])
            .arg(&pw)
            .output(),
        "nx user create",
    );
    ok(&root_nx, "nx user create alice (root)");

    // The app: keys in its own namespace, found through $NEXUS_RUN.
    let as_app = |extra: &[(&str, &str)], args: &[&str]| nx_as(app, &nx, &run, &work, extra, args);
    ok(
        &as_app(&[], &["key", "create", "signing", "k1"]),
        "key create",
    );
    let show = ok(
        &as_app(&[], &["--json", "key", "show", "signing", "k1"]),
        "key show",
    );
    let show: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(show["app"], "com.example.nonroot");
    std::fs::write(work.join("msg"), b"hello from an app").unwrap();
    ok(
        &as_app(
            &[],
            &[
                "key", "sign", "signing", "k1", "--in", "msg", "--out", "msg.sig",
            ],
        ),
        "key sign",
    );
    ok(
        &as_app(
            &[],
            &[
                "key", "verify", "signing", "k1", "--sig", "msg.sig", "--in", "msg",
            ],
        ),
        "key verify",
    );
    ok(&as_app(&[], &["status"]), "status (init.sock too)");
    let denied = as_app(&[], &["key", "export-wrapped", "signing", "k1"]);
    assert_eq!(denied.status.code(), Some(10), "{}", text(&denied).1);

    let sid = ok(
        &as_app(
            &[],
            &[
                "session",
                "login",
                "alice",
                "--password-file",
                pw.to_str().unwrap(),
            ],
        ),
        "session login",
    );
    let sid = sid.trim().to_owned();
    let with_sid = [("NEXUS_SID", sid.as_str())];
    std::fs::write(work.join("value"), b"s3cret").unwrap();
    ok(
        &as_app(&with_sid, &["vault", "put", "db", "--in", "value"]),
        "vault put",
    );
    let got = as_app(&with_sid, &["vault", "get", "db"]);
    ok(&got, "vault get");
    assert_eq!(got.stdout, b"s3cret");
    ok(
        &as_app(&[], &["key", "delete", "signing", "k1"]),
        "key delete",
    );

    // A member of the socket group whom the policy does not map.
    let o = nx_as(stranger, &nx, &run, &work, &[], &["key", "list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert!(err.contains("EPERM"), "{err}");
    assert!(err.contains(&format!("uid {stranger_uid}")), "{err}");
    assert!(err.contains(policy.to_str().unwrap()), "{err}");
    let o = nx_as(stranger, &nx, &run, &work, &[], &["--json", "status"]);
    assert_ne!(o.status.code(), Some(0));

    // A user outside the group cannot even open the sockets, and is told
    // where and why.
    let o = nx_as(outsider, &nx, &run, &work, &[], &["key", "list"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot connect to {}/keystored.sock",
            run.display()
        )),
        "{err}"
    );
    assert!(err.contains("[sockets] group"), "{err}");

    // Nobody but root reads the state, the app included.
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={app}"),
            &format!("--regid={app}"),
            "--init-groups",
            "--",
        ])
        .arg("ls")
        .arg(&state)
        .output()
        .unwrap();
    assert!(!o.status.success(), "the app listed the state directory");
    let mut stack = stack;
    stack.signal(rustix::process::Signal::Term);
    assert_eq!(stack.wait_exit(harness::WAIT).code(), Some(0));
}
