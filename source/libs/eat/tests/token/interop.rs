//! Interop: a token this crate signs verifies with Python's pycose (an
//! independent COSE implementation) and its payload reads correctly with
//! cbor2. The test fails, never skips, when python3 or the modules are
//! missing.

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};

const INSTALL_HINT: &str = "the interop test needs python3 with pycose and cbor2: \
                            run `pip install pycose cbor2`";

/// Exit status the script uses when an import fails.
const EXIT_MISSING_MODULE: i32 = 3;

fn run_script(dir: &Path, token: &[u8], device_pub: &[u8], nonce: &[u8], app: &str) -> Output {
    std::fs::write(dir.join("token.cbor"), token).unwrap();
    std::fs::write(dir.join("device_pub.bin"), device_pub).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pycose_verify.py");
    let out = Command::new("python3")
        .arg(&script)
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

#[test]
fn pycose_verifies_our_token() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device_key();
    let token = sign(&claims(NONCE), &dev);
    let pk = dev.verifying_key();
    let out = run_script(dir.path(), &token, pk.as_bytes(), NONCE, APP);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pycose refused our token:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("OK app={APP}")), "{stdout}");
    assert!(
        stdout.contains(&format!("device_kid={}", device_kid(&dev))),
        "{stdout}"
    );
}

/// (token, device key, nonce, app id, expected reason)
type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a str, &'a str);

/// The script is a real check: a tampered signature, the wrong nonce, the
/// wrong app id and the wrong device key each make it fail.
#[test]
fn pycose_script_refuses_bad_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device_key();
    let token = sign(&claims(NONCE), &dev);
    let pk = dev.verifying_key();

    let mut tampered = token.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let other = key(3).verifying_key();
    let cases: [Case; 4] = [
        (&tampered, pk.as_bytes(), NONCE, APP, "signature"),
        (
            &token,
            pk.as_bytes(),
            b"another-nonce-00",
            APP,
            "nonce mismatch",
        ),
        (&token, pk.as_bytes(), NONCE, "com.example.other", "app id"),
        (&token, other.as_bytes(), NONCE, APP, "kid"),
    ];
    for (t, k, n, a, why) in cases {
        let out = run_script(dir.path(), t, k, n, a);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "not refused ({why}): {stdout}");
        assert!(
            stdout.contains("REFUSED:") && stdout.contains(why),
            "{stdout}"
        );
    }
}
