//! Online commands against fake services speaking services.md: what is
//! sent, what is printed (text and --json), and exit statuses.

use crate::common::Stack;
use base64::Engine;
use nexus_keychain::testkit::contract::{
    ADDED_KID, DAMAGED_APP, DEVICE_KID, FAKE_SIG, KID, LOCKED_SID, PASSWORD, SEAL_PREFIX, SID,
    SYSTEM_KID, TOKEN,
};
use nexus_keychain::Service;
use wire::Value;

fn b64(s: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s.as_str().unwrap())
        .unwrap()
}

#[test]
fn key_create_show_list_json() {
    let s = Stack::start();
    let j = s
        .run(&["--json", "key", "create", "signing", "k1"], b"")
        .json();
    assert_eq!(j["version"], 1);
    assert_eq!(j["kid"], KID);
    assert_eq!(b64(&j["public_key_b64"]).len(), 32);
    assert_eq!(j["warnings"], serde_json::json!([]));
    let (op, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(op, "key.create");
    assert_eq!(args.get("alg"), Some(&"Ed25519".into()));

    let o = s.run(
        &["key", "create", "box", "b1", "--alg", "xchacha20-poly1305"],
        b"",
    );
    assert_eq!(o.code, 0);
    assert_eq!(o.text(), "created box/b1 version 1\n");

    let j = s
        .run(&["--json", "key", "show", "signing", "k1"], b"")
        .json();
    assert_eq!(j["primary"], 2);
    assert_eq!(j["versions"][0]["state"], "retired");
    assert_eq!(j["versions"][1]["kid"], KID);
    let j = s.run(&["key", "list", "--json"], b"").json();
    assert_eq!(j["keys"][0]["name"], "k1");
    let o = s.run(&["key", "show", "signing", "missing"], b"");
    assert_eq!(o.code, 11);
    assert_eq!(o.stderr, "nx: ENOENT: no such key\n");
    let o = s.run(&["key", "create", "signing", "exists"], b"");
    assert_eq!(o.code, 12);
}

#[test]
fn key_list_marks_a_damaged_record_and_keeps_exit_status_0() {
    let s = Stack::start();
    let o = s.run(&["key", "list", "--app", DAMAGED_APP], b"");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let text = o.text();
    assert!(
        text.starts_with("com.example.damaged/signing/k1  Ed25519"),
        "{text}"
    );
    assert!(
        text.contains(
            "com.example.damaged/signing/broken  DAMAGED  state:/keystore/com.example.damaged/signing/broken\n  EIO: corrupt record"
        ),
        "{text}"
    );
    assert_eq!(
        o.stderr,
        "nx: warning: key com.example.damaged/signing/broken cannot be read: EIO: corrupt record at \
         state:/keystore/com.example.damaged/signing/broken: checksum mismatch\n"
    );
    let j = s
        .run(&["--json", "key", "list", "--app", DAMAGED_APP], b"")
        .json();
    assert_eq!(j["keys"][0]["name"], "k1");
    assert_eq!(j["damaged"][0]["name"], "broken");
    assert_eq!(j["damaged"][0]["state"], "damaged");
    assert_eq!(
        j["damaged"][0]["record"],
        "state:/keystore/com.example.damaged/signing/broken"
    );
    let j = s.run(&["--json", "key", "list"], b"").json();
    assert_eq!(j["damaged"], serde_json::json!([]));
}

#[test]
fn key_delete_sends_key_delete_and_reports_missing_keys() {
    let s = Stack::start();
    let o = s.run(&["key", "delete", "signing", "k1"], b"");
    assert_eq!((o.code, o.text().as_str()), (0, "deleted signing/k1\n"));
    let (op, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(op, "key.delete");
    assert_eq!(args.get("name"), Some(&"k1".into()));
    assert_eq!(args.get("app"), None);
    let j = s
        .run(&["--json", "key", "delete", "signing", "k1"], b"")
        .json();
    assert_eq!(j["deleted"], true);
    let o = s.run(&["key", "delete", "signing", "missing"], b"");
    assert_eq!(o.code, 11);
}

#[test]
fn test_reject_data_over_its_limit_with_einval_before_sending() {
    use nexus_proto::limits::{MAX_MESSAGE_LEN, MAX_PLAINTEXT_LEN, MAX_VAULT_VALUE_LEN};
    let s = Stack::start();
    let before = s.fake(Service::Keystored).requests().len();
    for (args, len, limit) in [
        (
            vec!["key", "sign", "signing", "k1"],
            MAX_MESSAGE_LEN,
            "MAX_MESSAGE_LEN",
        ),
        (
            vec!["key", "seal", "box", "b1"],
            MAX_PLAINTEXT_LEN,
            "MAX_PLAINTEXT_LEN",
        ),
        (
            vec!["vault", "put", "n"],
            MAX_VAULT_VALUE_LEN,
            "MAX_VAULT_VALUE_LEN",
        ),
    ] {
        // The session id comes from $NEXUS_SID, so stdin is the data alone.
        let o = s.run_sid(&args, &vec![0u8; len + 1], SID);
        assert_eq!(o.code, 16, "{args:?}: {}", o.stderr);
        assert!(o.stderr.starts_with("nx: EINVAL: stdin: "), "{}", o.stderr);
        assert!(o.stderr.contains(limit), "{}", o.stderr);
    }
    assert_eq!(
        s.fake(Service::Keystored).requests().len(),
        before,
        "something was sent"
    );
    // At the limit, it goes.
    let o = s.run(
        &["key", "sign", "signing", "k1"],
        &vec![0u8; MAX_MESSAGE_LEN],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
}

#[test]
fn sign_and_verify_are_binary_safe() {
    let s = Stack::start();
    let msg: Vec<u8> = (0..=255u8).collect();
    let o = s.run(&["key", "sign", "signing", "k1"], &msg);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, FAKE_SIG);
    let (_, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(args.get("msg"), Some(&Value::Bytes(msg.clone())));

    let sig = s.path("msg.sig");
    let o = s.run(
        &[
            "key",
            "sign",
            "signing",
            "k1",
            "--out",
            sig.to_str().unwrap(),
        ],
        &msg,
    );
    assert_eq!(o.text(), format!("signed with version 2 kid {KID}\n"));
    assert_eq!(std::fs::read(&sig).unwrap(), FAKE_SIG);
    let j = s
        .run(&["--json", "key", "sign", "signing", "k1"], &msg)
        .json();
    assert_eq!(b64(&j["sig_b64"]), FAKE_SIG);
    assert_eq!(
        (j["kid"].as_str(), j["version"].as_u64()),
        (Some(KID), Some(2))
    );

    let sig_s = sig.to_str().unwrap();
    let j = s
        .run(
            &["--json", "key", "verify", "signing", "k1", "--sig", sig_s],
            &msg,
        )
        .json();
    assert_eq!(
        j,
        serde_json::json!({ "valid": true, "version": 2, "kid": KID })
    );
    std::fs::write(&sig, [0u8; 64]).unwrap();
    let o = s.run(&["key", "verify", "signing", "k1", "--sig", sig_s], &msg);
    assert_eq!(o.code, 10);
    assert_eq!(o.stderr, "nx: EPERM: signature does not verify\n");
}

#[test]
fn seal_unseal_export_and_lifecycle() {
    let s = Stack::start();
    let pt = s.path("pt");
    std::fs::write(&pt, b"\x00secret\xff").unwrap();
    let aad = s.path("aad");
    std::fs::write(&aad, b"ctx").unwrap();
    let sealed = s.path("sealed");
    let (pt_s, aad_s, sealed_s) = (
        pt.to_str().unwrap(),
        aad.to_str().unwrap(),
        sealed.to_str().unwrap(),
    );
    let o = s.run(
        &[
            "key",
            "seal",
            "box",
            "b1",
            "--in",
            pt_s,
            "--aad-file",
            aad_s,
            "--out",
            sealed_s,
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (_, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(args.get("aad"), Some(&Value::Bytes(b"ctx".to_vec())));
    assert!(std::fs::read(&sealed).unwrap().starts_with(SEAL_PREFIX));

    let out = s.path("opened");
    let j = s
        .run(
            &[
                "--json",
                "key",
                "unseal",
                "box",
                "b1",
                "--in",
                sealed_s,
                "--out",
                out.to_str().unwrap(),
            ],
            b"",
        )
        .json();
    assert_eq!(j["version"], 2);
    assert_eq!(j["bytes"], 8);
    assert_eq!(std::fs::read(&out).unwrap(), b"\x00secret\xff");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let j = s
        .run(
            &[
                "--json",
                "key",
                "export-wrapped",
                "signing",
                "k1",
                "--version",
                "1",
            ],
            b"",
        )
        .json();
    assert_eq!(b64(&j["blob_b64"]), b"wrapped-blob");
    assert_eq!(j["alg"], "Ed25519");
    let j = s
        .run(&["--json", "key", "rotate", "signing", "k1"], b"")
        .json();
    assert_eq!(j["version"], 3);
    assert_eq!(
        s.run(&["key", "revoke", "signing", "k1", "--version", "1"], b"")
            .code,
        0
    );
    let (op, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(
        (op.as_str(), args.get("version")),
        ("key.revoke", Some(&1u64.into()))
    );
    let j = s
        .run(
            &[
                "--json",
                "key",
                "retire",
                "signing",
                "k1",
                "--min-version",
                "2",
            ],
            b"",
        )
        .json();
    assert_eq!(j["min_version"], 2);
}

#[test]
fn trust_add_prints_the_full_kid_of_the_given_key() {
    let s = Stack::start();
    let sk = trust::minisign::MinisignSecretKey::generate().unwrap();
    let pk = sk.public_key();
    let expected = keymint::kid::ed25519_kid(pk.verifying_key()).to_hex();
    let file = s.path("publisher.pub");
    std::fs::write(&file, pk.to_file_text()).unwrap();
    let o = s.run(
        &[
            "key",
            "trust",
            "add",
            "--pubkey-file",
            file.to_str().unwrap(),
            "--scope",
            "packages",
            "--label",
            "acme",
        ],
        b"",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.text().starts_with(&format!("added root {expected}\n")));
    let (op, args) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(op, "trust.add");
    assert_eq!(
        args.get("public_key"),
        Some(&Value::Text(pk.to_file_text()))
    );
    assert_eq!(
        args.get("scopes"),
        Some(&Value::Array(vec!["packages".into()]))
    );
    assert_eq!(args.get("label"), Some(&"acme".into()));

    let raw = base64::engine::general_purpose::STANDARD.encode(pk.verifying_key().as_bytes());
    let j = s
        .run(
            &[
                "--json", "key", "trust", "add", "--pubkey", &raw, "--scope", "packages",
                "--scope", "updates", "--label", "acme",
            ],
            b"",
        )
        .json();
    assert_eq!(j, serde_json::json!({ "kid": expected }));
    let o = s.run(
        &[
            "key", "trust", "add", "--pubkey", &raw, "--scope", "apps", "--label", "acme",
        ],
        b"",
    );
    assert_eq!(o.code, 2);
    let o = s.run(
        &[
            "key", "trust", "add", "--pubkey", &raw, "--scope", "packages", "--scope", "packages",
            "--label", "a",
        ],
        b"",
    );
    assert_eq!(o.code, 2);
}

#[test]
fn test_reject_trust_add_when_the_service_names_another_kid() {
    // The fake answers ADDED_KID for a key it cannot read: nx must refuse
    // to report that as the kid of the key the user gave.
    let dir = tempfile::tempdir().unwrap();
    let _ks = nexus_keychain::testkit::FakeService::listen(
        Service::Keystored.socket_in(dir.path()),
        wire::Subject::Uid(0),
        |_, _| Ok(Value::Map(vec![("kid".into(), ADDED_KID.into())])),
    )
    .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]).verifying_key();
    let raw = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    let o = crate::common::nx_at(
        dir.path(),
        &[
            "key", "trust", "add", "--pubkey", &raw, "--scope", "packages", "--label", "a",
        ],
        b"",
    );
    assert_eq!(o.code, 19, "{}", o.stderr);
    assert!(o.stderr.starts_with("nx: EIO: the service installed kid"));
}

#[test]
fn trust_list_show_rm_distrust() {
    let s = Stack::start();
    let j = s.run(&["--json", "key", "trust", "list"], b"").json();
    assert_eq!(j["roots"][0]["kid"], SYSTEM_KID);
    assert_eq!(j["roots"][0]["source"], "system");
    assert_eq!(j["roots"][1]["status"], "valid");
    let j = s
        .run(&["--json", "key", "trust", "show", SYSTEM_KID], b"")
        .json();
    assert_eq!(b64(&j["public_key_b64"]).len(), 32);
    let o = s.run(&["key", "trust", "rm", SYSTEM_KID], b"");
    assert_eq!(o.code, 10);
    assert!(o.stderr.starts_with("nx: EPERM: "));
    assert_eq!(s.run(&["key", "trust", "rm", ADDED_KID], b"").code, 0);
    let j = s
        .run(&["--json", "key", "trust", "distrust", SYSTEM_KID], b"")
        .json();
    assert_eq!(j["distrusted"], SYSTEM_KID);
}

#[test]
fn sessions_vault_and_users() {
    let s = Stack::start();
    let pw = format!("{PASSWORD}\n");
    let o = s.run(&["session", "login", "alice"], pw.as_bytes());
    assert_eq!(o.text(), format!("{SID}\n"));
    let (_, args) = s.fake(Service::Identityd).last().unwrap();
    assert_eq!(args.get("password"), Some(&PASSWORD.into()));
    let o = s.run(&["session", "login", "alice"], b"hunter2-typo\n");
    assert_eq!(o.code, 10);
    assert!(!o.stderr.contains("hunter2"));
    let pwfile = s.path("pw");
    std::fs::write(&pwfile, &pw).unwrap();
    let j = s
        .run(
            &[
                "--json",
                "session",
                "login",
                "alice",
                "--password-file",
                pwfile.to_str().unwrap(),
            ],
            b"",
        )
        .json();
    assert_eq!(
        j,
        serde_json::json!({ "sid": SID, "user": "alice", "state": "active" })
    );

    // The session id comes from $NEXUS_SID, --sid-file or the first line
    // of stdin, never argv.
    let value = b"\x00\x01binary\xfe";
    let put = s
        .run_sid(&["--json", "vault", "put", "db"], value, SID)
        .json();
    assert_eq!(put["bytes"], value.len());
    let sid_file = s.path("sid");
    std::fs::write(&sid_file, format!("{SID}\n")).unwrap();
    let from_file = ["--sid-file", sid_file.to_str().unwrap()];
    let o = s.run(&[&["vault", "get", "db"][..], &from_file].concat(), b"");
    assert_eq!(o.stdout, value);
    // The file wins over the environment.
    let o = s.run_sid(
        &[&["vault", "get", "db"][..], &from_file].concat(),
        b"",
        LOCKED_SID,
    );
    assert_eq!(o.stdout, value);
    let j = s
        .run(
            &["--json", "vault", "get", "db"],
            format!("{SID}\n").as_bytes(),
        )
        .json();
    assert_eq!(b64(&j["value_b64"]), value);
    // From stdin, the sid is the first line and the value the rest.
    let o = s.run(
        &["--json", "vault", "put", "db2"],
        format!("{SID}\nsecond").as_bytes(),
    );
    assert_eq!(o.json()["bytes"], 6);
    assert_eq!(
        s.run_sid(&["--json", "vault", "list"], b"", SID).json()["names"],
        serde_json::json!(["db", "db2"])
    );
    assert_eq!(s.run_sid(&["vault", "del", "db"], b"", SID).code, 0);
    assert_eq!(s.run_sid(&["vault", "del", "db2"], b"", SID).code, 0);
    let o = s.run_sid(&["vault", "get", "db"], b"", SID);
    assert_eq!(o.code, 11);
    assert!(o.stderr.contains("no such entry `db`"), "{}", o.stderr);
    assert_eq!(s.run_sid(&["vault", "list"], b"", LOCKED_SID).code, 15);
    // An unknown session: EPERM (10), from the vault and identityd alike.
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_eq!(s.run_sid(&["vault", "list"], b"", unknown).code, 10);
    assert_eq!(s.run_sid(&["session", "status"], b"", unknown).code, 10);
    // No session id at all: a usage error, nothing sent.
    let o = s.run(&["vault", "list"], b"");
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("NEXUS_SID"), "{}", o.stderr);

    assert_eq!(
        s.run(
            &[&["--json", "session", "lock"][..], &from_file].concat(),
            b""
        )
        .json()["state"],
        "locked"
    );
    // unlock from stdin: the sid, then the password.
    assert_eq!(
        s.run(&["session", "unlock"], format!("{SID}\n{}", pw).as_bytes())
            .code,
        0
    );
    let j = s
        .run_sid(&["--json", "session", "status"], b"", LOCKED_SID)
        .json();
    assert_eq!(j, serde_json::json!({ "user": "alice", "state": "locked" }));
    assert_eq!(s.run_sid(&["session", "logout"], b"", SID).code, 0);

    assert_eq!(s.run(&["user", "create", "bob"], b"pw\n").code, 0);
    assert_eq!(s.run(&["user", "create", "exists"], b"pw\n").code, 12);
    assert_eq!(
        s.run(&["--json", "user", "list"], b"").json()["users"],
        serde_json::json!(["alice", "bob"])
    );
    let o = s.run(
        &["user", "passwd", "bob"],
        format!("{PASSWORD}\nnew pw\n").as_bytes(),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let (_, args) = s.fake(Service::Identityd).last().unwrap();
    assert_eq!(
        (args.get("old"), args.get("new")),
        (Some(&PASSWORD.into()), Some(&"new pw".into()))
    );
    assert_eq!(s.run(&["user", "delete", "bob"], b"").code, 0);
}

#[test]
fn attest_request_and_device_key() {
    let s = Stack::start();
    let args = [
        "--json",
        "attest",
        "signing",
        "k1",
        "--nonce",
        "00112233445566778899",
        "--claim=-65538=text:blue",
        "--claim=-65539=hex:ff00",
    ];
    let j = s.run(&args, b"").json();
    assert_eq!(b64(&j["token_b64"]), TOKEN);
    assert_eq!(j["device_kid"], DEVICE_KID);
    let (op, a) = s.fake(Service::Attestd).last().unwrap();
    assert_eq!(op, "attest");
    assert_eq!(
        a.get("nonce"),
        Some(&Value::Bytes(hex::decode("00112233445566778899").unwrap()))
    );
    let Some(Value::Map(claims)) = a.get("claims") else {
        panic!("claims map")
    };
    assert_eq!(claims.len(), 2);
    let o = s.run(
        &["attest", "signing", "k1", "--nonce", "0011223344556677"],
        b"",
    );
    assert_eq!(o.stdout, TOKEN);
    let j = s.run(&["--json", "attest", "device-key"], b"").json();
    assert_eq!(
        (j["kid"].as_str(), b64(&j["public_key_b64"]).len()),
        (Some(DEVICE_KID), 32)
    );
}

#[test]
fn bundles_updates_and_status() {
    let s = Stack::start();
    let dir = s.path("art");
    std::fs::create_dir(&dir).unwrap();
    let j = s
        .run(
            &[
                "--json",
                "bundle",
                "install",
                dir.to_str().unwrap(),
                "--force",
            ],
            b"",
        )
        .json();
    assert_eq!(j["name"], "com.example.app");
    let (op, a) = s.fake(Service::Bundlemgrd).last().unwrap();
    assert_eq!(op, "bundle.install");
    let sent = a.get("path").unwrap().as_text().unwrap().to_owned();
    assert!(std::path::Path::new(&sent).is_absolute());
    assert_eq!(a.get("force"), Some(&Value::Bool(true)));
    assert_eq!(
        s.run(&["--json", "bundle", "list"], b"").json()["bundles"][0]["version"],
        "1.2.0"
    );
    assert_eq!(s.run(&["bundle", "uninstall", "missing"], b"").code, 11);
    let j = s
        .run(&["--json", "update", "stage", dir.to_str().unwrap()], b"")
        .json();
    assert_eq!(j["slot"], "b");
    let (_, a) = s.fake(Service::Updated).last().unwrap();
    assert_eq!(a.get("force"), None);
    assert_eq!(
        s.run(&["--json", "update", "commit"], b"").json()["active"],
        "b"
    );
    assert_eq!(s.run(&["update", "rollback"], b"").code, 0);
    let j = s.run(&["--json", "update", "status"], b"").json();
    assert_eq!(j["versions"]["b"], "1.2.0");
    assert_eq!(j["pending"], "b");
    let j = s.run(&["--json", "status"], b"").json();
    let names: Vec<&str> = j["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "keymintd",
            "keystored",
            "identityd",
            "attestd",
            "bundlemgrd",
            "updated"
        ]
    );
    assert_eq!(j["init"]["ready"], true);
    let rows = j["services"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["state"] == "up"));
    // keymintd has no public socket: init's word only.
    assert!(rows[0].get("reachable").is_none());
    assert!(rows[1..].iter().all(|r| r["reachable"] == true));
}

#[test]
fn test_reject_status_with_a_service_down() {
    let s = Stack::start();
    s.set_state("keymintd", "restarting");
    let o = s.run(&["status"], b"");
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert_eq!(o.stderr, "nx: EAGAIN: keymintd is restarting\n");
    let text = o.text();
    assert!(
        text.contains("keymintd: restarting [1 restarts, last exit signal 9]"),
        "{text}"
    );
    assert!(text.contains("keystored: up ok "), "{text}");
    let o = s.run(&["--json", "status"], b"");
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    assert_eq!(j["services"][0]["state"], "restarting");
    assert_eq!(j["services"][0]["last_exit"], "signal 9");
    s.set_state("keymintd", "up");
    s.set_state("attestd", "failed");
    let o = s.run(&["status"], b"");
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr, "nx: EAGAIN: attestd is failed\n");
}

#[test]
fn bench_runs_against_the_fakes() {
    let s = Stack::start();
    let j = s
        .run(
            &[
                "--json",
                "bench",
                "--duration",
                "1",
                "--create-user",
                "benchuser",
                "--clients",
                "2",
            ],
            format!("{PASSWORD}\n").as_bytes(),
        )
        .json();
    assert!(j["raw_ed25519_sign_ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(j["sign"]["clients_1"]["ops"].as_u64().unwrap() > 0);
    assert!(j["sign"]["clients_n"]["ops_per_sec"].as_f64().unwrap() > 0.0);
    assert!(j["vault"]["put"]["ops"].as_u64().unwrap() > 0);
    assert!(
        j["vault"]["get"]["p99_us"].as_u64().unwrap()
            >= j["vault"]["get"]["p50_us"].as_u64().unwrap()
    );
    assert!(j["attest"]["ops"].as_u64().unwrap() > 0);
    let ops = s.fake(Service::Identityd).ops();
    assert_eq!(
        ops,
        [
            "user.create",
            "session.login",
            "session.logout",
            "user.delete"
        ]
    );
    // The bench's vault entries are gone afterwards.
    let o = s.run_sid(&["--json", "vault", "list"], b"", SID);
    assert_eq!(o.json()["names"], serde_json::json!([]));
}

/// A fake bundlemgrd and updated answering as the real ones do for a
/// bundle whose installed file changed and a staged slot that changed.
fn damaged_artifacts(dir: &std::path::Path) -> Vec<nexus_keychain::testkit::FakeService> {
    let eio = || {
        wire::WireError::new(
            nexus_core::ErrorCode::Eio,
            "file state:/apps/com.example.app/1.0/bin/app has the wrong hash",
        )
    };
    let bundles = nexus_keychain::testkit::FakeService::listen(
        Service::Bundlemgrd.socket_in(dir),
        wire::Subject::Uid(0),
        move |op, _| match op {
            "bundle.install" => Err(eio()),
            "bundle.list" => Ok(Value::Map(vec![(
                "bundles".into(),
                Value::Array(vec![
                    Value::Map(vec![
                        ("name".into(), "com.example.app".into()),
                        ("version".into(), "1.0".into()),
                        (
                            "error".into(),
                            Value::Map(vec![
                                ("code".into(), "EIO".into()),
                                ("msg".into(), eio().to_string().into()),
                            ]),
                        ),
                    ]),
                    Value::Map(vec![
                        ("name".into(), "com.example.other".into()),
                        ("version".into(), "2.0".into()),
                        ("error".into(), Value::Null),
                    ]),
                ]),
            )])),
            "status" => Ok(Value::Map(vec![
                ("service".into(), "bundlemgrd".into()),
                ("volatile".into(), false.into()),
                ("insecure".into(), false.into()),
                ("version".into(), "0.1.0".into()),
                (
                    "damaged".into(),
                    Value::Array(vec!["state:/apps/com.example.app/1.0/bin/app".into()]),
                ),
            ])),
            _ => Err(wire::WireError::unknown_op(op)),
        },
    )
    .unwrap();
    vec![bundles]
}

#[test]
fn test_reject_missing_local_file_and_tampered_bundle_with_distinct_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let _fakes = damaged_artifacts(dir.path());
    let art = dir.path().join("app");
    std::fs::create_dir(&art).unwrap();
    // The service reports a damaged record: EIO, 19.
    let o = crate::common::nx_at(
        dir.path(),
        &["bundle", "install", art.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.code, 19, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("nx: EIO: file state:/apps/"),
        "{}",
        o.stderr
    );
    // A file the user named that is not there: 3, never 19.
    let missing = dir.path().join("no-such-dir");
    let o = crate::common::nx_at(
        dir.path(),
        &["bundle", "install", missing.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.starts_with("nx: ENOENT: "), "{}", o.stderr);
    let o = crate::common::nx(
        &["key", "sign", "p", "n", "--in", missing.to_str().unwrap()],
        b"",
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
    let key = dir.path().join("missing.key");
    let o = crate::common::nx(
        &[
            "bundle",
            "sign",
            art.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--name",
            "com.example.app",
            "--version",
            "1.0",
        ],
        b"",
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
}

#[test]
fn test_reject_listing_damaged_bundles_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let _fakes = damaged_artifacts(dir.path());
    // Every bundle is listed, the damaged one marked; the status says the
    // list is not whole.
    let o = crate::common::nx_at(dir.path(), &["bundle", "list"], b"");
    assert_eq!(o.code, 19, "{}", o.stderr);
    assert_eq!(
        o.text(),
        "com.example.app 1.0 DAMAGED\ncom.example.other 2.0\n"
    );
    assert!(o.stderr.contains("1 damaged"), "{}", o.stderr);
    let o = crate::common::nx_at(dir.path(), &["--json", "bundle", "list"], b"");
    let j: serde_json::Value = serde_json::from_str(&o.text()).unwrap();
    assert_eq!(j["bundles"][0]["error"]["code"], "EIO");
    assert_eq!(j["bundles"][1]["error"], serde_json::Value::Null);
    // nx status shows what each service reports damaged.
    let o = crate::common::nx_at(dir.path(), &["status"], b"");
    assert!(
        o.text()
            .contains("bundlemgrd: ok 0.1.0\n  damaged: state:/apps/com.example.app/1.0/bin/app"),
        "{}",
        o.text()
    );
}

#[test]
fn trust_update_sends_the_changed_fields() {
    let s = Stack::start();
    let j = s
        .run(
            &[
                "--json",
                "key",
                "trust",
                "update",
                ADDED_KID,
                "--scope",
                "packages",
                "--scope",
                "updates",
                "--label",
                "acme-2026",
            ],
            b"",
        )
        .json();
    assert_eq!(j["kid"], ADDED_KID);
    let (op, a) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(op, "trust.update");
    assert_eq!(
        a.get("scopes"),
        Some(&Value::Array(vec!["packages".into(), "updates".into()]))
    );
    assert_eq!(a.get("label"), Some(&Value::from("acme-2026")));
    assert_eq!(a.get("not_after"), None);
    // Nothing to change, or a scope twice: usage errors, nothing sent.
    assert_eq!(s.run(&["key", "trust", "update", ADDED_KID], b"").code, 2);
    let o = s.run(
        &[
            "key", "trust", "update", ADDED_KID, "--scope", "updates", "--scope", "updates",
        ],
        b"",
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
}
