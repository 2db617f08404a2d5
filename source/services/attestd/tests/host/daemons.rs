//! attestd's device key against the real daemons: the keymintd, keystored
//! and attestd binaries, wired as nexus-init wires them (control channels
//! on stdin, endpoints handed over, public sockets), over one state
//! directory. The test plays the supervisor and the callers.
//!
//! Binaries: attestd is this package's; keymintd and keystored are taken
//! from `$KEYMINTD_BIN` / `$KEYSTORED_BIN` if set, else from the target
//! directory this test runs from. Build them first, for example by testing
//! the three packages together: `cargo test -p keymintd -p keystored -p
//! attestd`.

use crate::common::NONCE;
use nexus_core::{AppId, Coded, ErrorCode, Label};
use nexus_daemon::testkit::{field, remote_code, sibling_bin, Proc};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use wire::{Args, Client, Value};

/// The shipped policy's key rights for the subjects that matter here.
fn policy(attestd_caps: &str) -> String {
    format!(
        r#"version = 1
[[subjects]]
subject = "system:keystored"
capabilities = []
[[subjects]]
subject = "system:attestd"
capabilities = [{attestd_caps}]
[[subjects]]
subject = "system:admin"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt", "identity.key.export",
  "identity.key.delete", "identity.attest", "identity.trust.write", "identity.vault.use",
  "identity.user.admin", "identity.bundle.install", "identity.update.stage"]
[[subjects]]
subject = "system:selftest"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.sign", "identity.key.seal", "identity.key.decrypt", "identity.key.delete",
  "identity.attest"]
[[subjects]]
subject = "app:com.example.alpha"
capabilities = ["identity.key.create", "identity.key.sign", "identity.attest"]
[[subjects]]
subject = "app:com.example.beta"
capabilities = ["identity.key.create", "identity.key.rotate", "identity.key.revoke",
  "identity.key.delete", "identity.attest"]
"#
    )
}

/// What the shipped policy grants attestd.
pub const ATTESTD_CAPS: &str =
    r#""identity.key.create", "identity.key.rotate", "identity.key.sign""#;

/// keymintd, keystored and attestd over `dir/state`.
pub struct Daemons {
    pub dir: PathBuf,
    pub keymintd: Proc,
    pub keystored: Proc,
    pub attestd: Option<Proc>,
}

fn args(dir: &Path, trust: bool) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "--state".into(),
        dir.join("state").into(),
        "--policy".into(),
        dir.join("policy.toml").into(),
        "--run".into(),
        dir.join("run").into(),
    ];
    if trust {
        a.extend(["--trust-dir".into(), dir.join("trust").into()]);
    }
    a
}

impl Daemons {
    /// Start keymintd and keystored over `dir` (its `state` may already
    /// hold keys), then attestd; waits for every ready line.
    pub fn start(dir: &Path, attestd_caps: &str) -> Daemons {
        std::fs::write(dir.join("policy.toml"), policy(attestd_caps)).unwrap();
        std::fs::create_dir_all(dir.join("trust")).unwrap();
        let keymintd = Proc::spawn(&sibling_bin("keymintd", "KEYMINTD_BIN"), args(dir, false));
        keymintd.wait_for("keymintd: ready");
        let keystored = Proc::spawn(&sibling_bin("keystored", "KEYSTORED_BIN"), args(dir, true));
        keystored.link("keymintd", &keymintd, "system:keystored");
        keystored.wait_for("keystore: ready");
        let mut d = Daemons {
            dir: dir.to_path_buf(),
            keymintd,
            keystored,
            attestd: None,
        };
        d.start_attestd();
        d
    }

    /// Start attestd (again) and wait for its ready line.
    pub fn start_attestd(&mut self) -> &Proc {
        let mut a = args(&self.dir, false);
        a[1] = self.dir.join("state-attestd").into();
        let attestd = Proc::spawn(Path::new(env!("CARGO_BIN_EXE_attestd")), a);
        attestd.link("keystored", &self.keystored, "system:attestd");
        attestd.link("keymintd", &self.keymintd, "system:attestd");
        let ready = attestd.wait_for("attestd: ready");
        assert!(ready.starts_with("attestd: ready"), "{}", attestd.stderr());
        self.attestd.insert(attestd)
    }

