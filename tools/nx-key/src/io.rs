//! Standard streams, files and passwords.
//!
//! Invariants: data is read and written as bytes, never reinterpreted as
//! text, so any binary message, signature or plaintext passes intact;
//! inputs are bounded (one wire frame, or the op's own limit from
//! `nexus_proto::limits`, refused with `EINVAL` naming it) before anything
//! is sent; secret
//! inputs (plaintexts, vault values, passwords) are held in zeroizing
//! buffers; secret outputs written to a file get mode 0600 when the file is
//! created. Passwords and session ids never come from the command line:
//! argv is visible to every local user (`ps`, `/proc/<pid>/cmdline`) and
//! lands in shell history.

use crate::error::NxError;
use nexus_core::SessionId;
use nexus_proto::limits::Limit;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The largest input read from a file or stdin: one wire frame.
pub const MAX_INPUT: u64 = wire::MAX_FRAME_LEN as u64;

/// The process's standard streams (tests pass buffers).
pub struct Io<'a> {
    /// Standard input.
    pub stdin: &'a mut dyn Read,
    /// Whether stdin is a terminal: passwords not given in a file are then
    /// prompted for on stderr and read with echo off.
    pub terminal: bool,
    /// Standard output.
    pub stdout: &'a mut dyn Write,
    /// Standard error.
    pub stderr: &'a mut dyn Write,
}

fn read_bounded(mut r: impl Read, what: &str) -> Result<Zeroizing<Vec<u8>>, NxError> {
    let mut buf = Zeroizing::new(Vec::new());
    (&mut r)
        .take(MAX_INPUT + 1)
        .read_to_end(&mut buf)
        .map_err(|e| NxError::io(what, &e))?;
    if buf.len() as u64 > MAX_INPUT {
        return Err(NxError::usage(format!(
            "{what} is larger than {MAX_INPUT} bytes"
        )));
    }
    Ok(buf)
}

/// Read a whole file (bounded).
pub fn read_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, NxError> {
    let what = path.display().to_string();
    let f = File::open(path).map_err(|e| NxError::io(&what, &e))?;
    read_bounded(f, &what)
}

