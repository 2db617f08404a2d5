//! `nx audit verify` and `nx audit show`: the logic is the `auditlog`
//! crate's (chain check, filters, following); this turns it into reports.
//!
//! Invariant: `verify` fails (exit 19, `EIO`) when any chain is broken or
//! ends before its checkpoint, and names the file, line and seq of the
//! first break; nothing here needs a key.

use crate::cli::{AuditCmd, AuditScope};
use crate::ctx::Ctx;
use crate::error::NxError;
use auditlog::files;
use auditlog::show::{collect, Filter, Follower};
use auditlog::verify::{verify, Report};
use nexus_core::ErrorCode;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn audit_dir(scope: &AuditScope) -> PathBuf {
    scope.state.join("audit")
}

fn services(scope: &AuditScope) -> Result<Vec<String>, NxError> {
    if let Some(s) = &scope.service {
        if !files::valid_service(s) {
            return Err(NxError::usage(format!("`{s}` is not a service name")));
        }
        return Ok(vec![s.clone()]);
    }
    let dir = audit_dir(scope);
    match files::services(&dir) {
        Ok(s) => Ok(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(NxError::io(&dir.display().to_string(), &e)),
    }
}

fn report_json(r: &Report) -> serde_json::Value {
    json!({
        "service": r.service,
        "intact": r.is_intact(),
        "files": r.files,
        "lines": r.lines,
        "legacy_lines": r.legacy_lines,
        "first_seq": r.first_seq,
        "last_seq": r.last_seq,
        "starts_after_retention": r.starts_after_retention,
        "checkpoints_matched": r.checkpoints_matched,
        "broken": r.broken.as_ref().map(|b| json!({
            "file": b.file, "line": b.line, "seq": b.seq, "reason": b.reason,
        })),
    })
}

fn report_text(r: &Report) -> String {
    match &r.broken {
        Some(b) => format!(
            "{}: BROKEN at {} line {}{}: {}",
            r.service,
            b.file,
            b.line,
            b.seq.map_or_else(String::new, |s| format!(" (seq {s})")),
            b.reason
        ),
        None => {
            let range = match (r.first_seq, r.last_seq) {
                (Some(a), Some(b)) => format!("seq {a}..{b}"),
                _ => "no chained line".to_owned(),
            };
            let mut t = format!(
                "{}: intact, {} line(s), {range}, {} file(s)",
                r.service, r.lines, r.files
            );
            if r.checkpoints_matched > 0 {
                t.push_str(&format!(
                    ", {} checkpoint(s) matched",
                    r.checkpoints_matched
                ));
            }
            if r.starts_after_retention {
                t.push_str(", older lines removed by retention");
            }
            if r.legacy_lines > 0 {
                t.push_str(&format!(
                    ", {} old-format line(s) kept aside",
                    r.legacy_lines
                ));
            }
            t
        }
    }
}

/// Run one `nx audit` command.
pub fn run(ctx: &mut Ctx<'_>, cmd: AuditCmd) -> Result<(), NxError> {
    match cmd {
        AuditCmd::Verify { scope } => {
            let dir = audit_dir(&scope);
            let mut reports = Vec::new();
            for svc in services(&scope)? {
                let cps = statefs::checkpoints(&scope.state, &svc);
                let r = verify(&dir, &svc, &cps).map_err(|e| NxError::local("audit log", &e))?;
                reports.push(r);
            }
            if reports.is_empty() {
                return Err(NxError::Local {
                    code: ErrorCode::Enoent,
                    msg: format!("no audit log in {}", dir.display()),
                });
            }
            let text: Vec<String> = reports.iter().map(report_text).collect();
            ctx.emit(
                json!({ "logs": reports.iter().map(report_json).collect::<Vec<_>>() }),
                &text.join("\n"),
            )?;
            match reports.iter().find(|r| !r.is_intact()) {
                Some(r) => Err(NxError::Local {
                    code: ErrorCode::Eio,
                    msg: format!("the audit log of {} is broken", r.service),
                }),
                None => Ok(()),
            }
        }
        AuditCmd::Show {
            scope,
            subject,
            op,
            decision,
            since,
            until,
            follow,
        } => {
            let dir = audit_dir(&scope);
            services(&scope)?;
            let filter = Filter {
                service: scope.service.clone(),
                subject,
                op,
                decision,
                since,
                until,
            };
            let mut follower = if follow {
                Some(
                    Follower::new(&dir, filter.clone())
                        .map_err(|e| NxError::local("audit log", &e))?,
                )
            } else {
                None
            };
            for e in collect(&dir, &filter).map_err(|e| NxError::local("audit log", &e))? {
                print(ctx, &e)?;
            }
            let Some(f) = follower.as_mut() else {
                return Ok(());
            };
            loop {
                for e in f.poll().map_err(|e| NxError::local("audit log", &e))? {
                    print(ctx, &e)?;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn print(ctx: &mut Ctx<'_>, e: &auditlog::show::Entry) -> Result<(), NxError> {
    let text = if ctx.json { e.raw.clone() } else { e.to_text() };
    writeln!(ctx.io.stdout, "{text}")
        .and_then(|()| ctx.io.stdout.flush())
        .map_err(|err| NxError::io("stdout", &err))
}