    /// Stop attestd (as init would after a crash) and start it again.
    pub fn restart_attestd(&mut self) -> &Proc {
        if let Some(mut old) = self.attestd.take() {
            old.close_control();
        }
        self.start_attestd()
    }

    pub fn attestd(&self) -> &Proc {
        self.attestd.as_ref().unwrap()
    }

    /// A keystored connection whose subject is `subject`.
    pub fn keys(&self, subject: &str) -> Client {
        self.keystored.connect(subject)
    }

    /// The device key attestd publishes: (public key, kid text).
    pub fn device_key(&self) -> (Vec<u8>, String, u64) {
        let r = self
            .attestd()
            .connect("app:com.example.alpha")
            .call("attest.device_key", &Args::new())
            .unwrap();
        (
            field(&r, "public_key").as_bytes().unwrap().clone(),
            field(&r, "kid").as_text().unwrap().to_owned(),
            u64::try_from(field(&r, "version").as_integer().unwrap()).unwrap(),
        )
    }

    /// The state file of attestd's device key `name`, wherever keystored
    /// keeps attestd's keys (the `app` keystored names).
    pub fn device_record(&self, name: &str) -> PathBuf {
        let info = self
            .keys("system:attestd")
            .call("key.show", &key("device-attest", name))
            .unwrap();
        let app = field(&info, "app").as_text().unwrap().to_owned();
        self.dir
            .join("state/keystore")
            .join(app)
            .join("device-attest")
            .join(name)
    }

    /// Stop keystored (and attestd) hard, and start both again over the
    /// same state.
    pub fn restart_keystore_and_attestd(&mut self) {
        if let Some(mut a) = self.attestd.take() {
            a.kill();
        }
        self.keystored.kill();
        self.keystored = Proc::spawn(
            &sibling_bin("keystored", "KEYSTORED_BIN"),
            args(&self.dir, true),
        );
        self.keystored
            .link("keymintd", &self.keymintd, "system:keystored");
        self.keystored.wait_for("keystore: ready");
        self.start_attestd();
    }
}

pub fn key(purpose: &str, name: &str) -> Args {
    Args::new().with("purpose", purpose).with("name", name)
}

/// A token signed with the device key by `signer` on its own, claiming
/// `app` and attesting `alpha_pub`: what a forger would hand a verifier.
fn forge(
    d: &Daemons,
    signer: &str,
    app_arg: Option<&str>,
    device_kid: &str,
    alpha_pub: &[u8],
) -> Result<Vec<u8>, ErrorCode> {
    let claims = eat::Claims {
        iat: nexus_core::Clock::now_unix(&nexus_core::SystemClock),
        nonce: eat::Nonce::new(NONCE).unwrap(),
        ueid: eat::Ueid::from_random([0x5a; 32]),
        attested_key: keymint::ed25519::parse_public_key(alpha_pub).unwrap(),
        app_id: AppId::new("com.example.victim").unwrap(),
        swname: Label::new(attestd::SWNAME).unwrap(),
        swversion: eat::SwVersion::new(attestd::SWVERSION).unwrap(),
        custom: eat::CustomClaims::new(),
    };
    let kid = nexus_core::Kid::from_hex(device_kid).unwrap();
    let mut ks = d.keys(signer);
    let mut refused = None;
    let token = eat::sign_token(&claims, &kid, |tbs| {
        let mut a = key("device-attest", "device").with("msg", Value::Bytes(tbs.to_vec()));
        if let Some(app) = app_arg {
            a = a.with("app", app);
        }
        match ks.call("key.sign", &a) {
            Ok(r) => {
                let sig: [u8; 64] = field(&r, "sig")
                    .as_bytes()
                    .unwrap()
                    .clone()
                    .try_into()
                    .unwrap();
                Ok(sig)
            }
            Err(e) => {
                let code = e.remote_code().unwrap_or(ErrorCode::Eio);
                refused = Some(code);
                Err(Code(code))
            }
        }
    });
    match (token, refused) {
        (Ok(t), _) => Ok(t),
        (Err(_), Some(code)) => Err(code),
        (Err(e), None) => panic!("token not built: {e}"),
    }
}

