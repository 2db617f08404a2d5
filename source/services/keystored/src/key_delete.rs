//! `key.delete`: removes a key of the caller's own namespace, record and
//! every wrapped version, freeing its quota and its name.
//!
//! Invariants: the key is always in the caller's own namespace (an `app`
//! naming another is `EPERM`, audited, so a service's key is refused to
//! everyone else, `system:admin` included); the keystore then asks the
//! policy engine for `identity.key.delete` (audited) before anything is
//! removed. The console line names the key, never anything of its
//! material.

use crate::handler::Keystored;
use nexus_core::Subject;
use nexus_proto::{Empty, KeyArgs, KeyDelete, Op};
use wire::WireError;

impl Keystored {
    pub(crate) fn delete(&self, s: &Subject, a: KeyArgs) -> Result<Empty, WireError> {
        let key = self.own_key(s, KeyDelete::NAME, a.app, a.purpose, a.name)?;
        self.keys.delete(s, self.authz(), &key)?;
        eprintln!("keystored: {s} deleted key {key}");
        Ok(Empty {})
    }
}
