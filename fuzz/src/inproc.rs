//! Calls between the in-process daemons, as the wire would carry them:
//! [`InProc`] is a [`Call`] (what a daemon's upstream clients are) that
//! encodes the request to its frame body, decodes it with the server's
//! decoder, asks the callee's handler as the caller's subject (the one
//! nexus-init's route would give), and encodes and decodes the reply.
//! [`Purge`] is identityd's `vault.purge` route to keystored over it.
//!
//! Invariants checked on every internal hop (a failure panics, which the
//! fuzzer reports): a request a daemon builds for another fits one frame
//! and is a valid request; a reply fits one frame (otherwise the real
//! server would answer `EIO` and the work would be lost, the size-limit
//! failure the public limits exist to prevent).

use crate::pool::Pool;
use identity::{IdentityError, VaultPurge};
use nexus_core::{Coded, InstanceId, Subject, UserId};
use nexus_daemon::{Call, UpstreamError};
use nexus_proto::{self as proto, Op, VaultPurgeArgs};
use std::sync::{Arc, Mutex};
use wire::{Args, CallContext, Handler, Value, MAX_FRAME_LEN};

/// A handler shared between the daemons that call it.
pub type Shared = Arc<dyn Handler>;

/// A route from one daemon (its subject) to another's handler.
pub struct InProc {
    callee: Shared,
    service: &'static str,
    subject: Subject,
    pool: Arc<Mutex<Pool>>,
}

impl InProc {
    /// Calls to `callee` (named `service`) as `subject`; every argument
    /// and reply is also put in `pool`, so that later requests of the same
    /// input can reuse what the daemons said to each other.
    pub fn new(
        callee: Shared,
        service: &'static str,
        subject: &str,
        pool: Arc<Mutex<Pool>>,
    ) -> Self {
        InProc {
            callee,
            service,
            subject: subject.parse().expect("subject"),
            pool,
        }
    }
}

impl Call for InProc {
    fn call(&self, op: &str, args: &Args, _idempotent: bool) -> Result<Value, UpstreamError> {
        let body = wire::encode_request(1, op, args).expect("an internal request must encode");
        assert!(
            body.len() <= MAX_FRAME_LEN,
            "{} -> {op}: internal request of {} bytes exceeds the frame",
            self.service,
            body.len()
        );
        let req = wire::decode_request(&body).expect("an internal request must decode");
        self.pool.lock().expect("pool").harvest_args(req.args());
        let outcome = self
            .callee
            .handle(&CallContext::new(self.subject.clone()), &req);
        let reply = wire::encode_reply(1, outcome.as_ref()).expect("a reply must encode");
        assert!(
            reply.len() <= MAX_FRAME_LEN,
            "{op} on {}: reply of {} bytes exceeds the frame",
            self.service,
            reply.len()
        );
        let reply = wire::decode_reply(&reply).expect("a reply must decode");
        match reply.outcome {
            Ok(v) => {
                self.pool.lock().expect("pool").harvest(&v);
                Ok(v)
            }
            Err(e) => Err(UpstreamError::Remote {
                service: self.service.to_owned(),
                code: e.code(),
                msg: e.msg().to_owned(),
            }),
        }
    }
}

/// identityd's `vault.purge` to keystored (what `identityd::KeystoredPurge`
/// does over the upstream endpoint).
pub struct Purge(pub InProc);

impl VaultPurge for Purge {
    fn purge(
        &self,
        instance: InstanceId,
        legacy_user: Option<&UserId>,
    ) -> Result<(), IdentityError> {
        let args = proto::encode_args::<proto::VaultPurge>(&VaultPurgeArgs {
            instance,
            legacy_user: legacy_user.cloned(),
        })
        .map_err(|e| IdentityError::Purge {
            code: e.code(),
            msg: e.to_string(),
        })?;
        match self.0.call(proto::VaultPurge::NAME, &args, false) {
            Ok(_) => Ok(()),
            Err(e) => Err(IdentityError::Purge {
                code: e.code(),
                msg: e.to_string(),
            }),
        }
    }
}