#[derive(Debug)]
struct Code(ErrorCode);
impl Coded for Code {
    fn code(&self) -> ErrorCode {
        self.0
    }
}

fn alpha_public(d: &Daemons) -> Vec<u8> {
    let mut alpha = d.keys("app:com.example.alpha");
    let made = alpha
        .call("key.create", &key("sign", "k").with("alg", "Ed25519"))
        .unwrap();
    field(&made, "public_key").as_bytes().unwrap().clone()
}

#[test]
fn test_reject_forging_an_attestation_with_the_device_key_with_eperm() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemons::start(dir.path(), ATTESTD_CAPS);
    let (device_pub, device_kid, _) = d.device_key();
    let alpha_pub = alpha_public(&d);
    for forger in ["system:admin", "system:selftest"] {
        // The attack as it was: `nx key sign device-attest device` by a
        // system subject reached attestd's key through a shared namespace,
        // and the token verified.
        match forge(&d, forger, None, &device_kid, &alpha_pub) {
            Ok(token) => {
                let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
                let verdict = eat::verify_token(&token, &device_pub, NONCE, now);
                panic!(
                    "{forger} signed a token with the device key (verifies: {})",
                    verdict.is_ok()
                );
            }
            // The forger's own namespace has no such key.
            Err(code) => assert_eq!(code, ErrorCode::Enoent, "{forger}"),
        }
        // Naming attestd's namespace outright: EPERM, the same for every
        // private op, whoever asks.
        let ns = "system.attestd";
        assert_eq!(
            forge(&d, forger, Some(ns), &device_kid, &alpha_pub),
            Err(ErrorCode::Eperm),
            "{forger}"
        );
        let mut ks = d.keys(forger);
        let on = || key("device-attest", "device").with("app", ns);
        let ops: [(&str, Args); 7] = [
            ("key.rotate", on()),
            ("key.revoke", on()),
            ("key.retire", on().with("min_version", 1u64)),
            ("key.export", on()),
            ("key.delete", on()),
            ("key.seal", on().with("pt", Value::Bytes(b"x".to_vec()))),
            ("key.unseal", on().with("sealed", Value::Bytes(vec![0; 64]))),
        ];
        for (op, a) in ops {
            let e = ks.call(op, &a).unwrap_err();
            assert_eq!(
                e.remote_code(),
                Some(ErrorCode::Eperm),
                "{forger} {op}: {e}"
            );
            assert!(
                e.to_string().contains("belong to system:attestd"),
                "{forger} {op}: {e}"
            );
        }
        // Public metadata stays readable.
        let shown = ks
            .call("key.show", &key("device-attest", "device").with("app", ns))
            .unwrap();
        assert_eq!(field(&shown, "primary"), &Value::Integer(1.into()));
    }
    // attestd's own tokens are untouched, and every refusal is audited.
    let (_, kid_after, version) = d.device_key();
    assert_eq!((kid_after.as_str(), version), (device_kid.as_str(), 1));
    let audit = std::fs::read_to_string(dir.path().join("state/audit/keystored.jsonl")).unwrap();
    assert!(
        audit.contains(r#""subject":"system:admin","capability":"key.sign","target":"system.attestd/device-attest/device","decision":"deny","reason":"other_namespace""#),
        "{audit}"
    );
}

