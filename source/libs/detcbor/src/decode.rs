//! The strict validator: decodes received bytes only if they are already in
//! core deterministic form.
//!
//! Invariants kept for every accepted input:
//! - every head is in its shortest form and every length is definite;
//! - every map's keys are strictly increasing in bytewise order of their
//!   encodings (which also rules out duplicates);
//! - exactly one data item, no trailing bytes;
//! - no float, `undefined`, other simple value, or bignum tag;
//! - size, nesting depth and item count within [`Limits`], checked before
//!   any allocation or recursion they would cause.
//!
//! Together these mean `encode(check_deterministic(b)?) == b`.

use crate::head::{self, min_arg_for_width};
use crate::{DetCborError, Integer, Limits, Value};
use std::cmp::Ordering;

/// Validate and decode `bytes` under [`Limits::DEFAULT`].
pub fn check_deterministic(bytes: &[u8]) -> Result<Value, DetCborError> {
    check_deterministic_with(bytes, &Limits::DEFAULT)
}

/// Validate and decode `bytes` under `limits`.
pub fn check_deterministic_with(bytes: &[u8], limits: &Limits) -> Result<Value, DetCborError> {
    if bytes.len() > limits.max_input_len {
        return Err(DetCborError::TooLarge);
    }
    let mut d = Decoder {
        input: bytes,
        pos: 0,
        items: 0,
        limits,
    };
    let value = d.item(0)?;
    if d.pos != bytes.len() {
        return Err(DetCborError::TrailingBytes);
    }
    Ok(value)
}

struct Decoder<'a, 'l> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    limits: &'l Limits,
}

impl<'a> Decoder<'a, '_> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DetCborError> {
        let end = self.pos.checked_add(n).ok_or(DetCborError::Truncated)?;
        let s = self
            .input
            .get(self.pos..end)
            .ok_or(DetCborError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, DetCborError> {
        let b = *self.input.get(self.pos).ok_or(DetCborError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Read the argument that follows an initial byte with additional info
    /// `ai` (for major types 0..=6), refusing non-shortest and indefinite
    /// forms.
    fn argument(&mut self, major: u8, ai: u8) -> Result<u64, DetCborError> {
        let arg = match ai {
            0..=23 => return Ok(u64::from(ai)),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.array::<2>()?)),
            26 => u64::from(u32::from_be_bytes(self.array::<4>()?)),
            27 => u64::from_be_bytes(self.array::<8>()?),
            31 if matches!(major, head::BYTES | head::TEXT | head::ARRAY | head::MAP) => {
                return Err(DetCborError::IndefiniteLength)
            }
            _ => return Err(DetCborError::Malformed),
        };
        if arg < min_arg_for_width(ai) {
            return Err(DetCborError::NonShortest);
        }
        Ok(arg)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DetCborError> {
        let s = self.take(N)?;
        s.try_into().map_err(|_| DetCborError::Truncated)
    }

    /// A length argument as usize, refused (as truncation) if it claims more
    /// bytes than remain: nothing is allocated for a lie.
    fn length(&self, arg: u64, min_bytes_each: usize) -> Result<usize, DetCborError> {
        let n = usize::try_from(arg).map_err(|_| DetCborError::Truncated)?;
        if n.saturating_mul(min_bytes_each) > self.remaining() {
            return Err(DetCborError::Truncated);
        }
        Ok(n)
    }

    fn enter(&self, depth: usize) -> Result<usize, DetCborError> {
        let inner = depth.saturating_add(1);
        if inner > self.limits.max_depth {
            return Err(DetCborError::DepthExceeded);
        }
        Ok(inner)
    }

    fn item(&mut self, depth: usize) -> Result<Value, DetCborError> {
        self.items = self.items.saturating_add(1);
        if self.items > self.limits.max_items {
            return Err(DetCborError::TooManyItems);
        }
        let initial = self.byte()?;
        let major = initial >> 5;
        let ai = initial & 0x1f;
        if major == head::SIMPLE {
            return simple(ai);
        }
        let arg = self.argument(major, ai)?;
        match major {
            head::UINT => Ok(Value::Integer(Integer::from(arg))),
            head::NINT => {
                let n = -1 - i128::from(arg);
                Integer::try_from(n)
                    .map(Value::Integer)
                    .map_err(|_| DetCborError::Malformed)
            }
            head::BYTES => {
                let n = self.length(arg, 1)?;
                Ok(Value::Bytes(self.take(n)?.to_vec()))
            }
            head::TEXT => {
                let n = self.length(arg, 1)?;
                let s =
                    std::str::from_utf8(self.take(n)?).map_err(|_| DetCborError::InvalidUtf8)?;
                Ok(Value::Text(s.to_owned()))
            }
            head::ARRAY => {
                let inner = self.enter(depth)?;
                let n = self.length(arg, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(inner)?);
                }
                Ok(Value::Array(items))
            }
            head::MAP => {
                let inner = self.enter(depth)?;
                let n = self.length(arg, 2)?;
                self.map(n, inner)
            }
            // Only TAG is left among majors 0..=6.
            _ => {
                if head::BIGNUM_TAGS.contains(&arg) {
                    return Err(DetCborError::UnsupportedTag);
                }
                let inner = self.enter(depth)?;
                let content = self.item(inner)?;
                Ok(Value::Tag(arg, Box::new(content)))
            }
        }
    }

    fn map(&mut self, n: usize, depth: usize) -> Result<Value, DetCborError> {
        let mut entries = Vec::with_capacity(n);
        let mut prev_key: Option<&'a [u8]> = None;
        for _ in 0..n {
            let start = self.pos;
            let key = self.item(depth)?;
            // The key was just validated as deterministic, so its raw bytes
            // are its canonical encoding: comparing them is the §4.2.1 rule.
            let key_bytes = self
                .input
                .get(start..self.pos)
                .ok_or(DetCborError::Truncated)?;
            if let Some(prev) = prev_key {
                match prev.cmp(key_bytes) {
                    Ordering::Less => {}
                    Ordering::Equal => return Err(DetCborError::DuplicateKey),
                    Ordering::Greater => return Err(DetCborError::UnsortedKeys),
                }
            }
            prev_key = Some(key_bytes);
            let value = self.item(depth)?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// Major type 7: only `false`, `true` and `null` are part of this codec.
fn simple(ai: u8) -> Result<Value, DetCborError> {
    match ai {
        20 => Ok(Value::Bool(false)),
        21 => Ok(Value::Bool(true)),
        22 => Ok(Value::Null),
        // 0..=19 unassigned, 23 undefined, 24 one-byte simple values.
        0..=19 | 23 | 24 => Err(DetCborError::UnsupportedSimple),
        25..=27 => Err(DetCborError::Float),
        // 28..=30 reserved; 31 is a break outside any indefinite item.
        _ => Err(DetCborError::Malformed),
    }
}
