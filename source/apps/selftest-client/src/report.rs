//! The selftest's markers and its one error type.
//!
//! Invariants: a step's `ok` marker is written only by [`Report::ok`],
//! which the runner calls only after the step returned `Ok`; a failure is
//! one `FAIL` line naming the step and a one-line reason made only of op
//! names, error codes and service messages (never a secret: the selftest
//! never formats a key, plaintext, vault value or password). Lines are
//! flushed one by one, so a supervisor or a serial console sees each
//! marker as soon as it is true.

use nexus_core::{Coded, ErrorCode};
use nexus_keychain::KeychainError;
use std::io::{self, Write};
use std::sync::{Mutex, PoisonError};

/// Every marker starts with this.
pub const PREFIX: &str = "SELFTEST: keystore v1.1";

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A call failed where it had to succeed.
    #[error("{op}: {source}")]
    Call {
        /// The op (or keychain call) that failed.
        op: &'static str,
        /// What it failed with.
        #[source]
        source: KeychainError,
    },
    /// A call that had to be refused with `want` was answered otherwise.
    #[error("{op}: expected {want}, got {got}")]
    Refusal {
        /// The op.
        op: &'static str,
        /// The code the contract requires.
        want: ErrorCode,
        /// What happened instead (`success` or another code).
        got: String,
    },
    /// A reply or a token did not say what it must.
    #[error("{0}")]
    Check(String),
    /// An attestation token did not verify.
    #[error("token: {0}")]
    Token(#[from] eat::EatError),
    /// A local resource (randomness, a temporary directory) failed.
    #[error("{what}: {source}")]
    Local {
        /// Which resource.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Publishing the throw-away test artifacts failed.
    #[error("test artifact: {0}")]
    Artifact(#[from] trust::TrustError),
}

impl Coded for StepError {
    fn code(&self) -> ErrorCode {
        match self {
            StepError::Call { source, .. } => source.code(),
            StepError::Refusal { .. } | StepError::Check(_) => ErrorCode::Eio,
            StepError::Token(e) => e.code(),
            StepError::Local { .. } => ErrorCode::Eio,
            StepError::Artifact(e) => e.code(),
        }
    }
}

/// `map_err` helper: name the op a keychain call was.
pub fn at(op: &'static str) -> impl FnOnce(KeychainError) -> StepError {
    move |source| StepError::Call { op, source }
}

/// Require `cond`, else fail the step with `what`.
pub fn check(cond: bool, what: impl FnOnce() -> String) -> Result<(), StepError> {
    if cond {
        Ok(())
    } else {
        Err(StepError::Check(what()))
    }
}

/// Require that `result` is the service refusing with `want`. Returns the
/// service's message for the log.
pub fn refused<T>(
    op: &'static str,
    want: ErrorCode,
    result: Result<T, KeychainError>,
) -> Result<String, StepError> {
    match result {
        Err(KeychainError::Remote { code, msg }) if code == want => Ok(msg),
        Err(e) if e.is_transport() => Err(StepError::Call { op, source: e }),
        Err(e) => Err(StepError::Refusal {
            op,
            want,
            got: e.code().to_string(),
        }),
        Ok(_) => Err(StepError::Refusal {
            op,
            want,
            got: "success".to_owned(),
        }),
    }
}

/// Require that `result` is a refusal by the service (any code): for
/// crypto failures, whose code the contract keeps opaque. Returns the code.
pub fn any_refusal<T>(
    op: &'static str,
    result: Result<T, KeychainError>,
) -> Result<ErrorCode, StepError> {
    match result {
        Err(KeychainError::Remote { code, .. }) => Ok(code),
        Err(e) => Err(StepError::Call { op, source: e }),
        Ok(_) => Err(StepError::Refusal {
            op,
            want: ErrorCode::Eperm,
            got: "success".to_owned(),
        }),
    }
}

/// Writes marker lines.
pub struct Report {
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report").finish_non_exhaustive()
    }
}

/// One line: control characters replaced, so no reason can forge a
/// second marker line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The success marker of `step` (with an optional parenthesised note).
pub fn ok_line(step: &str, note: Option<&str>) -> String {
    match note {
        Some(n) => format!("{PREFIX} {step} ok ({})", one_line(n)),
        None => format!("{PREFIX} {step} ok"),
    }
}

/// The failure marker of `step`.
pub fn fail_line(step: &str, err: &StepError) -> String {
    format!(
        "{PREFIX} {step} FAIL {} ({})",
        one_line(&err.to_string()),
        err.code()
    )
}

impl Report {
    /// Markers to stdout.
    pub fn stdout() -> Report {
        Report::to_writer(Box::new(io::stdout()))
    }

    /// Markers to any writer.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Report {
        Report {
            out: Mutex::new(out),
        }
    }

    /// Write one marker line and flush it.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        writeln!(out, "{}", one_line(text))?;
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_lines_have_the_contract_text() {
        assert_eq!(ok_line("sign", None), "SELFTEST: keystore v1.1 sign ok");
        assert_eq!(
            ok_line("trust", Some("denials only")),
            "SELFTEST: keystore v1.1 trust ok (denials only)"
        );
        let e = StepError::Refusal {
            op: "trust.add",
            want: ErrorCode::Eperm,
            got: "success".into(),
        };
        assert_eq!(
            fail_line("trust", &e),
            "SELFTEST: keystore v1.1 trust FAIL trust.add: expected EPERM, got success (EIO)"
        );
    }

    #[test]
    fn test_reject_forged_second_line_in_a_reason() {
        let e = StepError::Check("bad\nSELFTEST: keystore v1.1 sign ok".into());
        let line = fail_line("sign", &e);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("SELFTEST: keystore v1.1 sign FAIL bad?SELFTEST"));
    }

    #[test]
    fn refusal_helpers_tell_codes_apart() {
        let remote = |code| -> Result<(), KeychainError> {
            Err(KeychainError::Remote {
                code,
                msg: "m".into(),
            })
        };
        assert_eq!(
            refused("op", ErrorCode::Eperm, remote(ErrorCode::Eperm)).unwrap(),
            "m"
        );
        let e = refused("op", ErrorCode::Eperm, remote(ErrorCode::Enoent)).unwrap_err();
        assert!(matches!(e, StepError::Refusal { .. }), "{e}");
        let e = refused("op", ErrorCode::Eperm, Ok::<(), KeychainError>(())).unwrap_err();
        assert!(e.to_string().contains("got success"), "{e}");
        assert_eq!(
            any_refusal("op", remote(ErrorCode::Eio)).unwrap(),
            ErrorCode::Eio
        );
        assert!(any_refusal("op", Ok::<(), KeychainError>(())).is_err());
    }
}
