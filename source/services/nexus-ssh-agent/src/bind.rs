//! `session-bind@openssh.com` (OpenSSH PROTOCOL.agent §1): ssh tells the
//! agent which host (host key) and which session (exchange hash) a
//! connection to the agent serves, signed by that host key.
//!
//! The agent verifies the host's signature over the session identifier and
//! records the binding on the connection; signatures made over that
//! connection are logged with the host key's fingerprint. Destination
//! restrictions (`ssh-add -h`), which would use the bindings to refuse a
//! signature, are not offered: keys asking for them are refused when added.
//!
//! Invariants (as OpenSSH's agent): the signature must verify (strict
//! Ed25519 verification; host keys of other types cannot be verified here
//! and the binding is refused); a session identifier is bound at most once
//! per connection; nothing more is bound after a binding for
//! authentication; at most [`MAX_BINDINGS`] per connection.

use crate::identities::fingerprint;
use crate::proto::add::ED25519;
use crate::proto::cursor::{Cursor, ParseError};
use ed25519_dalek::{Signature, VerifyingKey};
use thiserror::Error;

/// The extension's name.
pub const SESSION_BIND: &[u8] = b"session-bind@openssh.com";
/// The most bindings one connection may carry (OpenSSH's limit).
pub const MAX_BINDINGS: usize = 16;

/// One recorded binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The host key's SHA-256 fingerprint.
    pub host: String,
    /// The session identifier (exchange hash).
    pub session_id: Vec<u8>,
    /// Bound for forwarding (true) or for authentication (false).
    pub forwarding: bool,
}

/// Why a binding was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BindError {
    /// The contents are malformed.
    #[error("malformed session-bind: {0}")]
    Malformed(#[from] ParseError),
    /// A host key type this agent cannot verify.
    #[error("session-bind with a {0} host key: only ssh-ed25519 host keys are verified")]
    HostKeyType(String),
    /// The host's signature does not verify.
    #[error("session-bind signature does not verify")]
    BadSignature,
    /// This session identifier is already bound on this connection.
    #[error("session identifier already bound on this connection")]
    Duplicate,
    /// The connection was bound for authentication already.
    #[error("connection already bound for authentication")]
    AfterAuth,
    /// Too many bindings on one connection.
    #[error("more than {MAX_BINDINGS} session bindings on one connection")]
    TooMany,
}

/// Parse and verify a binding (the extension's contents).
pub fn verify(contents: &[u8]) -> Result<Binding, BindError> {
    let mut c = Cursor::new(contents);
    let host_key = c.string()?;
    let session_id = c.string()?;
    let signature = c.string()?;
    let forwarding = c.boolean()?;
    c.finish()?;

    let mut k = Cursor::new(host_key);
    let alg = k.string()?;
    if alg != ED25519 {
        return Err(BindError::HostKeyType(
            String::from_utf8_lossy(alg).into_owned(),
        ));
    }
    let public = *k.fixed::<32>("host key")?;
    k.finish()?;
    let mut s = Cursor::new(signature);
    if s.string()? != ED25519 {
        return Err(BindError::BadSignature);
    }
    let sig = Signature::from_bytes(s.fixed::<64>("signature")?);
    s.finish()?;
    let key = VerifyingKey::from_bytes(&public).map_err(|_| BindError::BadSignature)?;
    if key.is_weak() {
        return Err(BindError::BadSignature);
    }
    key.verify_strict(session_id, &sig)
        .map_err(|_| BindError::BadSignature)?;
    Ok(Binding {
        host: fingerprint(&public),
        session_id: session_id.to_vec(),
        forwarding,
    })
}

/// Record `b` on a connection that carries `bound`.
pub fn record(bound: &mut Vec<Binding>, b: Binding) -> Result<(), BindError> {
    if bound.iter().any(|x| !x.forwarding) {
        return Err(BindError::AfterAuth);
    }
    if bound.iter().any(|x| x.session_id == b.session_id) {
        return Err(BindError::Duplicate);
    }
    if bound.len() >= MAX_BINDINGS {
        return Err(BindError::TooMany);
    }
    bound.push(b);
    Ok(())
}
