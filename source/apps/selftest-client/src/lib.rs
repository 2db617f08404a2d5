//! selftest-client: the OS selftest app. nexus-init starts it with
//! `--selftest` after every daemon is up, as `system:selftest`, with
//! endpoints to keystored, identityd, attestd, bundlemgrd and updated on
//! its control channel (stdin). It drives the stack only through
//! nexus-keychain (and its plain service clients for bundlemgrd and
//! updated) and prints, in this order, one marker per step:
//!
//! ```text
//! SELFTEST: keystore v1.1 sign ok
//! SELFTEST: keystore v1.1 rotate ok
//! SELFTEST: keystore v1.1 seal ok
//! SELFTEST: keystore v1.1 attest ok
//! SELFTEST: keystore v1.1 vault ok
//! SELFTEST: keystore v1.1 trust ok (denials only)
//! SELFTEST: keystore v1.1 persist seeded | persist ok | persist skipped (volatile)
//! SELFTEST: keystore v1.1 done
//! ```
//!
//! The first failure prints `SELFTEST: keystore v1.1 <step> FAIL <reason>`
//! and ends the run with exit status 1; later steps do not run. After the
//! trust step the run deletes its sign key (its seal key goes in the seal
//! step); that has no marker of its own and fails as `cleanup FAIL`.
//!
//! Invariants:
//! - A marker is printed only after its step's checks all passed; nothing
//!   is assumed or pre-seeded.
//! - Durable or volatile is learnt from the services' `status` replies
//!   (all five must agree); a volatile stack never gets a persistence
//!   claim, only `persist skipped (volatile)`.
//! - Per-run names (a random run id) keep results from earlier boots on
//!   a durable stack from deciding this run; only the persistence step
//!   looks for what an earlier run left, on purpose.

#![forbid(unsafe_code)]

mod attest;
mod keys;
pub mod report;
mod trust;
mod vault;

pub use report::{Report, StepError, PREFIX};
pub use vault::Persist;

use nexus_core::Subject;
use nexus_daemon::{Config, Spec};
use nexus_keychain::{status_of, Keychain, LinkConfig, Service, ServiceClient, ServiceStatus};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The app's name (its manifest entry and its marker prefix in logs).
pub const NAME: &str = "selftest-client";

/// The subject nexus-init's manifest gives this app: what the services see.
pub const SUBJECT: &str = "system:selftest";

/// The selftest's place in the process contract: no socket, endpoints only.
pub const SPEC: Spec = Spec {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    public_socket: false,
    needs_trust_dir: false,
    upstreams: &[],
    owns: &[],
};

/// One run's identity.
#[derive(Debug, Clone)]
pub struct Run {
    /// 8 random hex digits naming this run's keys and entries.
    pub id: String,
}

/// `N` bytes from the OS RNG, wiped when dropped.
pub fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, StepError> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::getrandom(b.as_mut_slice()).map_err(|e| StepError::Local {
        what: "randomness",
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(b)
}

/// Whether the stack keeps state across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every service has a state directory.
    Durable,
    /// No service has one.
    Volatile,
}

