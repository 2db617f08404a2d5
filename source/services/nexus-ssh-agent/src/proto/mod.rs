//! The SSH agent protocol (draft-miller-ssh-agent, now the IETF's
//! draft-ietf-sshm-ssh-agent, plus OpenSSH's PROTOCOL.agent extensions):
//! message numbers, the parsed form of every request the agent accepts,
//! and the encoding of its replies.
//!
//! A message on the socket is a `uint32` length and that many bytes; the
//! first byte is the message type. Framing is in [`crate::frame`]; this
//! module sees one whole message body at a time.
//!
//! Invariants: parsing never allocates on the strength of a length field
//! (every string is borrowed from the body and checked against what is
//! there); a request is either parsed whole, trailing bytes included, or
//! refused; secrets (a lock passphrase, an added private key) are borrowed
//! from the body (which the caller zeroizes) or copied only into
//! [`add::Ed25519Seed`], which zeroizes itself.

pub mod add;
pub mod cursor;

use add::AddIdentity;
use cursor::{put_string, Cursor, ParseError};

/// The largest message body accepted (OpenSSH's limit, `AGENT_MAX_LEN`).
/// A longer announced length closes the connection unread.
pub const MAX_MESSAGE_LEN: usize = 256 * 1024;

/// Request and reply message numbers (draft-miller-ssh-agent §6.1).
pub mod msg {
    /// Reply: the request failed.
    pub const FAILURE: u8 = 5;
    /// Reply: the request succeeded (no data).
    pub const SUCCESS: u8 = 6;
    /// Request: list the identities.
    pub const REQUEST_IDENTITIES: u8 = 11;
    /// Reply to [`REQUEST_IDENTITIES`].
    pub const IDENTITIES_ANSWER: u8 = 12;
    /// Request: sign data with a key.
    pub const SIGN_REQUEST: u8 = 13;
    /// Reply to [`SIGN_REQUEST`].
    pub const SIGN_RESPONSE: u8 = 14;
    /// Request: add a private key.
    pub const ADD_IDENTITY: u8 = 17;
    /// Request: remove one identity.
    pub const REMOVE_IDENTITY: u8 = 18;
    /// Request: remove every identity.
    pub const REMOVE_ALL_IDENTITIES: u8 = 19;
    /// Request: add a smartcard (PKCS#11) key.
    pub const ADD_SMARTCARD_KEY: u8 = 20;
    /// Request: remove a smartcard key.
    pub const REMOVE_SMARTCARD_KEY: u8 = 21;
    /// Request: lock the agent with a passphrase.
    pub const LOCK: u8 = 22;
    /// Request: unlock the agent.
    pub const UNLOCK: u8 = 23;
    /// Request: add a private key with constraints.
    pub const ADD_ID_CONSTRAINED: u8 = 25;
    /// Request: add a smartcard key with constraints.
    pub const ADD_SMARTCARD_KEY_CONSTRAINED: u8 = 26;
    /// Request: a named extension.
    pub const EXTENSION: u8 = 27;
    /// Reply: the extension failed or is not supported.
    pub const EXTENSION_FAILURE: u8 = 28;
}

/// `SIGN_REQUEST` flags that ask for an RSA signature with SHA-256 or
/// SHA-512 (§4.5.1): meaningless for Ed25519 keys, so refused.
pub const SIGN_FLAG_RSA_SHA2_256: u32 = 2;
/// See [`SIGN_FLAG_RSA_SHA2_256`].
pub const SIGN_FLAG_RSA_SHA2_512: u32 = 4;

