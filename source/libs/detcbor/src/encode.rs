//! The deterministic encoder: one byte form per value.
//!
//! Invariant: whatever [`encode_with`] returns, [`crate::check_deterministic_with`]
//! under the same [`Limits`] accepts and decodes back to the same value (up
//! to the order of map entries, which the encoder fixes).

use crate::head::{self, write_head};
use crate::{DetCborError, Limits, Value};

/// Encode `value` in core deterministic form under [`Limits::DEFAULT`].
pub fn encode(value: &Value) -> Result<Vec<u8>, DetCborError> {
    encode_with(value, &Limits::DEFAULT)
}

/// Encode `value` in core deterministic form, refusing values the validator
/// would refuse under `limits` (depth, item count, output length).
pub fn encode_with(value: &Value, limits: &Limits) -> Result<Vec<u8>, DetCborError> {
    let mut enc = Encoder { limits, items: 0 };
    let mut out = Vec::new();
    enc.value(value, 0, &mut out)?;
    if out.len() > limits.max_input_len {
        return Err(DetCborError::TooLarge);
    }
    Ok(out)
}

struct Encoder<'l> {
    limits: &'l Limits,
    items: usize,
}

impl Encoder<'_> {
    /// A container at `depth` is allowed if its contents stay within the
    /// depth limit; checked before recursing so the stack stays bounded.
    fn enter(&self, depth: usize) -> Result<usize, DetCborError> {
        let inner = depth.saturating_add(1);
        if inner > self.limits.max_depth {
            return Err(DetCborError::DepthExceeded);
        }
        Ok(inner)
    }

    fn value(&mut self, v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), DetCborError> {
        self.items = self.items.saturating_add(1);
        if self.items > self.limits.max_items {
            return Err(DetCborError::TooManyItems);
        }
        match v {
            Value::Integer(i) => {
                let i = i128::from(*i);
                // ciborium's Integer spans exactly [-2^64, 2^64 - 1], which is
                // what major types 0 and 1 can carry; the conversions cannot
                // fail for any Integer, but stay checked.
                if i >= 0 {
                    let arg = u64::try_from(i).map_err(|_| DetCborError::UnsupportedType)?;
                    write_head(out, head::UINT, arg);
                } else {
                    let arg = u64::try_from(-1 - i).map_err(|_| DetCborError::UnsupportedType)?;
                    write_head(out, head::NINT, arg);
                }
            }
            Value::Bytes(b) => {
                write_head(out, head::BYTES, len_arg(b.len()));
                out.extend_from_slice(b);
            }
            Value::Text(s) => {
                write_head(out, head::TEXT, len_arg(s.len()));
                out.extend_from_slice(s.as_bytes());
            }
            Value::Bool(false) => out.push(head::FALSE),
            Value::Bool(true) => out.push(head::TRUE),
            Value::Null => out.push(head::NULL),
            Value::Float(_) => return Err(DetCborError::Float),
            Value::Tag(n, _) if head::BIGNUM_TAGS.contains(n) => {
                return Err(DetCborError::UnsupportedTag)
            }
            Value::Tag(n, inner) => {
                let d = self.enter(depth)?;
                write_head(out, head::TAG, *n);
                self.value(inner, d, out)?;
            }
            Value::Array(items) => {
                let d = self.enter(depth)?;
                write_head(out, head::ARRAY, len_arg(items.len()));
                for item in items {
                    self.value(item, d, out)?;
                }
            }
            Value::Map(entries) => {
                let d = self.enter(depth)?;
                self.map(entries, d, out)?;
            }
            _ => return Err(DetCborError::UnsupportedType),
        }
        Ok(())
    }

    /// Encode each entry on its own, then order by the encoded key bytes:
    /// that is the §4.2.1 rule, and it also makes duplicates adjacent.
    fn map(
        &mut self,
        entries: &[(Value, Value)],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DetCborError> {
        let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let mut kb = Vec::new();
            self.value(k, depth, &mut kb)?;
            let mut vb = Vec::new();
            self.value(v, depth, &mut vb)?;
            encoded.push((kb, vb));
        }
        encoded.sort_by(|a, b| a.0.cmp(&b.0));
        if encoded.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(DetCborError::DuplicateKey);
        }
        write_head(out, head::MAP, len_arg(encoded.len()));
        for (kb, vb) in encoded {
            out.extend_from_slice(&kb);
            out.extend_from_slice(&vb);
        }
        Ok(())
    }
}

/// A length as a head argument. usize is at most 64 bits on every target
/// Rust supports, so this widening never loses information.
fn len_arg(len: usize) -> u64 {
    len as u64
}