#[test]
fn test_reject_revoking_the_device_key_with_eperm_and_attestd_keeps_starting() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemons::start(dir.path(), ATTESTD_CAPS);
    let (_, kid, _) = d.device_key();
    // The attack as it was: `nx key revoke device-attest device` as the
    // administrator, after which attestd failed at every start.
    let mut admin = d.keys("system:admin");
    assert_eq!(
        remote_code(admin.call("key.revoke", &key("device-attest", "device"))),
        ErrorCode::Enoent
    );
    assert_eq!(
        remote_code(admin.call(
            "key.revoke",
            &key("device-attest", "device").with("app", "system.attestd")
        )),
        ErrorCode::Eperm
    );
    d.restart_attestd();
    assert_eq!(d.device_key().1, kid);
    // attestd's own op is the way to rotate it, for system subjects with
    // identity.key.rotate.
    let rotated = d
        .attestd()
        .connect("system:admin")
        .call("attest.rotate_device_key", &Args::new())
        .unwrap();
    assert_eq!(field(&rotated, "version"), &Value::Integer(2.into()));
}

/// Stop everything, change attestd's device key with the keystore library
/// as only attestd may (`change`), start again. The change is made under
/// keystored's state root (its key derived from the device secret as
/// keymintd derives it, its journal keystored's audit log): one of
/// keystored's own state changes, not a record put back from elsewhere.
fn with_stopped_stack(d: &mut Daemons, change: impl FnOnce(&keystore::KeyStore)) {
    use std::sync::Arc;
    if let Some(mut a) = d.attestd.take() {
        a.kill();
    }
    d.keystored.kill();
    d.keymintd.kill();
    let dir = d.dir.join("state");
    let state = statefs::StateFs::open(&dir).unwrap();
    let km = Arc::new(keymint::KeyMint::open(&state, keymint::Entropy::os()).unwrap());
    let clock: Arc<dyn nexus_core::Clock> = Arc::new(nexus_core::SystemClock);
    let journal = auditlog::Journal::open(
        &dir.join("audit"),
        "keystored",
        auditlog::JournalConfig::default(),
        Arc::clone(&clock),
    )
    .unwrap();
    state
        .attach_root(statefs::RootConfig {
            service: "keystored".into(),
            key: Arc::new(statefs::StateKey::new(
                km.state_key("system:keystored").unwrap(),
            )),
            // keystored's `Spec::owns`.
            owns: statefs::Ownership::new(&["keystore/**", "trust/**", "identity/*/vault.kv"])
                .unwrap(),
            journal: journal.clone(),
            clock: Arc::clone(&clock),
            counter: None,
            snapshot_every: statefs::DEFAULT_SNAPSHOT_EVERY,
        })
        .unwrap();
    let store = keystore::KeyStore::new(state.clone(), km, clock, Arc::new(keystore::DefaultQuota));
    change(&store);
    drop(store);
    state.close().unwrap();
    journal.close().unwrap();
    let dir = d.dir.clone();
    let caps = ATTESTD_CAPS;
    *d = Daemons::start(&dir, caps);
}

fn attestd_subject() -> nexus_core::Subject {
    "system:attestd".parse().unwrap()
}

fn device(name: &str) -> keystore::KeyName {
    keystore::KeyName::parse("system.attestd", "device-attest", name).unwrap()
}

/// A token from attestd for alpha's key, verified with the published key.
fn attest_alpha(d: &Daemons) -> (Vec<u8>, Vec<u8>) {
    let r = d
        .attestd()
        .connect("app:com.example.alpha")
        .call(
            "attest",
            &key("sign", "k").with("nonce", Value::Bytes(NONCE.to_vec())),
        )
        .unwrap();
    let token = field(&r, "token").as_bytes().unwrap().clone();
    let (public, _, _) = d.device_key();
    let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
    eat::verify_token(&token, &public, NONCE, now).unwrap();
    (token, public)
}

