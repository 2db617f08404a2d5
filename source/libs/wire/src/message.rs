//! Requests and replies: the CBOR maps inside frames, parsed at the edge.
//!
//! Invariants: a [`Request`] value always has a non-zero id, an op name of
//! 1..=[`MAX_NAME_LEN`] bytes of `[A-Za-z0-9._-]` and valid [`Args`]; a
//! decoded message had exactly the documented fields, each once, with the
//! documented CBOR types, and no byte after the map. Messages in
//! [`ProtocolError`] never quote the offending input.

use crate::args::Args;
use crate::error::WireError;
use crate::scrub::scrub_value;
use crate::wiping::WipingValue;
use crate::{MAX_FRAME_LEN, MAX_NESTING};
use ciborium::Value;
use nexus_core::{Coded, ErrorCode};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::fmt;
use zeroize::Zeroizing;

/// The protocol version every request carries in `v`.
pub const PROTOCOL_VERSION: u64 = 1;

/// The longest op or argument name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The most arguments a request may carry. No operation takes more than a
/// handful; the cap keeps every per-argument check cheap.
pub const MAX_ARGS: usize = 16;

/// The most CBOR data items a request may hold (every key, value, array
/// element and tag content counts). Checked by a linear walk before the
/// body is decoded, so a frame of tiny items is refused before it costs
/// an allocation per item.
pub const MAX_REQUEST_ITEMS: usize = 1024;

/// Whether `s` is a valid op or argument name: 1..=[`MAX_NAME_LEN`]
/// bytes of `[A-Za-z0-9._-]`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Why a frame body is not a valid message. Every variant is `EINVAL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The body is not one well-formed CBOR item.
    #[error("frame is not valid CBOR")]
    BadCbor,
    /// Arrays, maps or tags nest deeper than [`MAX_NESTING`].
    #[error("CBOR nests too deeply")]
    TooDeep,
    /// Bytes follow the CBOR item inside the frame.
    #[error("bytes after the CBOR item in the frame")]
    TrailingBytes,
    /// The item is not a map.
    #[error("message is not a CBOR map")]
    NotMap,
    /// A key of the message map is not a text string.
    #[error("message key is not a text string")]
    NonTextKey,
    /// The message map has a key the protocol does not define.
    #[error("message has an unknown field")]
    UnknownField,
    /// A field appears twice.
    #[error("field `{0}` appears twice")]
    DuplicateField(&'static str),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field has the wrong CBOR type.
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    /// `v` is not a version this implementation speaks.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// A request id of 0 (reserved for replies to unreadable requests).
    #[error("request id must not be 0")]
    ZeroId,
    /// The op is not 1..=64 bytes of `[A-Za-z0-9._-]`.
    #[error("op must be 1..=64 bytes of [A-Za-z0-9._-]")]
    BadOp,
    /// An argument name is invalid or given twice.
    #[error("malformed argument name")]
    BadArgName,
    /// The request holds more than [`MAX_REQUEST_ITEMS`] CBOR data items.
    #[error("request has more than {} CBOR items", MAX_REQUEST_ITEMS)]
    TooManyItems,
    /// The request's `args` map has more than [`MAX_ARGS`] entries.
    #[error("request has more than {} arguments", MAX_ARGS)]
    TooManyArgs,
    /// A reply has both `ok` and `err`, or neither.
    #[error("reply must hold exactly one of `ok` and `err`")]
    BadOutcome,
    /// A reply's error code is not one of the documented codes.
    #[error("unknown error code in reply")]
    UnknownErrorCode,
    /// The encoded message would exceed [`MAX_FRAME_LEN`].
    #[error("message exceeds the frame limit")]
    TooLarge,
    /// The CBOR encoder failed.
    #[error("message could not be encoded")]
    Encode,
}

impl Coded for ProtocolError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// A request that could not be parsed, with the id to answer under (0 when
/// the id itself could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRequest {
    /// The id to put in the error reply.
    pub id: u64,
    /// What was wrong.
    pub error: ProtocolError,
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for BadRequest {}

impl Coded for BadRequest {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// A parsed request. Its `Debug` shows the id, the op and the argument
/// names, never their values (they may be passwords or auth secrets).
#[derive(Clone, PartialEq)]
pub struct Request {
    id: u64,
    op: String,
    args: Args,
}

impl Request {
    /// A request, validated as the decoder would.
    pub fn new(id: u64, op: &str, args: Args) -> Result<Request, ProtocolError> {
        if id == 0 {
            return Err(ProtocolError::ZeroId);
        }
        if !valid_name(op) {
            return Err(ProtocolError::BadOp);
        }
        Ok(Request {
            id,
            op: op.to_owned(),
            args,
        })
    }

    /// The caller-chosen id, echoed in the reply.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The operation name.
    pub fn op(&self) -> &str {
        &self.op
    }

