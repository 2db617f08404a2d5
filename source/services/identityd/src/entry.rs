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
//! the suffix on the ready line.

use crate::{build, SPEC};
use identity::KdfParams;
use nexus_daemon::{Config, Daemon, DaemonError, Markers, SignalWatcher, StopReason};
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

/// The flag that selects the test KDF parameters.
pub const KDF_TEST_FLAG: &str = "--kdf-test-params";
/// The ready-marker suffix saying so.
pub const KDF_TEST_SUFFIX: &str = " (TEST-KDF)";

/// Remove [`KDF_TEST_FLAG`] from `args`; whether it was there.
pub fn take_kdf_flag(args: Vec<OsString>) -> (Vec<OsString>, bool) {
    let before = args.len();
    let rest: Vec<OsString> = args.into_iter().filter(|a| a != KDF_TEST_FLAG).collect();
    let found = rest.len() != before;
    (rest, found)
}

/// Appends a suffix to each line starting with `trigger`.
struct SuffixTap {
    out: Box<dyn Write + Send>,
    trigger: String,
    suffix: &'static str,
    pending: Vec<u8>,
}

impl Write for SuffixTap {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let body = &line[..line.len() - 1];
            self.out.write_all(body)?;
            if body.starts_with(self.trigger.as_bytes()) {
                self.out.write_all(self.suffix.as_bytes())?;
            }
            self.out.write_all(b"\n")?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Markers to `out`; with `test_kdf`, the ready line says `(TEST-KDF)`.
pub fn markers(out: Box<dyn Write + Send>, test_kdf: bool) -> Markers {
    if !test_kdf {
        return Markers::to_writer(out);
    }
    Markers::to_writer(Box::new(SuffixTap {
        out,
        trigger: format!("{}: ready", SPEC.name),
        suffix: KDF_TEST_SUFFIX,
        pending: Vec::new(),
    }))
}

fn serve(config: Config, test_kdf: bool) -> Result<StopReason, DaemonError> {
    let control = if config.control_stdin {
        let fd = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| DaemonError::Setup {
                what: "the control channel",
                source,
            })?;
        Some(fd)
    } else {
        None
    };
    let daemon = Daemon::start_with(
        SPEC,
        config,
        control,
        markers(Box::new(io::stdout()), test_kdf),
    )?;
    let signals = SignalWatcher::start(daemon.context().shutdown().clone()).map_err(|source| {
        DaemonError::Setup {
            what: "the signal handlers",
            source,
        }
    })?;
    let kdf = if test_kdf {
        eprintln!("identityd: TEST-ONLY Argon2id parameters ({KDF_TEST_FLAG}): never for real credentials");
        KdfParams::INSECURE_TEST
    } else {
        KdfParams::PRODUCTION
    };
    let served = build(daemon.context(), kdf)
        .map_err(|e| DaemonError::Service(Box::new(e)))
        .and_then(|service| daemon.serve(service));
    signals.stop();
    served
}

/// The whole life of the identityd process: 0 after an orderly stop, 1
/// after a fatal error, 2 for a usage error.
pub fn run() -> ExitCode {
    let (args, test_kdf) = take_kdf_flag(std::env::args_os().collect());
    let config = match Config::parse(&SPEC, args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    match serve(config, test_kdf) {
        Ok(reason) => {
            eprintln!("identityd: stopped ({reason:?})");
            ExitCode::from(reason.exit_status())
        }
        Err(e) => {
            eprintln!("identityd: fatal: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let m = markers(Box::new(buf.clone()), true);
        m.ready("identityd", true, false).unwrap();
        m.line("other").unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "identityd: ready (volatile) (TEST-KDF)\nother\n");

        let buf = Buf::default();
        markers(Box::new(buf.clone()), false)
            .ready("identityd", false, false)
            .unwrap();
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"identityd: ready\n");
    }
}
