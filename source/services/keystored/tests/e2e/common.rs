//! The test supervisor: runs the real keymintd and keystored binaries with
//! a control channel on stdin (as nexus-init does), wires keystored's
//! `keymintd` endpoint with `wire::handoff`, hands out client endpoints
//! with chosen subjects, reads markers, and plays identityd towards
//! keymintd (users' vault keys and session unseal through `RemoteKeyMint`)
//! so the vault can be driven without the identityd binary.
//!
//! Binaries: keystored is `CARGO_BIN_EXE_keystored`. keymintd is another
//! package's binary, which cargo does not expose to this crate: it is taken
//! from `$KEYMINTD_BIN` if set, else from the target directory this test
//! runs from (`target/<profile>/keymintd`, the parent of `deps/`). Build it
//! first, for example by testing both packages together:
//! `cargo test -p keymintd -p keystored`.
//!
//! Processes are `nexus_daemon::testkit::Proc`: every wait is bounded
//! (`testkit::WAIT`) and they are killed on drop.

use keymint::{AuthSecret, SessionKeyOps, VaultOwner};
use keymint_client::RemoteKeyMint;
use nexus_core::{InstanceId, SessionId, UserId};
use nexus_daemon::testkit::sibling_bin;
pub use nexus_daemon::testkit::Proc;
use nexus_daemon::SingleClient;
use std::path::{Path, PathBuf};
use wire::{Args, Value};

pub const ALPHA: &str = "app:com.example.alpha";
pub const BETA: &str = "app:com.example.beta";
pub const DELTA: &str = "app:com.example.delta";
pub const ATTESTD: &str = "system:attestd";

/// A second local uid, mapped to `app:com.example.beta`: a second subject
/// on the public socket (used by a child process when the test runs as
/// root).
pub const OTHER_UID: u32 = 4242;

pub fn keymintd_bin() -> PathBuf {
    sibling_bin("keymintd", "KEYMINTD_BIN")
}

/// The test's policy: the apps with what they need (beta with a small
/// vault quota, delta with the default one for the load test), gamma with
/// nothing, admin with everything, the test's own uid mapped to
/// system:admin and [`OTHER_UID`] to beta for the public socket.
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
subject = "system:attestd"
capabilities = ["identity.key.create", "identity.key.sign"]
[[subjects]]
subject = "system:admin"
capabilities = ["identity.key.create", "identity.key.sign", "identity.trust.write", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt", "identity.key.export",
  "identity.key.delete", "identity.key.import", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.key.create", "identity.key.sign", "identity.key.seal",
  "identity.key.decrypt", "identity.vault.use"]
vault_quota = {{ soft_bytes = 65536, hard_bytes = 131072, soft_count = 2, hard_count = 3 }}
[[subjects]]
subject = "app:com.example.delta"
capabilities = ["identity.key.create", "identity.key.sign", "identity.vault.use"]
[[subjects]]
subject = "app:com.example.gamma"
capabilities = []
[[uid_map]]
uid = {uid}
subject = "system:admin"
[[uid_map]]
uid = {OTHER_UID}
subject = "app:com.example.beta"
"#
    )
}

/// keymintd + keystored over one state directory, as nexus-init runs them.
pub struct Stack {
    pub keymintd: Proc,
    pub keystored: Proc,
    pub dir: tempfile::TempDir,
    /// The test playing identityd towards keymintd.
    pub identityd: RemoteKeyMint,
}

