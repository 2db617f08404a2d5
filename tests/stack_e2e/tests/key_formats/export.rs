//! `nx key export-public` in each format, accepted by the tool that reads
//! that format: `openssl pkey -pubin`, `ssh-keygen -l`, `minisign -V -p`
//! (checking a signature made through the keystore), and raw bytes equal
//! to what keystored reports.

use crate::harness::must;
use crate::{booted, nx_json, nx_ok, nx_out, tool};
use base64::Engine;

#[test]
fn export_public_formats_are_accepted_by_openssl_ssh_keygen_and_minisign() {
    let (stack, d) = booted();
    let d = d.as_path();
    let created = nx_json(&stack, d, &["key", "create", "signing", "k1"]);
    let public = base64::engine::general_purpose::STANDARD
        .decode(created["public_key_b64"].as_str().unwrap())
        .unwrap();

    nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "signing",
            "k1",
            "--format",
            "pem",
            "--out",
            "k1.pem",
        ],
    );
    tool(
        d,
        "openssl",
        &["pkey", "-pubin", "-in", "k1.pem", "-noout"],
        b"",
    );
    let der = tool(
        d,
        "openssl",
        &["pkey", "-pubin", "-in", "k1.pem", "-outform", "DER"],
        b"",
    );
    assert_eq!(&der[der.len() - 32..], &public[..], "openssl reads the key");

    nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "signing",
            "k1",
            "--format",
            "openssh",
            "--out",
            "k1.pub",
        ],
    );
    let listed = String::from_utf8(tool(d, "ssh-keygen", &["-l", "-f", "k1.pub"], b"")).unwrap();
    assert!(listed.starts_with("256 SHA256:"), "{listed}");
    assert!(
        listed
            .trim_end()
            .ends_with("system.admin/signing/k1 v1 (ED25519)"),
        "{listed}"
    );

    nx_ok(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "signing",
            "k1",
            "--format",
            "minisign",
            "--out",
            "k1.minisign.pub",
        ],
    );
    must(
        std::fs::write(d.join("msg.txt"), b"signed through the keystore\n"),
        "msg",
    );
    nx_ok(
        &stack,
        d,
        &[
            "key",
            "sign",
            "signing",
            "k1",
            "--minisig",
            "--in",
            "msg.txt",
            "--out",
            "msg.txt.minisig",
        ],
    );
    let out = tool(
        d,
        "minisign",
        &["-V", "-p", "k1.minisign.pub", "-m", "msg.txt"],
        b"",
    );
    assert!(String::from_utf8_lossy(&out).contains("Signature and comment signature verified"));

    let raw = nx_ok(
        &stack,
        d,
        &["key", "export-public", "signing", "k1", "--format", "raw"],
    );
    assert_eq!(raw, public);

    // A rotated-away and then revoked version is not handed out.
    nx_ok(&stack, d, &["key", "rotate", "signing", "k1"]);
    nx_ok(
        &stack,
        d,
        &["key", "revoke", "signing", "k1", "--version", "1"],
    );
    let out = nx_out(
        &stack,
        d,
        &[
            "key",
            "export-public",
            "signing",
            "k1",
            "--format",
            "raw",
            "--version",
            "1",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(13), "EKEYREVOKED");
    let v2 = nx_ok(
        &stack,
        d,
        &["key", "export-public", "signing", "k1", "--format", "raw"],
    );
    assert_ne!(v2, public, "the primary is version 2 now");
}