/// Decide the mode from every service's `status`: all must agree, since a
/// half-durable stack could neither claim persistence nor rule it out.
pub fn mode_of(statuses: &[(Service, ServiceStatus)]) -> Result<Mode, StepError> {
    let volatile = statuses.iter().filter(|(_, s)| s.volatile).count();
    match volatile {
        0 if !statuses.is_empty() => Ok(Mode::Durable),
        n if n == statuses.len() && n > 0 => Ok(Mode::Volatile),
        _ => Err(StepError::Check(format!(
            "services disagree on volatility: {}",
            statuses
                .iter()
                .map(|(svc, s)| format!(
                    "{svc}={}",
                    if s.volatile { "volatile" } else { "durable" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// One step after rotate: it needs nothing from the others' results.
type StepFn<'a> = dyn Fn() -> Result<(), StepError> + 'a;

struct Stack {
    kc: Keychain,
    bundles: ServiceClient,
    updates: ServiceClient,
}

impl Stack {
    fn statuses(&self) -> Result<Vec<(Service, ServiceStatus)>, StepError> {
        let mut out = Vec::new();
        for svc in [Service::Keystored, Service::Identityd, Service::Attestd] {
            let s = self.kc.status(svc).map_err(report::at("status"))?;
            report::check(s.service == svc.name(), || {
                format!("{svc} answered status as {}", s.service)
            })?;
            out.push((svc, s));
        }
        for c in [&self.bundles, &self.updates] {
            let s = status_of(c).map_err(report::at("status"))?;
            report::check(s.service == c.service().name(), || {
                format!("{} answered status as {}", c.service(), s.service)
            })?;
            out.push((c.service(), s));
        }
        Ok(out)
    }
}

/// Run every step against `stack`, writing markers to `report`. Returns
/// whether all passed.
fn run_steps(stack: &Stack, report: &Report) -> bool {
    let run = match random::<4>() {
        Ok(b) => Run {
            id: hex::encode(b.as_slice()),
        },
        Err(e) => return fail(report, "start", &e),
    };
    let me: Subject = match SUBJECT.parse() {
        Ok(s) => s,
        Err(_) => return fail(report, "start", &StepError::Check("bad subject".into())),
    };
    let mode = match stack.statuses().and_then(|s| mode_of(&s)) {
        Ok(m) => m,
        Err(e) => return fail(report, "status", &e),
    };
    eprintln!("selftest: run {} on a {mode:?} stack", run.id);
    let kc = &stack.kc;
    let sign_key = match keys::sign(kc, &run) {
        Ok(k) => k,
        Err(e) => return fail(report, "sign", &e),
    };
    if !ok(report, "sign", None) {
        return false;
    }
    let primary = match keys::rotate(kc, &sign_key) {
        Ok(k) => k,
        Err(e) => return fail(report, "rotate", &e),
    };
    if !ok(report, "rotate", None) {
        return false;
    }
    let steps: [(&str, Option<&str>, &StepFn); 4] = [
        ("seal", None, &|| keys::seal(kc, &run)),
        ("attest", None, &|| {
            attest::attest(kc, &sign_key, &primary, &me)
        }),
        ("vault", None, &|| vault::vault(kc, &run)),
        ("trust", Some("denials only"), &|| {
            trust::trust(kc, &stack.bundles, &stack.updates, &sign_key)
        }),
    ];
    for (step, note, f) in steps {
        match f() {
            Ok(()) => {
                if !ok(report, step, note) {
                    return false;
                }
            }
            Err(e) => return fail(report, step, &e),
        }
    }
    // The sign key served every step that needed it: delete it. No marker
    // of its own; a failure is `cleanup FAIL`.
    if let Err(e) = keys::delete(kc, &sign_key.name) {
        return fail(report, "cleanup", &e);
    }
    let persist_line = match mode {
        Mode::Volatile => format!("{PREFIX} persist skipped (volatile)"),
        Mode::Durable => match vault::persist(kc) {
            Ok(Persist::Seeded) => format!("{PREFIX} persist seeded"),
            Ok(Persist::Found) => format!("{PREFIX} persist ok"),
            Err(e) => return fail(report, "persist", &e),
        },
    };
    line(report, &persist_line) && line(report, &format!("{PREFIX} done"))
}

fn line(report: &Report, text: &str) -> bool {
    match report.line(text) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("selftest: cannot write a marker: {e}");
            false
        }
    }
}

fn ok(report: &Report, step: &str, note: Option<&str>) -> bool {
    line(report, &report::ok_line(step, note))
}

fn fail(report: &Report, step: &str, err: &StepError) -> bool {
    eprintln!("selftest: {step} failed: {err}");
    line(report, &report::fail_line(step, err));
    false
}

/// The whole app: parse the common command line (which requires
/// `--control-stdin`), read endpoints from stdin, run the steps. Exit
/// status 0 only if every step passed.
pub fn main_entry() -> ExitCode {
    let config = match Config::parse(&SPEC, std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let report = Report::stdout();
    let link = LinkConfig::default();
    let kc = match Keychain::from_control_channel(std::io::stdin(), link.clone()) {
        Ok(kc) => kc,
        Err(e) => {
            let err = StepError::Local {
                what: "control channel",
                source: e,
            };
            fail(&report, "start", &err);
            return ExitCode::FAILURE;
        }
    };
    let Some(feed) = kc.feed().cloned() else {
        fail(
            &report,
            "start",
            &StepError::Check("no endpoint feed".into()),
        );
        return ExitCode::FAILURE;
    };
    eprintln!(
        "selftest: started ({}; endpoints from the control channel)",
        if config.is_volatile() {
            "--volatile"
        } else {
            "--state"
        }
    );
    let stack = Stack {
        kc,
        bundles: ServiceClient::over_feed(Service::Bundlemgrd, feed.clone(), link.clone()),
        updates: ServiceClient::over_feed(Service::Updated, feed, link),
    };
    if run_steps(&stack, &report) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(svc: Service, volatile: bool) -> (Service, ServiceStatus) {
        (
            svc,
            ServiceStatus {
                service: svc.name().into(),
                volatile,
                insecure: false,
                version: "0.1.0".into(),
                damaged: Vec::new(),
            },
        )
    }

    #[test]
    fn mode_comes_from_every_status() {
        let all = |v| Service::ALL.map(|s| st(s, v)).to_vec();
        assert_eq!(mode_of(&all(false)).unwrap(), Mode::Durable);
        assert_eq!(mode_of(&all(true)).unwrap(), Mode::Volatile);
    }

    #[test]
    fn test_reject_mixed_or_missing_modes() {
        let mut mixed = Service::ALL.map(|s| st(s, false)).to_vec();
        mixed[4].1.volatile = true;
        let e = mode_of(&mixed).unwrap_err();
        assert!(e.to_string().contains("updated=volatile"), "{e}");
        assert!(mode_of(&[]).is_err());
    }

    #[test]
    fn random_draws_differ() {
        let a = random::<16>().unwrap();
        let b = random::<16>().unwrap();
        assert_ne!(*a, *b);
    }
}
