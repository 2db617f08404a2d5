//! Fair share of keystored's public socket: one subject holding its cap of
//! idle connections (each kept alive) cannot lock out another subject, nor
//! the endpoints nexus-init hands out.

use crate::common::{Stack, ALPHA, OTHER_UID};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use wire::{Args, Client, ErrorCode, ServerConfig};

/// Ask keystored's `status` over its public socket from a child process
/// running as `uid` (group 0, which may use the 0660 socket): the child
/// (a few lines of Python's standard library) sends the request frame
/// given and prints the reply frame's body in hex. Returns `ok` or the
/// error code.
fn status_as(uid: u32, socket: &std::path::Path) -> String {
    let script = r#"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(bytes.fromhex(sys.argv[2]))
def read(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("closed")
        b += c
    return b
(n,) = struct.unpack(">I", read(4))
print(read(n).hex())
"#;
    let body = wire::encode_request(1, "status", &Args::new()).unwrap();
    let frame = wire::frame::encode_frame(&body, wire::MAX_FRAME_LEN).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(socket)
        .arg(frame.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .uid(uid)
        .gid(0)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let text = text.trim();
    let reply: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect();
    match wire::decode_reply(&reply).unwrap().outcome {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.code().to_string(),
    }
}

#[test]
fn test_reject_one_subject_at_its_cap_while_others_get_in() {
    let s = Stack::start();
    s.keystored.wait_for("keystore: ready");
    let socket = s.run().join("keystored.sock");
    let cap = ServerConfig::default().max_connections_per_subject;
    // The hog (this process's uid, system:admin) takes its whole share;
    // each connection answered once, then sits idle.
    let mut hog: Vec<Client> = (0..cap)
        .map(|_| {
            let mut c = Client::connect(&socket).unwrap();
            c.call("status", &Args::new()).unwrap();
            c
        })
        .collect();
    let e = Client::connect(&socket)
        .unwrap()
        .call("status", &Args::new())
        .unwrap_err();
    assert_eq!(e.remote_code(), Some(ErrorCode::Ebusy), "{e}");
    assert_eq!(
        e.to_string(),
        "EBUSY: too many connections from this subject"
    );

    // An endpoint from the supervisor is never counted.
    let mut alpha = s.keystored.connect(ALPHA);
    alpha.call("status", &Args::new()).unwrap();

    // Another subject on the public socket: a process of another uid.
    if rustix::process::geteuid().is_root() {
        // Let the child's group reach the socket in the test's directory.
        std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(status_as(OTHER_UID, &socket), "ok");
        assert_eq!(status_as(OTHER_UID, &socket), "ok");
    } else {
        eprintln!("not root: the second public subject (uid {OTHER_UID}) is not tried");
    }

    // The hog's connections still work; one closed makes room for one.
    for c in hog.iter_mut().step_by(64) {
        c.call("status", &Args::new()).unwrap();
    }
    drop(hog.pop());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Client::connect(&socket)
            .unwrap()
            .call("status", &Args::new())
        {
            Ok(_) => break,
            Err(e) if e.remote_code() == Some(ErrorCode::Ebusy) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no room after a close"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}
