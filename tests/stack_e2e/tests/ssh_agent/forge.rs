//! The attack the agent's 64-byte rule stops, end to end: a client of the
//! agent socket (a remote host, through `ssh -A`) asks for a signature of
//! BLAKE2b-512(evil file) and then of `signature || trusted comment`, and
//! assembles a `.minisig` that the stock `minisign -V` would accept as the
//! key owner's signature of the evil file.

use crate::harness::must;
use crate::tools::{nx, start_agent};
use crate::{stack_with_key, tmp};
use base64::Engine;
use blake2::{Blake2b512, Digest};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

/// One `SIGN_REQUEST` (13) over the agent socket: the signature, or
/// `None` for `SSH_AGENT_FAILURE`.
fn agent_sign(sock: &Path, key_blob: &[u8], data: &[u8]) -> Option<[u8; 64]> {
    let mut body = vec![13u8];
    for s in [key_blob, data] {
        body.extend_from_slice(&(s.len() as u32).to_be_bytes());
        body.extend_from_slice(s);
    }
    body.extend_from_slice(&0u32.to_be_bytes());
    let mut c = must(UnixStream::connect(sock), "connect to the agent");
    must(c.write_all(&(body.len() as u32).to_be_bytes()), "write");
    must(c.write_all(&body), "write");
    let mut len = [0u8; 4];
    must(c.read_exact(&mut len), "read");
    let mut reply = vec![0u8; u32::from_be_bytes(len) as usize];
    must(c.read_exact(&mut reply), "read");
    match reply.first() {
        Some(5) => None,
        // 14 = SIGN_RESPONSE: string(string "ssh-ed25519", string sig).
        Some(14) => Some(reply[reply.len() - 64..].try_into().unwrap()),
        other => panic!("unexpected agent reply {other:?}"),
    }
}

#[test]
fn test_reject_a_forged_minisign_signature_through_the_agent() {
    crate::tools::require_tools();
    let (stack, line) = stack_with_key("release");
    let dir = tmp(&stack);
    let (_agent, sock) = start_agent(&stack.run_dir(), &dir);
    let blob = base64::engine::general_purpose::STANDARD
        .decode(line.split_whitespace().nth(1).unwrap())
        .unwrap();
    let evil = b"#!/bin/sh\necho pwned\n";
    must(std::fs::write(dir.join("evil.sh"), evil), "evil.sh");
    let digest = Blake2b512::digest(evil);

    let forged = agent_sign(&sock, &blob, &digest).map(|sig| {
        // The attacker completes the .minisig with a second request.
        let comment = "timestamp:1\tfile:evil.sh\thashed";
        let mut global_msg = sig.to_vec();
        global_msg.extend_from_slice(comment.as_bytes());
        let global = agent_sign(&sock, &blob, &global_msg).expect("global signature");
        let public = nx(
            &stack.run_dir(),
            &[
                "key",
                "export-public",
                "ssh",
                "release",
                "--format",
                "minisign",
            ],
        );
        must(
            std::fs::write(dir.join("release.pub"), &public),
            "release.pub",
        );
        let raw = base64::engine::general_purpose::STANDARD
            .decode(public.lines().nth(1).unwrap())
            .unwrap();
        let mut line1 = b"ED".to_vec();
        line1.extend_from_slice(&raw[2..10]);
        line1.extend_from_slice(&sig);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let text = format!(
            "untrusted comment: forged\n{}\ntrusted comment: {comment}\n{}\n",
            b64(&line1),
            b64(&global)
        );
        must(std::fs::write(dir.join("evil.sh.minisig"), text), "minisig");
        Command::new("minisign")
            .current_dir(&dir)
            .args(["-V", "-p", "release.pub", "-m", "evil.sh"])
            .output()
            .unwrap()
    });
    if let Some(out) = forged {
        panic!(
            "the agent signed a bare 64-byte digest: minisign -V on the forged signature \
             says {} ({})",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    // Anything else it still signs.
    assert!(agent_sign(&sock, &blob, &[1; 65]).is_some());
}
