//! Marker lines on stdout: what the supervisor and the test harnesses
//! wait for.
//!
//! Invariants: stdout carries markers only, one per line, each written
//! whole under a lock and flushed at once (a supervisor reading a pipe
//! sees it immediately). A marker is plain text on one line: control
//! characters are replaced, so no value can forge a second marker. The
//! ready marker is exactly `<svc>: ready`, followed by ` (volatile)` and/or
//! ` (INSECURE)` when those modes are on.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// The ready marker of `svc` in the given modes.
pub fn ready_line(svc: &str, volatile: bool, insecure: bool) -> String {
    let mut line = format!("{svc}: ready");
    if volatile {
        line.push_str(" (volatile)");
    }
    if insecure {
        line.push_str(" (INSECURE)");
    }
    line
}

/// Writes marker lines. Cheap to clone; clones share the writer.
#[derive(Clone)]
pub struct Markers {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
    ready_note: Option<&'static str>,
    after_ready: Option<&'static str>,
}

impl std::fmt::Debug for Markers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Markers").finish_non_exhaustive()
    }
}

impl Markers {
    /// Markers to the process's stdout.
    pub fn stdout() -> Markers {
        Markers::to_writer(Box::new(io::stdout()))
    }

    /// Markers to any writer (tests).
    pub fn to_writer(out: Box<dyn Write + Send>) -> Markers {
        Markers {
            out: Arc::new(Mutex::new(out)),
            ready_note: None,
            after_ready: None,
        }
    }

    /// Add ` (<note>)` to the ready line, after the mode suffixes (e.g.
    /// identityd's `TEST-KDF`).
    pub fn with_ready_note(mut self, note: &'static str) -> Markers {
        self.ready_note = Some(note);
        self
    }

    /// Print `line` right after the ready line, under the same lock, so no
    /// other marker comes between them (keystored's `keystore: ready`: the
    /// vault serves from the moment keystored does).
    pub fn with_after_ready(mut self, line: &'static str) -> Markers {
        self.after_ready = Some(line);
        self
    }

    /// Write marker lines and flush them, all under one lock.
    fn lines(&self, texts: &[&str]) -> io::Result<()> {
        let mut clean = String::new();
        for text in texts {
            clean.extend(text.chars().map(|c| if c.is_control() { '?' } else { c }));
            clean.push('\n');
        }
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(clean.as_bytes())?;
        out.flush()
    }

    /// Write one marker line and flush it.
    pub fn line(&self, text: &str) -> io::Result<()> {
        self.lines(&[text])
    }

    /// Write the ready marker of `svc` (with the note and the following
    /// line, if configured).
    pub fn ready(&self, svc: &str, volatile: bool, insecure: bool) -> io::Result<()> {
        let mut line = ready_line(svc, volatile, insecure);
        if let Some(note) = self.ready_note {
            line.push_str(&format!(" ({note})"));
        }
        match self.after_ready {
            Some(next) => self.lines(&[&line, next]),
            None => self.lines(&[&line]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn ready_suffixes_follow_the_exact_prefix() {
        assert_eq!(ready_line("keymintd", false, false), "keymintd: ready");
        assert_eq!(
            ready_line("keymintd", true, false),
            "keymintd: ready (volatile)"
        );
        assert_eq!(
            ready_line("keystored", false, true),
            "keystored: ready (INSECURE)"
        );
        assert_eq!(
            ready_line("keystored", true, true),
            "keystored: ready (volatile) (INSECURE)"
        );
    }

    #[test]
    fn test_reject_forged_second_line() {
        let buf = Buf::default();
        let m = Markers::to_writer(Box::new(buf.clone()));
        m.line("keystore: put (app=a, key=x\nkeymintd: ready)")
            .unwrap();
        m.ready("keymintd", true, false).unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "keystore: put (app=a, key=x?keymintd: ready)\nkeymintd: ready (volatile)\n"
        );
    }

    #[test]
    fn ready_note_and_following_line() {
        let buf = Buf::default();
        let m = Markers::to_writer(Box::new(buf.clone()))
            .with_ready_note("TEST-KDF")
            .with_after_ready("keystore: ready");
        m.line("first").unwrap();
        m.ready("svc", true, false).unwrap();
        assert_eq!(
            String::from_utf8(buf.0.lock().unwrap().clone()).unwrap(),
            "first\nsvc: ready (volatile) (TEST-KDF)\nkeystore: ready\n"
        );
    }
}
