//! `nx key import` reads key files made by the real tools (ssh-keygen,
//! openssl, minisign), encrypted or not, and sends exactly their seed;
//! every malformed or other-algorithm shape is a clear usage error before
//! anything is sent.

use crate::common::{nx, Stack};
use base64::Engine;
use ed25519_dalek::SigningKey;
use nexus_keychain::Service;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wire::Value;

/// Run a tool in `dir`, feeding `stdin`; fail the test unless it works.
fn tool(dir: &Path, program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{program} is needed (scripts/install-test-deps.sh installs it): {e}")
        });
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    out.stdout
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The 32-byte key in an `ssh-ed25519 AAAA… comment` line.
fn openssh_public(line: &str) -> [u8; 32] {
    let b64 = line.split_whitespace().nth(1).unwrap();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    blob[blob.len() - 32..].try_into().unwrap()
}

/// `nx key import imported k --from FILE` against a fake keystored: the
/// seed it sent, as the public key it derives to. The fake answers a
/// fixed public key, which `nx` must refuse (EIO) since it is not the
/// file's.
fn imported_public(s: &Stack, file: &Path, password: Option<&Path>) -> [u8; 32] {
    let mut args = vec![
        "key",
        "import",
        "imported",
        "k",
        "--from",
        file.to_str().unwrap(),
    ];
    if let Some(p) = password {
        args.extend(["--password-file", p.to_str().unwrap()]);
    }
    let o = s.run(&args, b"");
    assert_eq!(o.code, 19, "{}", o.stderr);
    assert!(
        o.stderr.contains("another public key than the file's"),
        "{}",
        o.stderr
    );
    let (op, sent) = s.fake(Service::Keystored).last().unwrap();
    assert_eq!(op, "key.import");
    assert_eq!(sent.get("alg"), Some(&Value::from("Ed25519")));
    let Some(Value::Bytes(seed)) = sent.get("private") else {
        panic!("no private key sent")
    };
    let seed: [u8; 32] = seed.as_slice().try_into().unwrap();
    SigningKey::from_bytes(&seed).verifying_key().to_bytes()
}

#[test]
fn import_sends_the_seed_of_keys_made_by_ssh_keygen_openssl_and_minisign() {
    let s = Stack::start();
    let d = s.dir.path();
    let pass = write(d, "pass.txt", b"a passphrase for the test\n");

    tool(
        d,
        "ssh-keygen",
        &[
            "-q", "-t", "ed25519", "-N", "", "-C", "me@host", "-f", "id_plain",
        ],
        b"",
    );
    let want = openssh_public(&std::fs::read_to_string(d.join("id_plain.pub")).unwrap());
    assert_eq!(imported_public(&s, &d.join("id_plain"), None), want);

    tool(
        d,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "a passphrase for the test",
            "-f",
            "id_enc",
        ],
        b"",
    );
    let want = openssh_public(&std::fs::read_to_string(d.join("id_enc.pub")).unwrap());
    assert_eq!(imported_public(&s, &d.join("id_enc"), Some(&pass)), want);

    tool(
        d,
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"],
        b"",
    );
    let spki = tool(
        d,
        "openssl",
        &["pkey", "-in", "k.pem", "-pubout", "-outform", "DER"],
        b"",
    );
    let want: [u8; 32] = spki[spki.len() - 32..].try_into().unwrap();
    assert_eq!(imported_public(&s, &d.join("k.pem"), None), want);

    tool(
        d,
        "minisign",
        &["-G", "-W", "-p", "m.pub", "-s", "m.key"],
        b"",
    );
    let pk = trust::minisign::MinisignPublicKey::parse(&std::fs::read(d.join("m.pub")).unwrap())
        .unwrap();
    assert_eq!(
        imported_public(&s, &d.join("m.key"), None),
        *pk.verifying_key().as_bytes()
    );

    // minisign with a password: scrypt with minisign's own parameters
    // (about a gigabyte, a few seconds), here and in nx.
    tool(
        d,
        "minisign",
        &["-G", "-p", "me.pub", "-s", "me.key"],
        b"a passphrase for the test\na passphrase for the test\n",
    );
    let pk = trust::minisign::MinisignPublicKey::parse(&std::fs::read(d.join("me.pub")).unwrap())
        .unwrap();
    assert_eq!(
        imported_public(&s, &d.join("me.key"), Some(&pass)),
        *pk.verifying_key().as_bytes()
    );
}

/// `nx key import` of `file`: its exit status and message, with no
/// service listening (a refused file never gets as far as connecting).
fn refused(file: &Path, password: Option<&Path>) -> (u8, String) {
    let mut args = vec![
        "--run",
        "/nonexistent-nexus-run",
        "key",
        "import",
        "imported",
        "k",
        "--from",
        file.to_str().unwrap(),
    ];
    if let Some(p) = password {
        args.extend(["--password-file", p.to_str().unwrap()]);
    }
    let o = nx(&args, b"");
    (o.code, o.stderr)
}

