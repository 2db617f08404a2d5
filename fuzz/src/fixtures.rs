//! What every input of `daemon_requests` shares, made once per fuzzing
//! process in a temporary directory: the policy file, the system trust
//! directory, signed (and broken) bundles and updates whose paths the
//! `path` arguments name, and the texts that `trust.add` takes.
//!
//! Invariants: nothing here is written after it is made (the daemons only
//! read these paths); each daemon's audit log goes under [`Fixtures::run`],
//! which [`crate::stack::World`] empties after every input, so a long run
//! does not fill the disk.

use nexus_core::Label;
use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use trust::minisign::MinisignSecretKey;
use trust::{sign_artifact, Kind, Scope, TrustRoot, Version};

/// The shipped policy, and three more subjects: a uid with capabilities,
/// an app with a tiny quota (so that a few requests reach `EDQUOTA`),
/// and nothing for the unknown subjects the inputs also use.
const EXTRA_POLICY: &str = r#"
[[subjects]]
subject = "uid:1000"
capabilities = ["identity.key.create", "identity.key.sign", "identity.key.seal",
  "identity.key.decrypt", "identity.key.delete", "identity.attest", "identity.vault.use",
  "identity.bundle.install"]

[[subjects]]
subject = "app:com.example.tiny"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.sign",
  "identity.key.seal", "identity.key.decrypt", "identity.key.import", "identity.attest",
  "identity.vault.use"]
keystore_quota = { soft_bytes = 2048, hard_bytes = 4096, soft_count = 2, hard_count = 3 }
vault_quota = { soft_bytes = 512, hard_bytes = 1024, soft_count = 2, hard_count = 3 }
"#;

/// The index in [`Fixtures::paths`] of the first update (0.2.0, signed by
/// the system root).
pub const FIRST_UPDATE: usize = 4;

/// The application every bundle names, and the product of every update.
pub const BUNDLE_NAME: &str = "com.example.app";
const PRODUCT: &str = "nexus-os";

/// The fixtures (see the module documentation).
#[derive(Debug)]
pub struct Fixtures {
    _dir: PathBuf,
    /// The policy file.
    pub policy: PathBuf,
    /// The same, parsed.
    pub parsed_policy: policy::Policy,
    /// The daemons' runtime directory (their audit logs, in volatile mode).
    pub run: PathBuf,
    /// The system trust roots (one root, for packages and updates).
    pub trust_dir: PathBuf,
    /// Absolute (and a few relative) artifact paths for `path`.
    pub paths: Vec<String>,
    /// Public key texts for `trust.add` (the system root's, another key's).
    pub public_keys: Vec<String>,
    /// Root file texts for `trust.add`.
    pub root_files: Vec<String>,
    /// Kids of those roots.
    pub kids: Vec<String>,
}

/// The process's fixtures, made on first use.
pub fn get() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(make)
}

/// `<tmp>/nexus-fuzz-<pid>`, after removing those of processes that are
/// gone: libFuzzer ends with `exit()`, so no destructor removes them.
fn fresh_dir() -> PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("nexus-fuzz-")) else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = tmp.join(format!("nexus-fuzz-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir(&dir).expect("temp dir");
    dir
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn root(key: &MinisignSecretKey, scopes: &[Scope], label: &str) -> TrustRoot {
    let label = Label::new(label).expect("label");
    TrustRoot::from_minisign(
        &key.public_key(),
        label,
        scopes,
        0,
        now() + 10 * 365 * 86_400,
    )
    .expect("root")
}

fn artifact(dir: &Path, kind: Kind, name: &str, version: &str, key: &MinisignSecretKey) -> PathBuf {
    let d = dir.join(format!("{kind}-{name}-{version}-{}", key.key_id()));
    fs::create_dir_all(d.join("bin")).expect("artifact dir");
    fs::write(d.join("bin/app"), format!("{name} {version}")).expect("file");
    fs::write(d.join("data.bin"), vec![0x5a; 4096]).expect("file");
    sign_artifact(
        &d,
        kind,
        Label::new(name).expect("name"),
        Version::parse(version).expect("version"),
        kind.scope(),
        key,
        &format!("{name} {version}"),
    )
    .expect("sign");
    d
}

fn make() -> Fixtures {
    let dir = fresh_dir();
    let base = dir.as_path();
    let policy = base.join("policy.toml");
    // The shipped policy without its comments: every daemon of every
    // input parses it, and comments are most of its bytes.
    let shipped: String = include_str!("../../config/policy.toml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&policy, format!("{shipped}{EXTRA_POLICY}")).expect("policy");
    let run = base.join("run");
    fs::create_dir(&run).expect("run dir");
    let trust_dir = base.join("trust");
    fs::create_dir(&trust_dir).expect("trust dir");

    let system = MinisignSecretKey::generate().expect("key");
    let other = MinisignSecretKey::generate().expect("key");
    let system_root = root(&system, &[Scope::Packages, Scope::Updates], "system");
    fs::write(
        trust_dir.join(system_root.file_name()),
        system_root.to_toml(),
    )
    .expect("root");
    let other_root = root(&other, &[Scope::Packages], "other");

    let art = base.join("artifacts");
    let mut paths = Vec::new();
    for v in ["1.0", "2.0", "0.5"] {
        paths.push(artifact(&art, Kind::Bundle, BUNDLE_NAME, v, &system));
    }
    paths.push(artifact(&art, Kind::Bundle, BUNDLE_NAME, "3.0", &other));
    for v in ["0.2.0", "9.0", "0.0.1"] {
        paths.push(artifact(&art, Kind::Update, PRODUCT, v, &system));
    }
    paths.push(artifact(&art, Kind::Update, PRODUCT, "0.3.0", &other));
    // A bundle as a package for updates (wrong kind for its scope).
    paths.push(artifact(&art, Kind::Bundle, PRODUCT, "0.4.0", &system));
    // Tampered after signing: a changed file, an extra file, a socket.
    let tampered = artifact(&art, Kind::Bundle, BUNDLE_NAME, "4.0", &system);
    fs::write(tampered.join("bin/app"), "changed").expect("tamper");
    paths.push(tampered);
    let extra = artifact(&art, Kind::Update, PRODUCT, "0.5.0", &system);
    fs::write(extra.join("extra"), "x").expect("extra");
    paths.push(extra);
    let special = artifact(&art, Kind::Bundle, BUNDLE_NAME, "5.0", &system);
    UnixListener::bind(special.join("bin/sock")).expect("socket file");
    paths.push(special);
    let unsigned = art.join("unsigned");
    fs::create_dir_all(&unsigned).expect("unsigned");
    fs::write(unsigned.join("file"), "x").expect("file");
    paths.push(unsigned);
    let mut paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    paths.extend(
        [
            "/nonexistent",
            "/dev/null",
            "/proc/self/fd",
            "relative/path",
            "",
            "/",
        ]
        .map(String::from),
    );

    Fixtures {
        _dir: dir.clone(),
        parsed_policy: policy::Policy::load(&policy).expect("policy parses"),
        policy,
        run,
        paths,
        public_keys: vec![
            system.public_key().to_base64(),
            other.public_key().to_file_text(),
        ],
        root_files: vec![other_root.to_toml(), system_root.to_toml()],
        kids: vec![system_root.kid().to_string(), other_root.kid().to_string()],
        trust_dir,
    }
}