/// A parsed request. Borrowed strings point into the message body.
pub enum Request<'a> {
    /// `REQUEST_IDENTITIES`.
    RequestIdentities,
    /// `SIGN_REQUEST`.
    Sign {
        /// The public key blob of the key to sign with.
        key_blob: &'a [u8],
        /// What to sign.
        data: &'a [u8],
        /// Signature flags.
        flags: u32,
    },
    /// `ADD_IDENTITY` / `ADD_ID_CONSTRAINED` of an Ed25519 key.
    Add(AddIdentity<'a>),
    /// `ADD_IDENTITY` / `ADD_ID_CONSTRAINED` of another key type (not
    /// parsed further: only Ed25519 keys can live in the keystore).
    AddUnsupported {
        /// The key type name, as sent.
        key_type: &'a [u8],
    },
    /// `REMOVE_IDENTITY`.
    Remove {
        /// The public key blob to remove.
        key_blob: &'a [u8],
    },
    /// `REMOVE_ALL_IDENTITIES`.
    RemoveAll,
    /// `ADD_SMARTCARD_KEY`, `REMOVE_SMARTCARD_KEY`,
    /// `ADD_SMARTCARD_KEY_CONSTRAINED`: the agent loads no PKCS#11
    /// provider, so these are refused without looking inside.
    Smartcard,
    /// `LOCK`.
    Lock {
        /// The passphrase (secret; in the zeroized message buffer).
        passphrase: &'a [u8],
    },
    /// `UNLOCK`.
    Unlock {
        /// The passphrase (secret; in the zeroized message buffer).
        passphrase: &'a [u8],
    },
    /// `EXTENSION`: its name and its contents (OpenSSH sends the contents
    /// unframed, after the name).
    Extension {
        /// The extension name.
        name: &'a [u8],
        /// Everything after the name.
        contents: &'a [u8],
    },
    /// A message type the agent does not know.
    Unknown(u8),
}

impl Request<'_> {
    /// A short name for logs (never a value from the request).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::RequestIdentities => "REQUEST_IDENTITIES",
            Request::Sign { .. } => "SIGN_REQUEST",
            Request::Add(_) | Request::AddUnsupported { .. } => "ADD_IDENTITY",
            Request::Remove { .. } => "REMOVE_IDENTITY",
            Request::RemoveAll => "REMOVE_ALL_IDENTITIES",
            Request::Smartcard => "SMARTCARD",
            Request::Lock { .. } => "LOCK",
            Request::Unlock { .. } => "UNLOCK",
            Request::Extension { .. } => "EXTENSION",
            Request::Unknown(_) => "UNKNOWN",
        }
    }
}

/// Parse one message body (type byte and contents).
pub fn parse_request(body: &[u8]) -> Result<Request<'_>, ParseError> {
    let mut c = Cursor::new(body);
    let kind = c.byte()?;
    let req = match kind {
        msg::REQUEST_IDENTITIES => Request::RequestIdentities,
        msg::SIGN_REQUEST => Request::Sign {
            key_blob: c.string()?,
            data: c.string()?,
            flags: c.u32()?,
        },
        msg::ADD_IDENTITY => add::parse(&mut c, false)?,
        msg::ADD_ID_CONSTRAINED => add::parse(&mut c, true)?,
        msg::REMOVE_IDENTITY => Request::Remove {
            key_blob: c.string()?,
        },
        msg::REMOVE_ALL_IDENTITIES => Request::RemoveAll,
        msg::ADD_SMARTCARD_KEY | msg::REMOVE_SMARTCARD_KEY | msg::ADD_SMARTCARD_KEY_CONSTRAINED => {
            c.rest();
            Request::Smartcard
        }
        msg::LOCK => Request::Lock {
            passphrase: c.string()?,
        },
        msg::UNLOCK => Request::Unlock {
            passphrase: c.string()?,
        },
        msg::EXTENSION => Request::Extension {
            name: c.string()?,
            contents: c.rest(),
        },
        other => {
            c.rest();
            Request::Unknown(other)
        }
    };
    c.finish()?;
    Ok(req)
}

/// One identity in an `IDENTITIES_ANSWER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The public key blob (`string "ssh-ed25519", string key`).
    pub key_blob: Vec<u8>,
    /// The comment.
    pub comment: String,
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `FAILURE`.
    Failure,
    /// `SUCCESS`.
    Success,
    /// `IDENTITIES_ANSWER`.
    Identities(Vec<Identity>),
    /// `SIGN_RESPONSE` with a signature blob (`string alg, string sig`).
    Signature(Vec<u8>),
    /// `EXTENSION_FAILURE`.
    ExtensionFailure,
}

impl Response {
    /// The message body (type byte and contents), without the length.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Response::Failure => vec![msg::FAILURE],
            Response::Success => vec![msg::SUCCESS],
            Response::ExtensionFailure => vec![msg::EXTENSION_FAILURE],
            Response::Identities(ids) => {
                let mut out = vec![msg::IDENTITIES_ANSWER];
                let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&n.to_be_bytes());
                for id in ids {
                    put_string(&mut out, &id.key_blob);
                    put_string(&mut out, id.comment.as_bytes());
                }
                out
            }
            Response::Signature(sig) => {
                let mut out = vec![msg::SIGN_RESPONSE];
                put_string(&mut out, sig);
                out
            }
        }
    }
}
