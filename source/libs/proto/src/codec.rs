//! Turning typed arguments and replies into wire values and back: the one
//! place every server and client crosses between the op types and
//! `wire::Args` / `wire::Value`.
//!
//! Invariants:
//! - Requests and replies are encoded by serde from the op's types, so a
//!   map's keys come in the declared (documented) order.
//! - A decoded reply's `ok` value is wiped once the typed reply is built
//!   (it may hold a plaintext or a vault value); secrets then live only in
//!   the reply's zeroizing fields.
//! - Errors name fields, never values.

use crate::de::{self, DeError};
use crate::schema::Op;
use nexus_core::{Coded, ErrorCode};
use serde::Serialize;
use wire::{ArgError, Args, Request, Value, WireError};

/// Why typed arguments could not be turned into a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// serde could not encode the value (never expected for the
    /// protocol's own types).
    #[error("the request arguments could not be encoded")]
    Encode,
}

impl Coded for EncodeError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// A reply whose `ok` value does not have the op's documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed reply to {op}: {detail}")]
pub struct ReplyError {
    /// The op answered.
    pub op: &'static str,
    /// What is wrong: a field name and the problem, never a value.
    pub detail: String,
}

impl Coded for ReplyError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Eio
    }
}

fn to_value(v: &impl Serialize) -> Option<Value> {
    Value::serialized(v).ok()
}

/// The `args` of a request for `O`.
pub fn encode_args<O: Op>(args: &O::Args) -> Result<Args, EncodeError> {
    let mut v = to_value(args).ok_or(EncodeError::Encode)?;
    if !v.is_map() {
        wire::scrub_value(&mut v);
        return Err(EncodeError::Encode);
    }
    Args::from_value(v).map_err(|_| EncodeError::Encode)
}

/// The typed arguments of a request for `O`, with the documented
/// `EINVAL` messages for anything missing, ill-typed, invalid or
/// unexpected.
pub fn decode_args<O: Op>(args: &Args) -> Result<O::Args, ArgError> {
    de::from_args(args).map_err(DeError::into_arg_error)
}

/// The `ok` value answering `O`.
pub fn encode_reply<O: Op>(reply: &O::Reply) -> Result<Value, WireError> {
    to_value(reply).ok_or_else(|| WireError::new(ErrorCode::Eio, "the reply could not be encoded"))
}

/// The typed reply to `O` from its `ok` value. The value is wiped
/// afterwards, whether or not it had the documented shape.
pub fn decode_reply<O: Op>(mut ok: Value) -> Result<O::Reply, ReplyError> {
    let out = de::from_reply::<O::Reply>(&ok).map_err(|e| ReplyError {
        op: O::NAME,
        detail: e.reply_detail(),
    });
    wire::scrub_value(&mut ok);
    out
}

/// Serve one request for `O`: decode its arguments, run `f`, encode the
/// reply. This is how every service's handler answers a known op.
pub fn serve<O: Op>(
    req: &Request,
    f: impl FnOnce(O::Args) -> Result<O::Reply, WireError>,
) -> Result<Value, WireError> {
    answer::<O>(req.args(), f)
}

/// [`serve`] for arguments already taken out of their request.
pub fn answer<O: Op>(
    args: &Args,
    f: impl FnOnce(O::Args) -> Result<O::Reply, WireError>,
) -> Result<Value, WireError> {
    let args = decode_args::<O>(args)?;
    let reply = f(args)?;
    encode_reply::<O>(&reply)
}
