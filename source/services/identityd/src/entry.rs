//! identityd's process life: nexus-daemon's life cycle, plus the one flag
//! of its own, `--kdf-test-params`.
//!
//! `--kdf-test-params` (TEST ONLY) makes new users' and new passwords'
//! Argon2id parameters [`KdfParams::INSECURE_TEST`] (8 KiB, 1 pass)
//! instead of [`KdfParams::PRODUCTION`] (64 MiB, 3 passes), so that test
//! suites can create users and log in quickly. Passwords hashed that way
//! can be guessed cheaply: never use it with real credentials. The flag is
//! taken off the command line before the common flags are parsed (it
//! works as an extra argument in nexus-init's manifest), and it is said in
//! the ready marker: `identityd: ready (TEST-KDF)`, after any other
//! suffix. There is no environment variable for it, so it cannot be
//! switched on by inheritance.
//!
//! Invariant: stdout carries markers only; the only change made to them is
//! the note on the ready line.

use crate::{build, SPEC};
use identity::KdfParams;
use nexus_daemon::Markers;
use std::ffi::OsString;
use std::process::ExitCode;

/// The flag that selects the test KDF parameters.
pub const KDF_TEST_FLAG: &str = "--kdf-test-params";

/// The ready-marker note saying so (printed as ` (TEST-KDF)`).
pub const KDF_TEST_NOTE: &str = "TEST-KDF";

/// Remove [`KDF_TEST_FLAG`] from `args`; whether it was there.
pub fn take_kdf_flag(args: Vec<OsString>) -> (Vec<OsString>, bool) {
    let before = args.len();
    let rest: Vec<OsString> = args.into_iter().filter(|a| a != KDF_TEST_FLAG).collect();
    let found = rest.len() != before;
    (rest, found)
}

/// The marker writer: with `test_kdf`, the ready line says `(TEST-KDF)`.
pub fn markers(base: Markers, test_kdf: bool) -> Markers {
    if test_kdf {
        base.with_ready_note(KDF_TEST_NOTE)
    } else {
        base
    }
}

/// The whole life of the identityd process: 0 after an orderly stop, 1
/// after a fatal error, 2 for a usage error.
pub fn run() -> ExitCode {
    let (args, test_kdf) = take_kdf_flag(std::env::args_os().collect());
    let kdf = if test_kdf {
        eprintln!(
            "identityd: TEST-ONLY Argon2id parameters ({KDF_TEST_FLAG}): never for real credentials"
        );
        KdfParams::INSECURE_TEST
    } else {
        KdfParams::PRODUCTION
    };
    nexus_daemon::run_with(SPEC, args, markers(Markers::stdout(), test_kdf), |ctx| {
        build(ctx, kdf)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Write};
    use std::sync::{Arc, Mutex};

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
    fn flag_is_taken_off_and_said_in_the_ready_marker() {
        let args: Vec<OsString> = ["identityd", "--volatile", KDF_TEST_FLAG, "--run", "r"]
            .iter()
            .map(OsString::from)
            .collect();
        let (rest, found) = take_kdf_flag(args);
        assert!(found);
        assert_eq!(rest, ["identityd", "--volatile", "--run", "r"]);
        let (_, found) = take_kdf_flag(vec![OsString::from("identityd")]);
        assert!(!found);

        let buf = Buf::default();
        let m = markers(Markers::to_writer(Box::new(buf.clone())), true);
        m.ready("identityd", true, false).unwrap();
        m.line("other").unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "identityd: ready (volatile) (TEST-KDF)\nother\n");

        let buf = Buf::default();
        markers(Markers::to_writer(Box::new(buf.clone())), false)
            .ready("identityd", false, false)
            .unwrap();
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"identityd: ready\n");
    }
}