#[test]
fn a_revoked_device_key_is_rotated_or_replaced_never_a_boot_loop() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemons::start(dir.path(), ATTESTD_CAPS);
    alpha_public(&d);
    let (old_token, v1_public) = attest_alpha(&d);
    d.restart_attestd();
    let rotated = d
        .attestd()
        .connect("system:admin")
        .call("attest.rotate_device_key", &Args::new())
        .unwrap();
    let v2_kid = field(&rotated, "kid").as_text().unwrap().to_owned();
    // The primary version (2) revoked behind attestd's back: a new version
    // replaces it; version 1 still verifies what it signed.
    with_stopped_stack(&mut d, |ks| {
        let rec = keystore::RevokeScope::Version(2);
        ks.revoke(&attestd_subject(), &Allow, &device("device"), rec)
            .unwrap();
    });
    // stderr is read by a thread of its own: wait for the line.
    d.attestd().wait_stderr("device key system.attestd/device-attest/device could not sign (key system.attestd/device-attest/device version 2 is revoked); rotated to v3");
    let (_, kid, version) = d.device_key();
    assert_eq!(version, 3);
    assert_ne!(kid, v2_kid);
    attest_alpha(&d);
    let now = nexus_core::Clock::now_unix(&nexus_core::SystemClock);
    eat::verify_token(&old_token, &v1_public, NONCE, now).unwrap();
    let v1 = d
        .keys("system:admin")
        .call(
            "key.show",
            &key("device-attest", "device").with("app", "system.attestd"),
        )
        .unwrap();
    let versions = field(&v1, "versions").as_array().unwrap().clone();
    assert_eq!(field(&versions[0], "state").as_text(), Some("active"));

    // The whole key revoked: a new key, `device-2`, replaces it.
    with_stopped_stack(&mut d, |ks| {
        ks.revoke(
            &attestd_subject(),
            &Allow,
            &device("device"),
            keystore::RevokeScope::Key,
        )
        .unwrap();
    });
    d.attestd().wait_stderr("device key system.attestd/device-attest/device cannot be used (key system.attestd/device-attest/device is revoked); replaced by system.attestd/device-attest/device-2 v1");
    attest_alpha(&d);
    // Audited in attestd's log, and by keystored as attestd's create.
    let audit =
        std::fs::read_to_string(dir.path().join("state-attestd/audit/attestd.jsonl")).unwrap();
    assert!(
        audit.contains(r#""subject":"system:attestd","capability":"attest.device_key.heal","target":"system.attestd/device-attest/device-2","decision":"allow","reason":"replaced_unusable_key""#),
        "{audit}"
    );
    assert!(
        audit.contains(r#""reason":"rotated_unusable_primary""#),
        "{audit}"
    );
    // And the healed key is the one after another restart.
    d.restart_attestd();
    assert_eq!(d.device_key().2, 1);
    d.attestd()
        .wait_stderr("device key system.attestd/device-attest/device-2 v1");
}

struct Allow;
impl nexus_core::Authorizer for Allow {
    fn authorize(
        &self,
        _: &nexus_core::Subject,
        _: nexus_core::Capability,
        _: &str,
    ) -> Result<(), nexus_core::AuthzError> {
        Ok(())
    }
}

/// Flip one bit in the payload of attestd's first device key record;
/// returns its path and the damaged bytes.
fn damage_device_record(d: &Daemons) -> (PathBuf, Vec<u8>) {
    let record = d.device_record("device");
    let mut bytes = std::fs::read(&record).unwrap();
    bytes[12] ^= 0x40;
    std::fs::write(&record, &bytes).unwrap();
    (record, bytes)
}

#[test]
fn test_reject_a_damaged_device_key_record_with_eio_and_attestd_still_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemons::start(dir.path(), ATTESTD_CAPS);
    alpha_public(&d);
    let (record, bytes) = damage_device_record(&d);
    // attestd starts (it used to fail every start); it replaces the key
    // and says which record was damaged.
    d.restart_keystore_and_attestd();
    // stderr is read by a thread of its own: wait for the last line.
    d.attestd()
        .wait_stderr("replaced by system.attestd/device-attest/device-2");
    let err = d.attestd().stderr();
    // The changed byte disagrees with keystored's state root before the
    // record's own checksum is reached.
    assert!(
        err.contains(
            "device key system.attestd/device-attest/device cannot be used (EIO: record \
             state:/keystore/system.attestd/device-attest/device fails its state root check"
        ),
        "{err}"
    );
    assert!(
        err.contains("replaced by system.attestd/device-attest/device-2"),
        "{err}"
    );
    attest_alpha(&d);
    // key.list names the damaged record and lists the rest.
    let listed = d
        .keys("system:admin")
        .call("key.list", &Args::new().with("app", "system.attestd"))
        .unwrap();
    let keys = field(&listed, "keys").as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(field(&keys[0], "name").as_text(), Some("device-2"));
    let damaged = field(&listed, "damaged").as_array().unwrap().clone();
    assert_eq!(damaged.len(), 1);
    assert_eq!(field(&damaged[0], "name").as_text(), Some("device"));
    assert_eq!(
        field(&damaged[0], "record").as_text(),
        Some("state:/keystore/system.attestd/device-attest/device")
    );
    assert!(field(&damaged[0], "error")
        .as_text()
        .unwrap()
        .starts_with("EIO"));
    // The damaged record is left for inspection.
    assert_eq!(std::fs::read(&record).unwrap(), bytes);
}