#[test]
fn test_reject_malformed_and_other_algorithm_key_files() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    tool(
        d,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", "ed"],
        b"",
    );
    tool(
        d,
        "ssh-keygen",
        &["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", "rsa"],
        b"",
    );
    tool(
        d,
        "ssh-keygen",
        &["-q", "-t", "ecdsa", "-N", "", "-f", "ecdsa"],
        b"",
    );
    tool(
        d,
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "ed.pem"],
        b"",
    );
    tool(
        d,
        "openssl",
        &["genpkey", "-algorithm", "X25519", "-out", "x25519.pem"],
        b"",
    );
    tool(
        d,
        "openssl",
        &["genpkey", "-algorithm", "ed448", "-out", "ed448.pem"],
        b"",
    );
    tool(
        d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
        b"",
    );
    tool(
        d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "rsa8.pem",
        ],
        b"",
    );
    tool(
        d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes256",
            "-pass",
            "pass:x",
            "-out",
            "enc.pem",
        ],
        b"",
    );
    tool(
        d,
        "openssl",
        &["pkey", "-in", "ed.pem", "-pubout", "-out", "pub.pem"],
        b"",
    );
    tool(
        d,
        "openssl",
        &["pkey", "-in", "ed.pem", "-outform", "DER", "-out", "ed.der"],
        b"",
    );
    tool(
        d,
        "minisign",
        &["-G", "-W", "-p", "m.pub", "-s", "m.key"],
        b"",
    );

    let ed = std::fs::read_to_string(d.join("ed")).unwrap();
    let pem = std::fs::read_to_string(d.join("ed.pem")).unwrap();
    let mkey = std::fs::read_to_string(d.join("m.key")).unwrap();
    // A damaged OpenSSH body: one base64 character of the private part
    // changed (the check integers or the key then disagree).
    let mut damaged: Vec<char> = ed.chars().collect();
    let at = ed.len() / 2;
    damaged[at] = if damaged[at] == 'A' { 'B' } else { 'A' };
    let damaged: String = damaged.into_iter().collect();
    let mut mraw: Vec<String> = mkey.lines().map(str::to_owned).collect();
    mraw[1] = format!("{}A{}", &mraw[1][..100], &mraw[1][101..]);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "is not a private key file nx can import"),
        (
            "text",
            b"hello\n".to_vec(),
            "is not a private key file nx can import",
        ),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01], "is binary"),
        ("der", std::fs::read(d.join("ed.der")).unwrap(), "is binary"),
        (
            "ssh-rsa",
            std::fs::read(d.join("rsa")).unwrap(),
            "is an ssh-rsa key",
        ),
        (
            "ssh-ecdsa",
            std::fs::read(d.join("ecdsa")).unwrap(),
            "is an ecdsa-sha2-nistp256 key",
        ),
        (
            "ssh-pub",
            std::fs::read(d.join("ed.pub")).unwrap(),
            "is a public key",
        ),
        (
            "ssh-truncated",
            ed.lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            "malformed OpenSSH private key",
        ),
        (
            "ssh-bad-base64",
            {
                let mut l: Vec<String> = ed.lines().map(str::to_owned).collect();
                l[1].replace_range(0..1, "*");
                (l.join("\n") + "\n").into_bytes()
            },
            "malformed OpenSSH private key",
        ),
        ("ssh-damaged", damaged.into_bytes(), "OpenSSH private key"),
        (
            "pkcs8-x25519",
            std::fs::read(d.join("x25519.pem")).unwrap(),
            "is an X25519 key",
        ),
        (
            "pkcs8-ed448",
            std::fs::read(d.join("ed448.pem")).unwrap(),
            "is an Ed448 key",
        ),
        (
            "pkcs8-ec",
            std::fs::read(d.join("ec.pem")).unwrap(),
            "is an EC (ECDSA) key",
        ),
        (
            "pkcs8-rsa",
            std::fs::read(d.join("rsa8.pem")).unwrap(),
            "is an RSA key",
        ),
        (
            "pkcs8-encrypted",
            std::fs::read(d.join("enc.pem")).unwrap(),
            "is an encrypted PKCS#8 key",
        ),
        (
            "spki",
            std::fs::read(d.join("pub.pem")).unwrap(),
            "is a public key",
        ),
        (
            "pkcs8-truncated",
            pem.lines()
                .take(2)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            "malformed PKCS#8 key",
        ),
        (
            "pkcs8-garbage",
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            "malformed PKCS#8 key",
        ),
        (
            "rsa-traditional",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".to_vec(),
            "is an RSA private key",
        ),
        (
            "minisign-pub",
            std::fs::read(d.join("m.pub")).unwrap(),
            "is a minisign public key",
        ),
        (
            "minisign-damaged",
            (mraw.join("\n") + "\n").into_bytes(),
            "malformed minisign secret key",
        ),
        (
            "minisign-truncated",
            mkey.lines()
                .take(1)
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            "malformed minisign secret key",
        ),
    ];
    for (name, bytes, want) in cases {
        let f = write(d, &format!("case-{name}"), &bytes);
        let (code, err) = refused(&f, None);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.starts_with("nx: EINVAL: "), "{name}: {err}");
        assert!(err.contains(want), "{name}: want {want:?} in {err}");
    }
}

