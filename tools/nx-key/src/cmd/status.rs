//! `nx status`: every service's `status`, reachable or not, with the
//! records each reports damaged.

use crate::ctx::Ctx;
use crate::error::NxError;
use nexus_keychain::{status_of, KeychainError, Service};
use serde_json::json;

/// Run `nx status`. Prints every service; fails (after printing) with the
/// first failure, so scripts can tell a complete stack from a partial one.
pub fn run(ctx: &mut Ctx<'_>) -> Result<(), NxError> {
    let mut rows = Vec::new();
    let mut text = Vec::new();
    let mut first_failure: Option<KeychainError> = None;
    for svc in Service::ALL {
        match status_of(&ctx.service(svc)) {
            Ok(s) => {
                let mode = match (s.volatile, s.insecure) {
                    (false, false) => "",
                    (true, false) => " (volatile)",
                    (false, true) => " (INSECURE)",
                    (true, true) => " (volatile, INSECURE)",
                };
                text.push(format!("{svc}: ok {}{mode}", s.version));
                // Damaged records: the service serves, but the operations
                // that need them fail with EIO.
                text.extend(s.damaged.iter().map(|p| format!("  damaged: {p}")));
                rows.push(json!({
                    "service": svc.name(),
                    "reachable": true,
                    "volatile": s.volatile,
                    "insecure": s.insecure,
                    "version": s.version,
                    "damaged": s.damaged,
                }));
            }
            Err(e) => {
                text.push(format!("{svc}: {e}"));
                rows.push(json!({
                    "service": svc.name(),
                    "reachable": e.remote_code().is_some(),
                    "error": { "code": nexus_core::Coded::code(&e).as_str(), "msg": e.to_string() },
                }));
                first_failure.get_or_insert(e);
            }
        }
    }
    ctx.emit(json!({ "services": rows }), &text.join("\n"))?;
    match first_failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