/// Read at most one byte past `limit` from `r` (named `name` in errors);
/// more than `limit` is the service's own `EINVAL`, naming the limit.
fn read_capped(
    r: impl Read,
    name: &str,
    limit: Limit,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, NxError> {
    let mut buf = Zeroizing::new(Vec::new());
    r.take(limit.max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| NxError::io(name, &e))?;
    limit
        .check(what, buf.len())
        .map_err(|e| NxError::local(&format!("{name}: {what} not sent"), &e))?;
    Ok(buf)
}

/// Read `what` (e.g. "message") from `--in FILE` or stdin, refusing it
/// when it is over `limit`, before reading further or sending anything.
pub fn read_input_within(
    io: &mut Io<'_>,
    path: Option<&Path>,
    limit: Limit,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, NxError> {
    match path {
        Some(p) => read_file_within(p, limit, what),
        None => read_capped(&mut *io.stdin, "stdin", limit, what),
    }
}

/// A whole file, as [`read_input_within`] reads it.
pub fn read_file_within(
    path: &Path,
    limit: Limit,
    what: &'static str,
) -> Result<Zeroizing<Vec<u8>>, NxError> {
    let name = path.display().to_string();
    let f = File::open(path).map_err(|e| NxError::io(&name, &e))?;
    read_capped(f, &name, limit, what)
}

/// Write `bytes` to `--out FILE` (created 0600, or truncated), or stdout.
pub fn write_output(io: &mut Io<'_>, path: Option<&Path>, bytes: &[u8]) -> Result<(), NxError> {
    match path {
        Some(p) => {
            let what = p.display().to_string();
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(p)
                .map_err(|e| NxError::io(&what, &e))?;
            f.write_all(bytes).map_err(|e| NxError::io(&what, &e))
        }
        None => io
            .stdout
            .write_all(bytes)
            .and_then(|()| io.stdout.flush())
            .map_err(|e| NxError::io("stdout", &e)),
    }
}

fn one_line(mut line: Zeroizing<String>, what: &str) -> Result<Zeroizing<String>, NxError> {
    while line.ends_with('\n') || line.ends_with('\r') {
        line.pop();
    }
    if line.is_empty() {
        return Err(NxError::usage(format!("{what}: empty password")));
    }
    Ok(line)
}

/// Read passwords, one per line: from `file` if given, else from stdin
/// (no prompt, no echo handling: meant for pipes and scripts). Reads
/// exactly `count` lines.
pub fn read_passwords(
    io: &mut Io<'_>,
    file: Option<&Path>,
    count: usize,
) -> Result<Vec<Zeroizing<String>>, NxError> {
    let what = file.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let bytes = match file {
        Some(p) => read_file(p)?,
        None => {
            // Read only the lines needed, byte by byte (no read-ahead):
            // stdin may carry more afterwards, for the next prompt or a
            // value.
            let mut all = Zeroizing::new(Vec::new());
            let mut lines = 0;
            let mut byte = [0u8; 1];
            while lines < count && (all.len() as u64) < MAX_INPUT {
                match io.stdin.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => {
                        all.push(byte[0]);
                        lines += usize::from(byte[0] == b'\n');
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(NxError::io(&what, &e)),
                }
            }
            all
        }
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| NxError::usage(format!("{what}: password is not UTF-8")))?;
    let mut lines = text.split_inclusive('\n');
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let line = lines
            .next()
            .ok_or_else(|| NxError::usage(format!("{what}: expected {count} password line(s)")))?;
        out.push(one_line(Zeroizing::new(line.to_owned()), &what)?);
    }
    Ok(out)
}

/// The environment variable a session id may come from.
pub const SID_ENV: &str = "NEXUS_SID";

fn parse_sid(text: &str, what: &str) -> Result<SessionId, NxError> {
    text.trim()
        .parse()
        .map_err(|_| NxError::usage(format!("{what}: not a session id (32 hex digits)")))
}

/// The session id: the first line of `file`, else `env` (the value of
/// [`SID_ENV`]), else the first line of stdin (read byte by byte, so that
/// a password or value after it is still there to read).
pub fn read_sid(
    io: &mut Io<'_>,
    file: Option<&Path>,
    env: Option<&str>,
) -> Result<SessionId, NxError> {
    if let Some(p) = file {
        let what = p.display().to_string();
        let bytes = read_file(p)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| NxError::usage(format!("{what}: not a session id (32 hex digits)")))?;
        return parse_sid(text.lines().next().unwrap_or(""), &what);
    }
    if let Some(v) = env.filter(|v| !v.trim().is_empty()) {
        return parse_sid(v, SID_ENV);
    }
    let mut line = Vec::with_capacity(33);
    let mut byte = [0u8; 1];
    // 32 hex digits, an optional CR, the newline: anything longer is no
    // session id, and nothing past the newline is consumed.
    while line.len() <= 34 {
        match io.stdin.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(NxError::io("stdin", &e)),
        }
    }
    if line.is_empty() {
        return Err(NxError::usage(format!(
            "no session id: give --sid-file FILE, set {SID_ENV}, or write it on the first line of stdin"
        )));
    }
    let text = String::from_utf8_lossy(&line).into_owned();
    parse_sid(&text, "stdin")
}

/// One password: the first line of `file`; else, on a terminal, asked for
/// as `prompt` with echo off; else one line of stdin (see
/// [`read_passwords`]).
pub fn read_password(
    io: &mut Io<'_>,
    file: Option<&Path>,
    prompt: &str,
) -> Result<Zeroizing<String>, NxError> {
    if file.is_none() && io.terminal {
        let line = crate::tty::read_hidden(prompt, &mut *io.stderr, &mut *io.stdin)
            .map_err(|e| NxError::io("terminal", &e))?;
        return one_line(line, "terminal");
    }
    read_passwords(io, file, 1)?
        .pop()
        .ok_or_else(|| NxError::usage("no password given"))
}