impl Stack {
    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    pub fn run(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn trust(&self) -> PathBuf {
        self.dir.path().join("trust")
    }
    pub fn audit(&self) -> String {
        std::fs::read_to_string(self.state().join("audit/keystored.jsonl")).unwrap_or_default()
    }

    /// Start both daemons (durable state) and wait until keystored is ready.
    pub fn start() -> Stack {
        Self::start_with(&[])
    }

    /// [`Stack::start`] with `extra` arguments for keystored.
    pub fn start_with(extra: &[&str]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join("policy.toml"), policy_text()).unwrap();
        std::fs::create_dir(p.join("trust")).unwrap();
        let args = Self::args(p);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        let keymintd = Proc::spawn(&keymintd_bin(), &args[..6]);
        keymintd.wait_for("keymintd: ready");
        let identityd = RemoteKeyMint::connect(SingleClient::new(
            "keymintd",
            keymintd.connect("system:identityd"),
        ))
        .unwrap();
        // As identityd does at its start: keymintd learns it knows every
        // session (none), so unknown ids are unknown from now on.
        identityd.sync_sessions(&[]).unwrap();
        let keystored = Self::spawn_keystored_with(&keymintd, p, extra);
        Stack {
            keymintd,
            keystored,
            dir,
            identityd,
        }
    }

    fn args(p: &Path) -> Vec<std::ffi::OsString> {
        [
            "--state".into(),
            p.join("state").into_os_string(),
            "--policy".into(),
            p.join("policy.toml").into_os_string(),
            "--run".into(),
            p.join("run").into_os_string(),
            "--trust-dir".into(),
            p.join("trust").into_os_string(),
        ]
        .to_vec()
    }

    fn spawn_keystored(keymintd: &Proc, p: &Path) -> Proc {
        Self::spawn_keystored_with(keymintd, p, &[])
    }

    fn spawn_keystored_with(keymintd: &Proc, p: &Path, extra: &[&str]) -> Proc {
        let mut args = Self::args(p);
        args.extend(extra.iter().map(std::ffi::OsString::from));
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        let ks = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_keystored")), &args);
        Self::wire_keymintd(keymintd, &ks);
        ks
    }

    /// A fresh keystored → keymintd connection, as nexus-init re-issues it.
    fn wire_keymintd(keymintd: &Proc, ks: &Proc) {
        ks.link("keymintd", keymintd, "system:keystored");
    }

    /// Kill keymintd hard (keystored's connection to it closes), leaving it
    /// down until [`Stack::start_keymintd`].
    pub fn kill_keymintd(&mut self) {
        self.keymintd.kill();
    }

    /// Start keymintd again over the same state and hand keystored (and the
    /// test playing identityd) new endpoints to it, as nexus-init does.
    pub fn start_keymintd(&mut self) {
        let args = Self::args(self.dir.path());
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|s| s.as_os_str()).collect();
        self.keymintd = Proc::spawn(&keymintd_bin(), &args[..6]);
        Self::wire_keymintd(&self.keymintd, &self.keystored);
        self.keymintd.wait_for("keymintd: ready");
        self.identityd = RemoteKeyMint::connect(SingleClient::new(
            "keymintd",
            self.keymintd.connect("system:identityd"),
        ))
        .unwrap();
    }

    /// Kill keystored hard and start it again over the same state.
    pub fn restart_keystored(&mut self) -> Proc {
        self.keystored.kill();
        let fresh = Self::spawn_keystored(&self.keymintd, self.dir.path());
        std::mem::replace(&mut self.keystored, fresh)
    }

    /// Create `user` (an instance of id `[seed; 16]`, password-derived
    /// secret `seed`) and open an unsealed session for them in keymintd,
    /// as identityd does at login.
    pub fn login(&self, user: &str, seed: u8, sid_byte: u8) -> SessionId {
        let owner = VaultOwner {
            user: UserId::new(user).unwrap(),
            instance: InstanceId::from_bytes([seed; 16]),
            legacy: false,
        };
        let auth = AuthSecret::from_bytes([seed; 32]);
        let wrapped = self.identityd.create_vault_key(&owner, &auth).unwrap();
        let sid = SessionId::from_bytes([sid_byte; 16]);
        self.identityd
            .unseal_session(sid, &owner, &auth, &wrapped)
            .unwrap();
        sid
    }
}

/// `args` as an Args map.
pub fn args(pairs: &[(&'static str, Value)]) -> Args {
    pairs
        .iter()
        .fold(Args::new(), |a, (k, v)| a.with(k, v.clone()))
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A field of a reply map.
pub fn field(v: &Value, name: &str) -> Value {
    v.as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}
