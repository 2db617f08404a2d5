//! Passwords typed on a terminal: the real `nx` binary with a
//! pseudo-terminal as its stdin prompts on stderr, turns echo off before
//! the prompt shows, reads the line, and puts the terminal back as it was.

use crate::common::Stack;
use nexus_keychain::testkit::contract::{PASSWORD, SID};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

#[test]
fn passwords_on_a_terminal_are_asked_for_without_echo() {
    let s = Stack::start();
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nx"))
        .args([
            "--run",
            s.dir.path().to_str().unwrap(),
            "session",
            "login",
            "alice",
        ])
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The prompt, on stderr: echo is already off once it shows.
    let mut err = child.stderr.take().unwrap();
    let mut prompt = Vec::new();
    let mut byte = [0u8; 1];
    while !prompt.ends_with(b": ") {
        assert_eq!(err.read(&mut byte).unwrap(), 1, "stderr ended: {prompt:?}");
        prompt.push(byte[0]);
    }
    assert_eq!(prompt, b"Password for alice: ");
    let mut m = std::fs::File::from(master);
    m.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{SID}\n"));
    // What the terminal showed: the newline, never the password.
    rustix::fs::fcntl_setfl(&m, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut shown = Vec::new();
    let _ = m.read_to_end(&mut shown);
    let shown = String::from_utf8_lossy(&shown);
    assert!(!shown.contains("horse"), "echoed: {shown:?}");
    let t = rustix::termios::tcgetattr(&m).unwrap();
    assert!(
        t.local_modes.contains(rustix::termios::LocalModes::ECHO),
        "echo put back"
    );
}