/// A password being set: as [`read_password`], and on a terminal asked a
/// second time, refused unless both match.
pub fn read_new_password(
    io: &mut Io<'_>,
    file: Option<&Path>,
    prompt: &str,
) -> Result<Zeroizing<String>, NxError> {
    let first = read_password(io, file, prompt)?;
    if file.is_none() && io.terminal {
        let again = read_password(io, None, &format!("Retype {}", prompt.to_lowercase()))?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            first.as_bytes(),
            again.as_bytes(),
        )) {
            return Err(NxError::usage("the passwords do not match"));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_stdin<T>(input: &[u8], f: impl FnOnce(&mut Io<'_>) -> T) -> T {
        let mut stdin = input;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            stdin: &mut stdin,
            terminal: false,
            stdout: &mut out,
            stderr: &mut err,
        };
        f(&mut io)
    }

    #[test]
    fn passwords_are_lines() {
        let p = with_stdin(b"pw one\r\npw two\nrest", |io| read_passwords(io, None, 2)).unwrap();
        assert_eq!((p[0].as_str(), p[1].as_str()), ("pw one", "pw two"));
        let p = with_stdin(b"last-no-newline", |io| read_password(io, None, "Password")).unwrap();
        assert_eq!(p.as_str(), "last-no-newline");
    }

    #[test]
    fn test_reject_missing_or_empty_password() {
        let e = with_stdin(b"", |io| read_password(io, None, "Password")).unwrap_err();
        assert_eq!(e.exit_status(), 2);
        let e = with_stdin(b"\n", |io| read_password(io, None, "Password")).unwrap_err();
        assert_eq!(e.exit_status(), 2);
        let e = with_stdin(b"one\n", |io| read_passwords(io, None, 2)).unwrap_err();
        assert_eq!(e.exit_status(), 2);
        let e = with_stdin(b"\xff\n", |io| read_password(io, None, "Password")).unwrap_err();
        assert_eq!(e.exit_status(), 2);
    }

    #[test]
    fn session_ids_come_from_a_file_the_environment_or_stdin_in_that_order() {
        let a = "0123456789abcdef0123456789abcdef";
        let b = "fedcba9876543210fedcba9876543210";
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sid");
        std::fs::write(&f, format!("{a}\n")).unwrap();
        let sid = |stdin: &[u8], file: Option<&Path>, env: Option<&str>| {
            with_stdin(stdin, |io| read_sid(io, file, env).map(|s| s.to_string()))
        };
        assert_eq!(sid(b"", Some(&f), Some(b)).unwrap(), a);
        assert_eq!(sid(b"", None, Some(b)).unwrap(), b);
        assert_eq!(sid(format!("{a}\r\n").as_bytes(), None, None).unwrap(), a);
        assert_eq!(
            sid(format!("{b}\n").as_bytes(), None, Some(" ")).unwrap(),
            b
        );
        // Only the first line of stdin is taken: a password follows it.
        let rest = with_stdin(format!("{a}\npw\n").as_bytes(), |io| {
            read_sid(io, None, None).unwrap();
            read_password(io, None, "Password").unwrap().to_string()
        });
        assert_eq!(rest, "pw");
    }

    #[test]
    fn test_reject_missing_or_malformed_session_id() {
        for (stdin, env) in [
            (&b""[..], None),
            (b"\n", None),
            (b"xyz\n", None),
            (b"0123456789abcdef0123456789abcdef0\n", None),
            (b"", Some("not-a-sid")),
        ] {
            let e = with_stdin(stdin, |io| read_sid(io, None, env)).unwrap_err();
            assert_eq!(e.exit_status(), 2, "{stdin:?} {env:?}");
        }
        let e = with_stdin(b"", |io| {
            read_sid(io, Some(Path::new("/nonexistent/sid")), None)
        })
        .unwrap_err();
        assert_ne!(e.exit_status(), 0);
    }

    #[test]
    fn test_reject_input_over_its_limit_with_einval_naming_it() {
        use nexus_core::{Coded, ErrorCode};
        use nexus_proto::limits::{MAX_MESSAGE_LEN, MESSAGE};
        let big = vec![0u8; MAX_MESSAGE_LEN + 1];
        let e = with_stdin(&big, |io| read_input_within(io, None, MESSAGE, "message")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::Einval);
        assert_eq!(e.exit_status(), ErrorCode::Einval.exit_status());
        assert!(
            e.to_string()
                .contains("the limit is MAX_MESSAGE_LEN = 983040 bytes"),
            "{e}"
        );
        let ok = with_stdin(&big[..MAX_MESSAGE_LEN], |io| {
            read_input_within(io, None, MESSAGE, "message")
        })
        .unwrap();
        assert_eq!(ok.len(), MAX_MESSAGE_LEN);
    }
}