#[test]
fn test_reject_attest_with_eio_naming_the_record_when_the_device_key_cannot_be_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemons::start(dir.path(), ATTESTD_CAPS);
    alpha_public(&d);
    damage_device_record(&d);
    // A policy that lets attestd sign but not create: no replacement.
    std::fs::write(
        dir.path().join("policy.toml"),
        policy(r#""identity.key.sign""#),
    )
    .unwrap();
    d.restart_keystore_and_attestd();
    let a = d.attestd();
    // It serves what does not need the key.
    let mut alpha = a.connect("app:com.example.alpha");
    let st = alpha.call("status", &Args::new()).unwrap();
    assert_eq!(field(&st, "service").as_text(), Some("attestd"));
    // What does, fails with EIO naming the record and the refusal.
    for (op, args) in [
        (
            "attest",
            key("sign", "k").with("nonce", Value::Bytes(NONCE.to_vec())),
        ),
        ("attest.device_key", Args::new()),
    ] {
        let e = alpha.call(op, &args).unwrap_err();
        assert_eq!(e.remote_code(), Some(ErrorCode::Eio), "{op}: {e}");
        let m = e.to_string();
        assert!(
            m.contains("state:/keystore/system.attestd/device-attest/device")
                && m.contains("identity.key.create"),
            "{op}: {m}"
        );
    }
    a.wait_stderr("no usable device key");
    // Once the policy allows it again, the next request heals the key.
    std::fs::write(dir.path().join("policy.toml"), policy(ATTESTD_CAPS)).unwrap();
    d.restart_keystore_and_attestd();
    attest_alpha(&d);
}

#[test]
fn a_state_from_before_service_namespaces_upgrades_with_the_same_device_key() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../tests/fixtures/keystore-shared-system-v1");
    copy_dir(&fixture.join("state"), &dir.path().join("state"));
    let expected = std::fs::read_to_string(fixture.join("expected.toml")).unwrap();
    let want = |k: &str| {
        expected
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    let d = Daemons::start(dir.path(), ATTESTD_CAPS);
    d.keystored.wait_stderr(
        "moved key system/device-attest/device to system.attestd/device-attest/device",
    );
    // The same device key, at its version 2, and version 1's signature
    // made before the upgrade still verifies.
    let (_, kid, version) = d.device_key();
    assert_eq!((kid, version), (want("device_kid_v2"), 2));
    let sig = hex::decode(want("sig_v1")).unwrap();
    let v = d
        .keys("system:admin")
        .call(
            "key.verify",
            &key("device-attest", "device")
                .with("app", "system.attestd")
                .with("msg", Value::Bytes(want("signed_message").into_bytes()))
                .with("sig", Value::Bytes(sig)),
        )
        .unwrap();
    assert_eq!(field(&v, "version"), &Value::Integer(1.into()));
    // Nothing of it is the administrator's now.
    assert_eq!(
        remote_code(
            d.keys("system:admin").call(
                "key.sign",
                &key("device-attest", "device")
                    .with("app", "system.attestd")
                    .with("msg", Value::Bytes(b"m".to_vec()))
            )
        ),
        ErrorCode::Eperm
    );
    alpha_public(&d);
    attest_alpha(&d);
}

fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }
}
