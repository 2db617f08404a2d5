//! The test supervisor for identityd: runs the real keymintd, keystored
//! and identityd binaries over one state directory with control channels
//! on stdin, wires each daemon's upstream endpoints with `wire::handoff`
//! (as nexus-init does: keystored → keymintd, identityd → keymintd and
//! keystored), and hands out client endpoints with chosen subjects.
//!
//! Binaries: identityd is `CARGO_BIN_EXE_identityd`. keymintd and
//! keystored belong to other packages, whose binaries cargo does not
//! expose here: they are taken from `$KEYMINTD_BIN` / `$KEYSTORED_BIN`, else
//! from the target directory this test runs from (the parent of `deps/`).
//! Build them first, for example by testing the packages together:
//! `cargo test -p keymintd -p keystored -p identityd`.
//!
//! Failing writes are real: [`Stack::restart_identityd`] can run identityd
//! with a file size limit (`prlimit --fsize`, `SIGXFSZ` ignored, so an
//! append past the limit fails with `EFBIG`), or in a mount namespace of
//! its own where one directory of the state is a full tmpfs (`unshare
//! -m`; writes there fail with `ENOSPC`). Nothing outside that process
//! sees the mount, and it goes away with the process.
//!
//! Processes are `nexus_daemon::testkit::Proc`: every wait is bounded
//! (`testkit::WAIT`) and they are killed on drop.

pub use nexus_daemon::testkit::{sibling_bin, Proc};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use wire::{Args, Client, Value};

pub const ALPHA: &str = "app:com.example.alpha";
pub const BETA: &str = "app:com.example.beta";

pub fn policy_text() -> String {
    let uid = rustix::process::getuid().as_raw();
    format!(
        r#"version = 1
[[subjects]]
subject = "system:keystored"
capabilities = []
[[subjects]]
subject = "system:identityd"
capabilities = []
[[subjects]]
subject = "system:admin"
capabilities = ["identity.user.admin", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.vault.use"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.vault.use"]
[[uid_map]]
uid = {uid}
subject = "system:admin"
"#
    )
}

/// How identityd is run on a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// As usual.
    None,
    /// Every write that would make a file larger than this many bytes
    /// fails (`EFBIG`): with the audit log already that large, every audit
    /// line fails while small state records still fit.
    FileSize(u64),
    /// The state directory `state/<dir>` is a full filesystem in
    /// identityd's mount namespace: new records fail with `ENOSPC`, the
    /// audit log (elsewhere) still works.
    FullDir(&'static str),
}

/// keymintd, keystored and identityd over one state directory.
pub struct Stack {
    pub keymintd: Proc,
    pub keystored: Proc,
    pub identityd: Proc,
    pub dir: tempfile::TempDir,
    extra: Vec<String>,
}

fn identityd_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_identityd"))
}

impl Stack {
    /// Start all three; identityd with `extra` flags. Returns once every
    /// daemon said ready; also returns identityd's ready line.
    pub fn start(extra: &[&str]) -> (Stack, String) {
        Self::start_over(extra, None)
    }

