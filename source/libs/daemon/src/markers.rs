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
        }
    }

    /// Write one marker line and flush it.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut clean: String = text
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        clean.push('\n');
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(clean.as_bytes())?;
        out.flush()
    }

    /// Write the ready marker of `svc`.
    pub fn ready(&self, svc: &str, volatile: bool, insecure: bool) -> io::Result<()> {
        self.line(&ready_line(svc, volatile, insecure))
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
}