#[test]
fn test_reject_wrong_passphrases_with_eperm() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let wrong = write(d, "wrong.txt", b"not the passphrase\n");
    tool(
        d,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "the passphrase", "-f", "id"],
        b"",
    );
    let (code, err) = refused(&d.join("id"), Some(&wrong));
    assert_eq!(
        (code, err.as_str()),
        (
            10,
            format!("nx: EPERM: {}: wrong passphrase\n", d.join("id").display()).as_str()
        )
    );
    tool(
        d,
        "minisign",
        &["-G", "-p", "m.pub", "-s", "m.key"],
        b"the passphrase\nthe passphrase\n",
    );
    let (code, err) = refused(&d.join("m.key"), Some(&wrong));
    assert_eq!(code, 10, "{err}");
    assert!(err.contains("wrong passphrase"), "{err}");
    // No passphrase at all (empty stdin) is a usage error.
    let (code, err) = refused(&d.join("id"), None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is encrypted: give its passphrase"), "{err}");

    // A file asking for an absurd bcrypt-pbkdf cost is refused before any
    // work: the rounds sit in the clear header ("openssh-key-v1\0",
    // cipher, kdf name, kdf options = salt and rounds).
    let text = std::fs::read_to_string(d.join("id")).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let mut at = b"openssh-key-v1\0".len();
    for _ in 0..2 {
        let len = u32::from_be_bytes(raw[at..at + 4].try_into().unwrap()) as usize;
        at += 4 + len;
    }
    // kdf options: uint32 length, string salt, uint32 rounds.
    let salt_len = u32::from_be_bytes(raw[at + 4..at + 8].try_into().unwrap()) as usize;
    let rounds_at = at + 8 + salt_len;
    raw[rounds_at..rounds_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(70)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let costly = write(
        d,
        "costly",
        format!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
            lines.join("\n")
        )
        .as_bytes(),
    );
    let (code, err) = refused(&costly, Some(&wrong));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("4294967295 bcrypt-pbkdf rounds"), "{err}");
}

#[test]
fn test_reject_bad_key_format_arguments() {
    let run = |args: &[&str]| {
        let mut all = vec!["--run", "/nonexistent-nexus-run"];
        all.extend_from_slice(args);
        nx(&all, b"")
    };
    for (args, want) in [
        (
            &["key", "export-public", "signing", "k1"][..],
            "--format <FORMAT>",
        ),
        (
            &["key", "export-public", "signing", "k1", "--format", "der"][..],
            "invalid value 'der'",
        ),
        (
            &["key", "sign", "signing", "k1", "--trusted-comment", "x"][..],
            "--minisig",
        ),
        (
            &[
                "key",
                "sign",
                "signing",
                "k1",
                "--minisig",
                "--minisign-key-id",
                "12",
            ][..],
            "16 hex digits",
        ),
        (&["key", "import", "signing", "k1"][..], "--from <FILE>"),
    ] {
        let o = run(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(
            o.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            o.stderr
        );
    }
}

#[test]
fn test_reject_a_signing_key_that_names_both_a_keystore_key_and_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("app")).unwrap();
    std::fs::write(d.join("app/file"), b"x").unwrap();
    std::fs::create_dir_all(d.join("release")).unwrap();
    let sk = trust::minisign::MinisignSecretKey::generate().unwrap();
    std::fs::write(d.join("release/k1"), sk.to_file_text().as_bytes()).unwrap();
    let cwd = std::env::current_dir().unwrap();
    // `release/k1` relative to the working directory: nx runs in-process,
    // so the test names the file by an absolute path with the same shape
    // instead of changing directory: a relative `PURPOSE/NAME` that does
    // not exist is a keystore key (and the stack here is unreachable).
    let o = nx(
        &[
            "--run",
            "/nonexistent-nexus-run",
            "bundle",
            "sign",
            d.join("app").to_str().unwrap(),
            "--key",
            "release/k1",
            "--name",
            "com.example.app",
            "--version",
            "1.0",
        ],
        b"",
    );
    // No such file here: taken as a keystore key, which cannot be reached.
    assert!(!cwd.join("release/k1").exists());
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stderr.contains("keystored"), "{}", o.stderr);
    // A path is a file; --minisign-key-id is refused with one.
    let key = d.join("release/k1");
    let o = nx(
        &[
            "bundle",
            "sign",
            d.join("app").to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--minisign-key-id",
            "0123456789ABCDEF",
            "--name",
            "com.example.app",
            "--version",
            "1.0",
        ],
        b"",
    );
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("--minisign-key-id is for keystore keys"));
}