    /// The arguments.
    pub fn args(&self) -> &Args {
        &self.args
    }
}

/// A parsed reply. Its `Debug` shows the id and the error, never an `ok`
/// value (it may be a plaintext or a vault value).
#[derive(Clone, PartialEq)]
pub struct Reply {
    /// The id of the request answered (0: the request was unreadable).
    pub id: u64,
    /// The value or the error.
    pub outcome: Result<Value, WireError>,
}

/// Decode one CBOR item; whether bytes follow it. A body that fails to
/// decode leaves no unwiped partial value behind (see [`crate::wiping`]).
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("op", &self.op)
            .field("args", &self.args)
            .finish()
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome: Result<&str, &WireError> = match &self.outcome {
            Ok(_) => Ok("<value not shown>"),
            Err(e) => Err(e),
        };
        f.debug_struct("Reply")
            .field("id", &self.id)
            .field("outcome", &outcome)
            .finish()
    }
}

pub(crate) fn decode_value(body: &[u8]) -> Result<(Value, bool), ProtocolError> {
    let mut rest = body;
    let WipingValue(value) = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_NESTING)
        .map_err(|e| match e {
            ciborium::de::Error::RecursionLimitExceeded => ProtocolError::TooDeep,
            _ => ProtocolError::BadCbor,
        })?;
    Ok((value, !rest.is_empty()))
}

/// Like [`fields`], but borrowing the values in place (so that whatever
/// is not taken can be wiped by the caller).
fn fields_mut<'a, const N: usize>(
    map: &'a mut [(Value, Value)],
    names: [&'static str; N],
) -> Result<[Option<&'a mut Value>; N], ProtocolError> {
    let mut out: [Option<&'a mut Value>; N] = std::array::from_fn(|_| None);
    for (k, v) in map.iter_mut() {
        let Value::Text(k) = k else {
            return Err(ProtocolError::NonTextKey);
        };
        let i = names
            .iter()
            .position(|n| *n == k.as_str())
            .ok_or(ProtocolError::UnknownField)?;
        let (Some(slot), Some(name)) = (out.get_mut(i), names.get(i)) else {
            return Err(ProtocolError::UnknownField);
        };
        if slot.replace(v).is_some() {
            return Err(ProtocolError::DuplicateField(name));
        }
    }
    Ok(out)
}

/// Split a message map into the values of `fields` (in that order),
/// refusing non-text keys, unknown keys and duplicates.
pub(crate) fn fields<const N: usize>(
    mut map: Vec<(Value, Value)>,
    names: [&'static str; N],
) -> Result<[Option<Value>; N], ProtocolError> {
    let found = fields_mut(&mut map, names)?;
    Ok(found.map(|v| v.map(|v| std::mem::replace(v, Value::Null))))
}

fn uint(v: Option<&Value>, name: &'static str) -> Result<u64, ProtocolError> {
    let v = v.ok_or(ProtocolError::MissingField(name))?;
    v.as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(ProtocolError::WrongType(name))
}

/// The id of a request map, if it has exactly one `id` that is a non-zero
/// unsigned integer: the id an error reply can be sent under.
fn readable_id(map: &[(Value, Value)]) -> u64 {
    let mut ids = map
        .iter()
        .filter(|(k, _)| k.as_text() == Some("id"))
        .map(|(_, v)| v.as_integer().and_then(|i| u64::try_from(i).ok()));
    match (ids.next(), ids.next()) {
        (Some(Some(id)), None) => id,
        _ => 0,
    }
}

/// Parse a request frame body. Whatever a failed parse decoded (it may
/// hold a password) is wiped before the error is returned; so is the
/// envelope of a successful one.
pub fn decode_request(body: &[u8]) -> Result<Request, BadRequest> {
    crate::shape::check(body, MAX_REQUEST_ITEMS).map_err(|error| BadRequest { id: 0, error })?;
    let (mut value, trailing) = decode_value(body).map_err(|error| BadRequest { id: 0, error })?;
    parse_request(&mut value, trailing)
}

/// The request in a decoded body; `value` is wiped afterwards, whatever
/// the outcome (its `args` were moved out if it was accepted).
fn parse_request(value: &mut Value, trailing: bool) -> Result<Request, BadRequest> {
    let parsed = request_of(value, trailing);
    scrub_value(value);
    parsed
}

/// The request in `value`; its `args` are moved out only once everything
/// else checked out.
fn request_of(value: &mut Value, trailing: bool) -> Result<Request, BadRequest> {
    let bad = |id, error| BadRequest { id, error };
    let Value::Map(map) = value else {
        return Err(bad(0, ProtocolError::NotMap));
    };
    let id = readable_id(map);
    if trailing {
        return Err(bad(id, ProtocolError::TrailingBytes));
    }
    let [v, rid, op, args] = fields_mut(map, ["v", "id", "op", "args"]).map_err(|e| bad(id, e))?;
    let version = uint(v.as_deref(), "v").map_err(|e| bad(id, e))?;
    if version != PROTOCOL_VERSION {
        return Err(bad(id, ProtocolError::UnsupportedVersion));
    }
    let rid = uint(rid.as_deref(), "id").map_err(|e| bad(id, e))?;
    let op = match op.ok_or(ProtocolError::MissingField("op")) {
        Ok(Value::Text(op)) => op.clone(),
        Ok(_) => return Err(bad(id, ProtocolError::WrongType("op"))),
        Err(e) => return Err(bad(id, e)),
    };
    let args = match args {
        Some(Value::Map(m)) if m.len() > MAX_ARGS => {
            return Err(bad(id, ProtocolError::TooManyArgs))
        }
        Some(v @ Value::Map(_)) => std::mem::replace(v, Value::Null),
        Some(_) => return Err(bad(id, ProtocolError::WrongType("args"))),
        None => return Err(bad(id, ProtocolError::MissingField("args"))),
    };
    // `Args::from_value` wipes what it refuses; a refused `Request` drops
    // (and so wipes) its `Args`.
    let args = Args::from_value(args).map_err(|_| bad(id, ProtocolError::BadArgName))?;
    Request::new(rid, &op, args).map_err(|e| bad(id, e))
}

pub(crate) fn to_body(msg: &impl Serialize) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    let mut out = crate::scrub::SecretBuf::default();
    ciborium::ser::into_writer(msg, &mut out).map_err(|_| ProtocolError::Encode)?;
    if out.len() > MAX_FRAME_LEN {
        return Err(ProtocolError::TooLarge);
    }
    Ok(out.into_inner())
}

struct RequestOut<'a>(u64, &'a str, &'a Args);

impl Serialize for RequestOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("v", &PROTOCOL_VERSION)?;
        m.serialize_entry("id", &self.0)?;
        m.serialize_entry("op", self.1)?;
        m.serialize_entry("args", self.2)?;
        m.end()
    }
}

