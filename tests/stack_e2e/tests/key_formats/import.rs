//! `nx key import` of files made by ssh-keygen, openssl and minisign,
//! through the real keystored and keymintd; what the imported keys sign
//! is verified by `minisign -V` and installed through the trust store;
//! nothing returns the imported private keys.

use crate::harness::must;
use crate::{booted, contains, files_under, nx_json, nx_ok, nx_out, tool};
use base64::Engine;

fn b64(v: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[test]
fn imported_keys_sign_what_minisign_verifies_and_are_never_returned() {
    let (stack, d) = booted();
    let d = d.as_path();
    let pass = d.join("pass.txt");
    must(std::fs::write(&pass, "ssh key passphrase\n"), "pass.txt");

    // An OpenSSH key with a passphrase.
    tool(
        d,
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "ssh key passphrase",
            "-C",
            "dev@laptop",
            "-f",
            "id",
        ],
        b"",
    );
    let j = nx_json(
        &stack,
        d,
        &[
            "key",
            "import",
            "release",
            "from-ssh",
            "--from",
            "id",
            "--password-file",
            "pass.txt",
        ],
    );
    assert_eq!(j["format"], "openssh");
    assert_eq!(j["version"], 1);
    let ssh_pub = must(std::fs::read_to_string(d.join("id.pub")), "id.pub");
    let exported = nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "release",
            "from-ssh",
            "--format",
            "openssh",
        ],
    );
    let field = |line: &str| line.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(
        field(&String::from_utf8_lossy(&exported)),
        field(&ssh_pub),
        "the keystore holds the ssh-keygen key"
    );

    // A PKCS#8 key from openssl: the SPKI PEM the keystore exports is
    // byte for byte what openssl derives from the private key.
    tool(
        d,
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "k.pem"],
        b"",
    );
    let der = tool(
        d,
        "openssl",
        &["pkey", "-in", "k.pem", "-outform", "DER"],
        b"",
    );
    let seed = der[der.len() - 32..].to_vec();
    let j = nx_json(
        &stack,
        d,
        &[
            "key",
            "import",
            "release",
            "from-openssl",
            "--from",
            "k.pem",
        ],
    );
    assert_eq!(j["format"], "pkcs8");
    let openssl_pub = tool(d, "openssl", &["pkey", "-in", "k.pem", "-pubout"], b"");
    let exported = nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "release",
            "from-openssl",
            "--format",
            "pem",
        ],
    );
    assert_eq!(exported, openssl_pub);

    // Nothing returns that seed: not the key's metadata, not the wrapped
    // export (which only this device's keymintd opens), not any file in
    // the state directory.
    let show = nx_ok(
        &stack,
        d,
        &["--json", "key", "show", "release", "from-openssl"],
    );
    let wrapped = nx_json(
        &stack,
        d,
        &["key", "export-wrapped", "release", "from-openssl"],
    );
    let blob = b64(&wrapped["blob_b64"]);
    assert!(blob.len() > 32);
    assert!(!contains(&blob, &seed) && !contains(&show, &seed));
    let state = stack.run_dir().parent().unwrap().to_path_buf();
    for (path, bytes) in files_under(&state) {
        assert!(
            !contains(&bytes, &seed),
            "{} holds the seed",
            path.display()
        );
    }

    // A minisign key (-W): imported, it signs a bundle that the stock
    // minisign verifies with the ORIGINAL public key file, when the
    // signature carries the original key number.
    tool(
        d,
        "minisign",
        &["-G", "-W", "-p", "m.pub", "-s", "m.key"],
        b"",
    );
    let j = nx_json(
        &stack,
        d,
        &[
            "key",
            "import",
            "release",
            "from-minisign",
            "--from",
            "m.key",
        ],
    );
    let key_id = j["minisign_key_id"].as_str().unwrap().to_owned();
    let app = d.join("app");
    must(std::fs::create_dir_all(app.join("bin")), "app dir");
    must(
        std::fs::write(app.join("bin/hello"), b"#!/bin/sh\necho hi\n"),
        "file",
    );
    let j = nx_json(
        &stack,
        d,
        &[
            "bundle",
            "sign",
            "app",
            "--key",
            "release/from-minisign",
            "--minisign-key-id",
            &key_id,
            "--name",
            "com.example.hello",
            "--version",
            "1.0.0",
        ],
    );
    assert_eq!(j["signer_key"], "release/from-minisign");
    assert_eq!(j["minisign_key_id"], key_id.as_str());
    tool(
        d,
        "minisign",
        &["-V", "-p", "m.pub", "-m", "app/manifest.toml"],
        b"",
    );

    // The trust store takes that public key, and bundlemgrd installs what
    // the keystore key signed.
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "trust",
            "add",
            "--pubkey-file",
            "m.pub",
            "--scope",
            "packages",
            "--label",
            "imported",
        ],
    );
    let j = nx_json(&stack, d, &["bundle", "install", "app"]);
    assert_eq!(j["name"], "com.example.hello");

    // An update signed by the openssl key through the keystore: minisign
    // verifies it with the exported minisign public key.
    let os = d.join("os");
    must(std::fs::create_dir_all(&os), "os dir");
    must(
        std::fs::write(os.join("kernel"), vec![0x5a; 100_000]),
        "kernel",
    );
    nx_ok(
        &stack,
        d,
        &[
            "update",
            "sign",
            "os",
            "--key",
            "release/from-openssl",
            "--name",
            "nexus-os",
            "--version",
            "9.0.0",
        ],
    );
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "release",
            "from-openssl",
            "--format",
            "minisign",
            "--out",
            "os.pub",
        ],
    );
    let out = tool(
        d,
        "minisign",
        &["-V", "-p", "os.pub", "-m", "os/manifest.toml"],
        b"",
    );
    assert!(String::from_utf8_lossy(&out).contains("Trusted comment: update nexus-os 9.0.0"));

    // A --key that is both a keystore key and a file is refused.
    must(std::fs::create_dir_all(d.join("release")), "release dir");
    must(
        std::fs::write(d.join("release/from-openssl"), b"x"),
        "decoy",
    );
    let out = nx_out(
        &stack,
        d,
        &[
            "bundle",
            "sign",
            "app",
            "--key",
            "release/from-openssl",
            "--name",
            "com.example.hello",
            "--version",
            "1.0.1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("names both a keystore key and a file"));

    // Importing over an existing name is refused; the name keeps its key.
    let out = nx_out(
        &stack,
        d,
        &[
            "key",
            "import",
            "release",
            "from-openssl",
            "--from",
            "m.key",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(12), "EALREADY");
}
