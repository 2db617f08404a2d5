//! Fixtures: the real stack in-process — statefs on a temp dir, a real
//! KeyMint (OS entropy), the keystore, and the real policy engine with a
//! policy written here and an in-memory audit sink.

use attestd::{Attestd, LocalBackend};
use keymint::{Algorithm, Entropy, KeyMint};
use keystore::{DefaultQuota, KeyName, KeyStore};
use nexus_core::{Coded, ErrorCode, ManualClock, Subject};
use policy::{MemorySink, Policy, PolicyEngine};
use statefs::StateFs;
use std::fmt::{Debug, Display};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

pub const NOW: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
pub const NONCE: &[u8] = b"verifier-nonce-0001";
pub const ALPHA: &str = "app:com.example.alpha";
pub const BETA: &str = "app:com.example.beta";
/// Holds identity.key.* but not identity.attest.
pub const GAMMA: &str = "app:com.example.gamma";
pub const ADMIN: &str = "system:admin";

pub const POLICY: &str = r#"
version = 1

[[subjects]]
subject = "system:attestd"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.sign"]

[[subjects]]
subject = "system:admin"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.attest"]

[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke", "identity.attest"]

[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.key.create", "identity.attest"]

[[subjects]]
subject = "app:com.example.gamma"
capabilities = ["identity.key.create"]
"#;

pub fn subject(s: &str) -> Subject {
    s.parse().unwrap()
}

/// attestd's first device key, in its own namespace.
pub fn device_key() -> KeyName {
    KeyName::parse("system.attestd", "device-attest", "device").unwrap()
}

pub fn label(s: &str) -> nexus_core::Label {
    nexus_core::Label::new(s).unwrap()
}

/// statefs + keymint + keystore + policy engine over one directory.
pub struct Stack {
    pub store: Arc<KeyStore>,
    pub keymint: Arc<KeyMint>,
    pub engine: Arc<PolicyEngine>,
    pub audit: MemorySink,
    pub clock: ManualClock,
}

impl Stack {
    /// Open the stack over `dir` (durable), as a daemon does on start.
    pub fn open(dir: &Path, policy: &str) -> Stack {
        let state = StateFs::open(dir).unwrap();
        let keymint = Arc::new(KeyMint::open(&state, Entropy::os()).unwrap());
        let clock = ManualClock::new(NOW);
        let store = Arc::new(KeyStore::new(
            state,
            keymint.clone(),
            Arc::new(clock.clone()),
            Arc::new(DefaultQuota),
        ));
        let audit = MemorySink::new();
        let engine = Arc::new(PolicyEngine::new(
            Policy::from_toml_str(policy).unwrap(),
            Box::new(audit.clone()),
            Arc::new(clock.clone()),
        ));
        Stack {
            store,
            keymint,
            engine,
            audit,
            clock,
        }
    }

    /// attestd over this stack's keystore, in-process.
    pub fn start_local(&self) -> Result<Attestd, attestd::AttestError> {
        let backend = LocalBackend::new(
            self.store.clone(),
            self.keymint.clone(),
            self.engine.clone(),
            subject("system:attestd"),
        )
        .unwrap();
        Attestd::start(
            Box::new(backend),
            self.engine.clone(),
            Arc::new(self.clock.clone()),
        )
    }

    /// Create an Ed25519 key `(purpose, name)` for `owner`.
    pub fn create_key(&self, owner: &str, purpose: &str, name: &str) -> KeyName {
        let owner = subject(owner);
        let key = KeyName::parse(owner.key_namespace().as_str(), purpose, name).unwrap();
        self.store
            .create(&owner, &*self.engine, &key, Algorithm::Ed25519)
            .unwrap();
        key
    }

    pub fn audit_lines(&self) -> Vec<String> {
        self.audit.lines().unwrap()
    }
}

/// A stack with attestd started over it in-process.
pub struct Fixture {
    pub stack: Stack,
    pub svc: Attestd,
}

impl std::ops::Deref for Fixture {
    type Target = Stack;
    fn deref(&self) -> &Stack {
        &self.stack
    }
}

impl Fixture {
    pub fn open(dir: &Path) -> Fixture {
        let stack = Stack::open(dir, POLICY);
        let svc = stack.start_local().unwrap();
        Fixture { stack, svc }
    }
}

/// Assert `r` failed with exactly `code`; return the message.
#[track_caller]
pub fn expect_code<T: Debug, E: Coded + Display + Debug>(
    r: Result<T, E>,
    code: ErrorCode,
) -> String {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code(), code, "wrong code for error: {e}");
    e.to_string()
}

const INSTALL_HINT: &str = "the interop test needs python3 with pycose and cbor2: \
                            run `pip install pycose cbor2`";
/// Exit status of the script when an import fails.
const EXIT_MISSING_MODULE: i32 = 3;

/// The eat crate's third-party verifier (pycose + cbor2 only).
pub fn pycose_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../libs/eat/tests/pycose_verify.py")
}

/// Run the pycose verifier on `token`. Fails the test (never skips) when
/// python3, pycose or cbor2 is missing.
pub fn pycose(dir: &Path, token: &[u8], device_pub: &[u8], nonce: &[u8], app: &str) -> Output {
    std::fs::write(dir.join("token.cbor"), token).unwrap();
    std::fs::write(dir.join("device_pub.bin"), device_pub).unwrap();
    let out = Command::new("python3")
        .arg(pycose_script())
        .arg("--token")
        .arg(dir.join("token.cbor"))
        .arg("--device-key")
        .arg(dir.join("device_pub.bin"))
        .arg("--nonce")
        .arg(hex::encode(nonce))
        .arg("--app-id")
        .arg(app)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL_HINT}"));
    if out.status.code() == Some(EXIT_MISSING_MODULE) {
        panic!("{INSTALL_HINT}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    out
}
