//! The damaged records a daemon knows of, and how its `status` reply says
//! so.
//!
//! A daemon's libraries report what they found unusable through
//! [`Damage`] (a [`DamageSink`]); the daemon keeps serving. Each record is
//! said once on stderr (the console under nexus-init) when it is first
//! found damaged, and once more when it is usable again. Every `status`
//! reply the daemon sends carries the damaged records' paths in its
//! `damaged` field ([`WithDamage`] fills it in around any handler), so
//! `nx status` can show them without knowing which service holds what.
//!
//! Invariants: the list is exactly the union of what each scope last
//! reported; a reply without damage is byte for byte the reply the
//! handler gave (no `damaged` field).

use nexus_core::{DamageSink, DamagedRecord};
use nexus_proto::{self as proto, Op, Status};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use wire::{CallContext, Handler, Request, Value, WireError};

/// The damaged records of one daemon. Cheap to clone; clones share the
/// list.
#[derive(Debug, Clone)]
pub struct Damage {
    service: &'static str,
    scopes: Arc<Mutex<BTreeMap<String, Vec<DamagedRecord>>>>,
}

/// Names and reasons come from files: keep them on one printable line.
fn printable(s: &str) -> String {
    s.chars()
        .take(300)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl Damage {
    /// An empty list for `service` (the name its console lines start
    /// with).
    pub fn new(service: &'static str) -> Self {
        Damage {
            service,
            scopes: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    /// Every damaged record's path, sorted, each once.
    pub fn paths(&self) -> Vec<String> {
        let scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        let set: BTreeSet<&str> = scopes.values().flatten().map(|r| r.path.as_str()).collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// Every damaged record, with why, sorted by path.
    pub fn records(&self) -> Vec<DamagedRecord> {
        let scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<DamagedRecord> = scopes.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

impl DamageSink for Damage {
    fn set_damaged(&self, scope: &str, records: &[DamagedRecord]) {
        let mut scopes = self.scopes.lock().unwrap_or_else(PoisonError::into_inner);
        let before = scopes.remove(scope).unwrap_or_default();
        let svc = self.service;
        for r in records.iter().filter(|r| !before.contains(r)) {
            eprintln!(
                "{svc}: damaged record {}: {} (operations that need it fail with EIO)",
                printable(&r.path),
                printable(&r.reason)
            );
        }
        for r in before
            .iter()
            .filter(|b| !records.iter().any(|r| r.path == b.path))
        {
            eprintln!("{svc}: record {} is usable again", printable(&r.path));
        }
        if !records.is_empty() {
            scopes.insert(scope.to_owned(), records.to_vec());
        }
    }
}

/// A handler whose `status` replies carry the daemon's damaged records.
pub struct WithDamage<H> {
    inner: H,
    damage: Damage,
}

impl<H> WithDamage<H> {
    /// `inner`, reporting `damage` in its `status` replies.
    pub fn new(inner: H, damage: Damage) -> Self {
        WithDamage { inner, damage }
    }
}

impl<H: Handler> Handler for WithDamage<H> {
    fn handle(&self, ctx: &CallContext, req: &Request) -> Result<Value, WireError> {
        let ok = self.inner.handle(ctx, req)?;
        if req.op() != Status::NAME {
            return Ok(ok);
        }
        let damaged = self.damage.paths();
        if damaged.is_empty() {
            return Ok(ok);
        }
        let mut reply = proto::decode_reply::<Status>(ok).map_err(|e| {
            WireError::new(
                nexus_core::ErrorCode::Eio,
                format!("status reply malformed: {e}"),
            )
        })?;
        reply.damaged = Some(damaged);
        proto::encode_reply::<Status>(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: &str) -> DamagedRecord {
        DamagedRecord::new(p, "checksum mismatch")
    }

    #[test]
    fn scopes_replace_their_own_records_only() {
        let d = Damage::new("svc");
        d.set_damaged("trust", &[rec("state:/trust/b"), rec("state:/trust/a")]);
        d.set_damaged("bundle:x", &[rec("state:/apps/x/installed")]);
        assert_eq!(
            d.paths(),
            [
                "state:/apps/x/installed",
                "state:/trust/a",
                "state:/trust/b"
            ]
        );
        d.set_damaged("trust", &[rec("state:/trust/a")]);
        assert_eq!(d.paths(), ["state:/apps/x/installed", "state:/trust/a"]);
        d.set_damaged("bundle:x", &[]);
        d.set_damaged("trust", &[]);
        assert!(d.paths().is_empty() && d.records().is_empty());
    }

    #[test]
    fn a_record_two_scopes_report_is_listed_once() {
        let d = Damage::new("svc");
        d.set_damaged("one", &[rec("state:/r")]);
        d.set_damaged("two", &[rec("state:/r")]);
        assert_eq!(d.paths(), ["state:/r"]);
        d.set_damaged("one", &[]);
        assert_eq!(d.paths(), ["state:/r"]);
    }

    #[test]
    fn test_reject_control_characters_in_console_lines() {
        assert_eq!(printable("a\nb\x1b[2J"), "a?b?[2J");
    }
}
