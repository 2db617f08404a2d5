//! `ADD_IDENTITY` (`ssh-add KEYFILE`): the private key goes into the
//! keystore with `key.import` under the agent's purpose, after which it is
//! a keystore key like any other (non-exportable, audited, listed by the
//! agent). Constraints are the agent's: a lifetime hides the key from the
//! agent when it ends; confirmation asks the configured helper before each
//! signature.
//!
//! Invariants: every constraint is checked before the key leaves the
//! agent, so a key is never imported under a constraint the agent then
//! refuses; the seed reaches [`crate::backend::KeyBackend::import_ed25519`]
//! by reference only and is zeroized when the request is done; adding a key
//! the keystore already holds under the same name (same public key) is
//! idempotent, so `ssh-add` run twice succeeds twice.

use crate::agent::{Agent, Rules};
use crate::backend::ImportError;
use crate::identities::ed25519_blob;
use crate::log;
use crate::proto::add::{AddIdentity, Unsupported};
use crate::proto::Response;
use nexus_core::{ErrorCode, IdError, Label};
use sha2::{Digest, Sha256};

/// The keystore name of an added key: its comment reduced to the label
/// charset (at most 40 bytes), then `-` and the first 8 hex digits of the
/// SHA-256 of the public key, so that the same key added twice gets the
/// same name and two keys with one comment get two.
pub fn key_name(comment: &[u8], public: &[u8; 32]) -> Result<Label, IdError> {
    let reduced: String = String::from_utf8_lossy(comment)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut stem: String = reduced
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(40)
        .collect();
    if stem.is_empty() {
        stem.push_str("key");
    }
    let digest = Sha256::digest(public);
    let tag: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    Label::new(format!("{stem}-{tag}"))
}

impl Agent {
    /// Add (import) a key.
    pub(crate) fn add(&self, add: AddIdentity<'_>) -> Response {
        let c = &add.constraints;
        if let Some(u) = c.unsupported.first() {
            log(&match u {
                Unsupported::MaxSign => {
                    "ADD_IDENTITY refused: the maximum-signatures constraint is for XMSS keys only"
                        .to_owned()
                }
                Unsupported::Extension(name) => {
                    format!("ADD_IDENTITY refused: constraint {name} is not enforced by this agent")
                }
            });
            return Response::Failure;
        }
        if c.confirm && self.config.confirm.is_none() {
            log(
                "ADD_IDENTITY refused: confirmation (ssh-add -c) asked for, but no \
                 confirmation helper is configured (--confirm-helper)",
            );
            return Response::Failure;
        }
        let Ok(name) = key_name(add.comment, &add.public) else {
            log("ADD_IDENTITY refused: no valid key name could be made from the comment");
            return Response::Failure;
        };
        let purpose = &self.config.purpose;
        let blob = ed25519_blob(&add.public);
        match self.backend.import_ed25519(purpose, &name, &add.seed) {
            Ok(created) => {
                if created.public_key.as_deref() != Some(&add.public[..]) {
                    log(&format!(
                        "ADD_IDENTITY: the keystore answered another public key for {purpose}/{name}"
                    ));
                    return Response::Failure;
                }
                log(&format!(
                    "key imported into the keystore as {purpose}/{name}"
                ));
            }
            Err(ImportError::Keychain(e)) if e.remote_code() == Some(ErrorCode::Ealready) => {
                let same = self
                    .refresh()
                    .is_some_and(|keys| keys.iter().any(|k| k.blob == blob));
                if !same {
                    log(&format!(
                        "ADD_IDENTITY refused: {purpose}/{name} exists in the keystore with another key"
                    ));
                    return Response::Failure;
                }
                log(&format!("key already in the keystore as {purpose}/{name}"));
            }
            Err(ImportError::Unavailable) => {
                log(
                    "ADD_IDENTITY refused: this keystore cannot import keys (no key.import); \
                     create a key in the keystore instead: nx ssh add-key NAME",
                );
                return Response::Failure;
            }
            Err(e) => {
                log(&format!("ADD_IDENTITY failed: key.import: {e}"));
                return Response::Failure;
            }
        }
        let rules = Rules {
            expires: self.expiry(c.lifetime),
            confirm: c.confirm,
        };
        let mut st = self.state();
        st.hidden.remove(&blob);
        if rules.expires.is_some() || rules.confirm {
            st.rules.insert(blob, rules);
        } else {
            st.rules.remove(&blob);
        }
        Response::Success
    }
}