    /// [`Stack::start`] over a copy of the state directory `fixture`.
    pub fn start_over(extra: &[&str], fixture: Option<&Path>) -> (Stack, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("policy.toml"), policy_text()).unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        if let Some(f) = fixture {
            copy_dir(f, &p.join("state"));
        }
        let keymintd = Self::spawn_keymintd(p);
        let keystored = Self::spawn_keystored(p, &keymintd);
        keystored.wait_for("keystore: ready");
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let identityd = Self::spawn_identityd(p, &extra, Limit::None, &keymintd, &keystored);
        let ready = identityd.wait_for("identityd: ready");
        (
            Stack {
                keymintd,
                keystored,
                identityd,
                dir,
                extra,
            },
            ready,
        )
    }

    fn common(p: &Path, run: &str) -> Vec<OsString> {
        vec![
            "--state".into(),
            p.join("state").into(),
            "--policy".into(),
            p.join("policy.toml").into(),
            "--run".into(),
            p.join(run).into(),
        ]
    }

    fn spawn_keymintd(p: &Path) -> Proc {
        let k = Proc::spawn(
            &sibling_bin("keymintd", "KEYMINTD_BIN"),
            Self::common(p, "run"),
        );
        k.wait_for("keymintd: ready");
        k
    }

    fn spawn_keystored(p: &Path, keymintd: &Proc) -> Proc {
        let mut a = Self::common(p, "run");
        a.extend(["--trust-dir".into(), p.join("trust").into()]);
        let ks = Proc::spawn(&sibling_bin("keystored", "KEYSTORED_BIN"), a);
        ks.link("keymintd", keymintd, "system:keystored");
        ks
    }

    fn spawn_identityd(
        p: &Path,
        extra: &[String],
        limit: Limit,
        keymintd: &Proc,
        keystored: &Proc,
    ) -> Proc {
        let mut a = Self::common(p, "run");
        a.extend(extra.iter().map(OsString::from));
        let id = match limit {
            Limit::None => Proc::spawn(identityd_bin(), a),
            Limit::FileSize(n) => {
                let mut w: Vec<OsString> = vec![
                    "-c".into(),
                    "trap '' XFSZ; n=$1; shift; exec prlimit --fsize=\"$n\" -- \"$@\"".into(),
                    "sh".into(),
                    n.to_string().into(),
                    identityd_bin().into(),
                ];
                w.extend(a);
                Proc::spawn(Path::new("/bin/sh"), w)
            }
            Limit::FullDir(sub) => {
                let script = "set -e; d=$1; shift; keep=$(mktemp -d); \
                    cp -a \"$d\"/. \"$keep\"/; \
                    mount -t tmpfs -o size=64k,mode=0700 nexus-full \"$d\"; \
                    cp -a \"$keep\"/. \"$d\"/; rm -rf \"$keep\"; \
                    cat /dev/zero > \"$d/.fill\" 2>/dev/null || true; \
                    exec \"$@\"";
                let unshare = if rustix::process::geteuid().is_root() {
                    "-m"
                } else {
                    "-rm"
                };
                let mut w: Vec<OsString> = vec![
                    unshare.into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    script.into(),
                    "sh".into(),
                    p.join("state").join(sub).into(),
                    identityd_bin().into(),
                ];
                w.extend(a);
                Proc::spawn(Path::new("/usr/bin/unshare"), w)
            }
        };
        id.link("keymintd", keymintd, "system:identityd");
        id.link("keystored", keystored, "system:identityd");
        id
    }

    /// Kill identityd and start it again over the same state, run as
    /// `limit` says; returns its ready line.
    pub fn restart_identityd(&mut self, limit: Limit) -> String {
        self.identityd.kill();
        self.identityd = Self::spawn_identityd(
            self.dir.path(),
            &self.extra,
            limit,
            &self.keymintd,
            &self.keystored,
        );
        self.identityd.wait_for("identityd: ready")
    }

    /// Kill keymintd hard, start a new one over the same state and hand
    /// keystored and identityd fresh endpoints to it, as nexus-init does
    /// after a crash.
    pub fn restart_keymintd(&mut self) {
        self.keymintd.kill();
        self.keymintd = Self::spawn_keymintd(self.dir.path());
        self.keystored
            .link_and_wait("keymintd", &self.keymintd, "system:keystored");
        self.identityd
            .link_and_wait("keymintd", &self.keymintd, "system:identityd");
    }

    /// Kill keystored (it stays down until [`Stack::start_keystored`]).
    pub fn stop_keystored(&mut self) {
        self.keystored.kill();
    }

    /// Start keystored again and give identityd a fresh endpoint to it.
    pub fn start_keystored(&mut self) {
        self.keystored = Self::spawn_keystored(self.dir.path(), &self.keymintd);
        self.keystored.wait_for("keystore: ready");
        self.identityd
            .link_and_wait("keystored", &self.keystored, "system:identityd");
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/identityd.sock")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn audit_path(&self) -> PathBuf {
        self.state().join("audit/identityd.jsonl")
    }

    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.audit_path()).unwrap()
    }

    /// The administrator's connection (public socket, the test's uid).
    pub fn admin(&self) -> Client {
        Client::connect(self.socket()).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
}

pub fn a(pairs: &[(&'static str, &str)]) -> Args {
    pairs.iter().fold(Args::new(), |a, (k, v)| a.with(k, *v))
}

pub fn field(v: &Value, name: &str) -> Value {
    nexus_daemon::testkit::field(v, name).clone()
}

pub fn login(c: &mut Client, user: &str, pw: &str) -> Result<String, wire::ClientError> {
    let r = c.call("session.login", &a(&[("user", user), ("password", pw)]))?;
    assert_eq!(field(&r, "state"), Value::Text("active".into()));
    Ok(field(&r, "sid").as_text().unwrap().to_owned())
}

pub fn create(admin: &mut Client, user: &str, pw: &str) {
    admin
        .call("user.create", &a(&[("user", user), ("password", pw)]))
        .unwrap();
}

pub fn put(ks: &mut Client, sid: &str, name: &str, v: &[u8]) -> Result<Value, wire::ClientError> {
    let args = a(&[("sid", sid), ("name", name)]).with("value", Value::Bytes(v.to_vec()));
    ks.call("vault.put", &args)
}

pub fn get(ks: &mut Client, sid: &str, name: &str) -> Result<Value, wire::ClientError> {
    ks.call("vault.get", &a(&[("sid", sid), ("name", name)]))
}

pub fn value(v: &Value) -> Vec<u8> {
    match field(v, "value") {
        Value::Bytes(b) => b,
        other => panic!("value is {other:?}"),
    }
}

/// The state of the session `sid` as `c`'s subject sees it.
pub fn status(c: &mut Client, sid: &str) -> Result<String, wire::ClientError> {
    let r = c.call("session.status", &a(&[("sid", sid)]))?;
    Ok(field(&r, "state").as_text().unwrap().to_owned())
}