/// Encode a request frame body (`{v, id, op, args}`, in that order).
pub fn encode_request(id: u64, op: &str, args: &Args) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    if id == 0 {
        return Err(ProtocolError::ZeroId);
    }
    if !valid_name(op) {
        return Err(ProtocolError::BadOp);
    }
    to_body(&RequestOut(id, op, args))
}

struct ErrOut<'a>(&'a WireError);

impl Serialize for ErrOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("code", self.0.code().as_str())?;
        m.serialize_entry("msg", self.0.msg())?;
        m.end()
    }
}

struct ReplyOut<'a>(u64, Result<&'a Value, &'a WireError>);

impl Serialize for ReplyOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("id", &self.0)?;
        match self.1 {
            Ok(v) => m.serialize_entry("ok", v)?,
            Err(e) => m.serialize_entry("err", &ErrOut(e))?,
        }
        m.end()
    }
}

/// Encode a reply frame body (`{id, ok}` or `{id, err: {code, msg}}`).
/// A value too large for one frame is [`ProtocolError::TooLarge`].
pub fn encode_reply(
    id: u64,
    outcome: Result<&Value, &WireError>,
) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    to_body(&ReplyOut(id, outcome))
}

/// Parse a reply frame body. A reply that fails to parse (it may hold a
/// plaintext) is wiped before the error is returned.
pub fn decode_reply(body: &[u8]) -> Result<Reply, ProtocolError> {
    let (mut value, trailing) = decode_value(body)?;
    parse_reply(&mut value, trailing)
}

/// The reply in a decoded body; `value` is wiped afterwards, whatever the
/// outcome (its `ok` value was moved out if it was accepted).
fn parse_reply(value: &mut Value, trailing: bool) -> Result<Reply, ProtocolError> {
    let parsed = reply_of(value, trailing);
    scrub_value(value);
    parsed
}

fn reply_of(value: &mut Value, trailing: bool) -> Result<Reply, ProtocolError> {
    if trailing {
        return Err(ProtocolError::TrailingBytes);
    }
    let Value::Map(map) = value else {
        return Err(ProtocolError::NotMap);
    };
    let [id, ok, err] = fields_mut(map, ["id", "ok", "err"])?;
    let id = uint(id.as_deref(), "id")?;
    let outcome = match (ok, err) {
        (Some(v), None) => Ok(std::mem::replace(v, Value::Null)),
        (None, Some(Value::Map(e))) => {
            let [code, msg] = fields_mut(e, ["code", "msg"])?;
            let code = match code.ok_or(ProtocolError::MissingField("code"))? {
                Value::Text(c) => c
                    .parse::<ErrorCode>()
                    .map_err(|_| ProtocolError::UnknownErrorCode)?,
                _ => return Err(ProtocolError::WrongType("code")),
            };
            let msg = match msg.ok_or(ProtocolError::MissingField("msg"))? {
                Value::Text(m) => m.clone(),
                _ => return Err(ProtocolError::WrongType("msg")),
            };
            Err(WireError::new(code, msg))
        }
        (None, Some(_)) => return Err(ProtocolError::WrongType("err")),
        _ => return Err(ProtocolError::BadOutcome),
    };
    Ok(Reply { id, outcome })
}

#[cfg(test)]
#[path = "tests/message.rs"]
mod tests;
