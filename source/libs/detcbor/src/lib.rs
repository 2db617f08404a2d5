//! detcbor: RFC 8949 §4.2.1 "core deterministic encoding" over
//! [`ciborium::value::Value`].
//!
//! Two halves that keep one invariant — a value has exactly one byte form:
//! - [`encode`] writes that form: shortest integer and length heads, definite
//!   lengths only, every map's entries sorted by the bytewise lexicographic
//!   order of their *encoded keys* (so `10 < 256 < -1 < "z" < "aa"`), no
//!   duplicate keys.
//! - [`check_deterministic`] accepts received bytes only if they already are
//!   that form, with no trailing bytes and within explicit [`Limits`]. It is
//!   a small decoder of its own because general decoders (ciborium's
//!   included) accept non-deterministic input.
//!
//! Neither half supports floats, `undefined`, other simple values or the
//! bignum tags 2 and 3 (whose deterministic form needs extra rules this
//! project has no use for); they are refused with typed errors.
//!
//! Note: a `BTreeMap` order, Python cbor2's `canonical=True` and ciborium's
//! `CanonicalValue` sort length-first or numerically (RFC 7049 §3.9 style);
//! that is not §4.2.1 and would produce different bytes, e.g. for keys 256
//! and -1.

#![forbid(unsafe_code)]

mod decode;
mod encode;
mod head;

pub use ciborium::value::{Integer, Value};
pub use decode::{check_deterministic, check_deterministic_with};
pub use encode::{encode, encode_with};

use nexus_core::{Coded, ErrorCode};

/// Bounds on what the encoder and the validator will process. Input from a
/// peer is untrusted: these keep its cost linear and its recursion shallow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest input accepted by the validator, in bytes.
    pub max_input_len: usize,
    /// Deepest nesting of arrays, maps and tags (a scalar at top level has
    /// depth 0; `[[1]]` has depth 2).
    pub max_depth: usize,
    /// Most data items in one input (every key, value, element and tag
    /// content counts as one).
    pub max_items: usize,
}

impl Limits {
    /// The defaults: the largest wire frame (1 MiB), depth 16, and
    /// 65 536 items.
    pub const DEFAULT: Limits = Limits {
        max_input_len: 1 << 20,
        max_depth: 16,
        max_items: 65_536,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why a value cannot be encoded, or why bytes are not deterministic CBOR.
/// Every variant maps to `EINVAL`: the data, not the system, is at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DetCborError {
    /// The input ended inside a data item (or was empty).
    #[error("truncated CBOR")]
    Truncated,
    /// Bytes follow the single top-level data item.
    #[error("trailing bytes after the CBOR item")]
    TrailingBytes,
    /// An integer, length or tag number was not in its shortest form.
    #[error("non-shortest integer or length encoding")]
    NonShortest,
    /// An indefinite-length string, array or map.
    #[error("indefinite length item")]
    IndefiniteLength,
    /// Not well-formed: reserved additional info, a stray break, or an
    /// indefinite-length head on a type that cannot have one.
    #[error("malformed CBOR")]
    Malformed,
    /// Map keys are not in bytewise order of their encodings.
    #[error("map keys not in deterministic order")]
    UnsortedKeys,
    /// Two entries of one map have the same key.
    #[error("duplicate map key")]
    DuplicateKey,
    /// A floating-point value (not used by this project's formats).
    #[error("floating-point values are not supported")]
    Float,
    /// `undefined` or an unassigned simple value.
    #[error("unsupported simple value")]
    UnsupportedSimple,
    /// A tag this codec refuses (the bignums 2 and 3).
    #[error("unsupported tag")]
    UnsupportedTag,
    /// A value kind the encoder does not know.
    #[error("unsupported value type")]
    UnsupportedType,
    /// A text string that is not valid UTF-8.
    #[error("text string is not valid UTF-8")]
    InvalidUtf8,
    /// Nesting deeper than [`Limits::max_depth`].
    #[error("nesting too deep")]
    DepthExceeded,
    /// Input longer than [`Limits::max_input_len`].
    #[error("input too large")]
    TooLarge,
    /// More data items than [`Limits::max_items`].
    #[error("too many data items")]
    TooManyItems,
}

impl Coded for DetCborError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}
