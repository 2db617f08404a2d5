//! A linear pre-check of a frame body's CBOR structure, run before the
//! body is decoded into values.
//!
//! Decoding CBOR into `ciborium::Value`s costs an allocation or two per
//! data item, about 0.2 µs each: a 1 MiB frame of one-byte items would
//! cost a daemon hundreds of milliseconds and tens of megabytes before any
//! check of the request's shape could refuse it. This walk looks only at
//! the heads of the items, allocates nothing (its stack is bounded by the
//! nesting limit) and refuses, in one pass over the bytes:
//!
//! - more than `max_items` data items (every item counts: map keys, map
//!   values, array elements, tag contents, string chunks);
//! - arrays, maps and tags nested deeper than [`MAX_NESTING`] (the root
//!   counts as one level, as in the decoder that follows);
//! - a definite length that claims more items or bytes than the rest of
//!   the body could hold (a lie in a length field), reserved additional
//!   information values, misplaced `break` codes and truncation.
//!
//! Invariants: the walk is O(body length) and never allocates on the heap;
//! when it accepts, the item count of the root item is at most `max_items`,
//! so decoding it afterwards is bounded too. It does not check what it
//! cannot check cheaply (UTF-8, simple values the decoder refuses, an odd
//! number of items in an indefinite map): the decoder that follows still
//! does. It never refuses an item the decoder would accept within the same
//! limits (one exception, harmless: the decoder reads the bignum tags 2
//! and 3 without entering a level, this walk counts every tag as one).
//! Bytes after the root item are left to the caller.

use crate::message::ProtocolError;
use crate::MAX_NESTING;

/// An open container: how many more items it holds, or none (indefinite
/// length, ended by a `break`).
#[derive(Clone, Copy)]
enum Open {
    /// A definite-length array or map (items left; a map's keys and values
    /// both count), or a tag (its one content item).
    Items(u64),
    /// An indefinite-length array or map.
    Indefinite,
    /// An indefinite-length byte (2) or text (3) string: only definite
    /// chunks of the same major type may follow, then a `break`.
    Chunks(u8),
}

impl Open {
    fn nests(self) -> bool {
        !matches!(self, Open::Chunks(_))
    }
}

struct Walk<'a> {
    body: &'a [u8],
    pos: usize,
}

impl Walk<'_> {
    fn left(&self) -> usize {
        self.body.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, ProtocolError> {
        let b = *self.body.get(self.pos).ok_or(ProtocolError::BadCbor)?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: u64) -> Result<(), ProtocolError> {
        let n = usize::try_from(n).map_err(|_| ProtocolError::BadCbor)?;
        if n > self.left() {
            return Err(ProtocolError::BadCbor);
        }
        self.pos += n;
        Ok(())
    }

    /// The argument that follows an initial byte with additional
    /// information `ai` (0..=27).
    fn argument(&mut self, ai: u8) -> Result<u64, ProtocolError> {
        let width = match ai {
            0..=23 => return Ok(u64::from(ai)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(ProtocolError::BadCbor),
        };
        let mut arg = 0u64;
        for _ in 0..width {
            arg = (arg << 8) | u64::from(self.byte()?);
        }
        Ok(arg)
    }
}

/// Walk the first CBOR item of `body` under the limits described in the
/// module documentation.
pub(crate) fn check(body: &[u8], max_items: usize) -> Result<(), ProtocolError> {
    let mut w = Walk { body, pos: 0 };
    let mut stack = [Open::Indefinite; MAX_NESTING + 1];
    let mut open = 0usize; // entries of `stack` in use
    let mut depth = 0usize; // entries that nest (arrays, maps, tags)
    let mut items = 0usize;
    loop {
        let initial = w.byte()?;
        let top = open.checked_sub(1).and_then(|i| stack.get(i).copied());
        if initial == 0xff {
            // A break ends the innermost indefinite container or string.
            match top {
                Some(o @ (Open::Indefinite | Open::Chunks(_))) => {
                    open -= 1;
                    if o.nests() {
                        depth -= 1;
                    }
                }
                _ => return Err(ProtocolError::BadCbor),
            }
        } else {
            items += 1;
            if items > max_items {
                return Err(ProtocolError::TooManyItems);
            }
            let (major, ai) = (initial >> 5, initial & 0x1f);
            if let Some(Open::Chunks(m)) = top {
                if major != m || ai == 31 {
                    return Err(ProtocolError::BadCbor);
                }
            }
            let push = if ai == 31 {
                match major {
                    2 | 3 => Some(Open::Chunks(major)),
                    4 | 5 => Some(Open::Indefinite),
                    _ => return Err(ProtocolError::BadCbor),
                }
            } else {
                let arg = w.argument(ai)?;
                match major {
                    2 | 3 => {
                        w.skip(arg)?;
                        None
                    }
                    // Every item takes at least one byte: a count the rest
                    // of the body cannot hold is a lie.
                    4 | 5 => {
                        let n = if major == 5 {
                            arg.saturating_mul(2)
                        } else {
                            arg
                        };
                        if n > w.left() as u64 {
                            return Err(ProtocolError::BadCbor);
                        }
                        if n == 0 && depth >= MAX_NESTING {
                            // Empty, yet one level deeper all the same.
                            return Err(ProtocolError::TooDeep);
                        }
                        (n > 0).then_some(Open::Items(n))
                    }
                    6 => Some(Open::Items(1)),
                    // Integers and simple values (the argument was the
                    // whole of their content; floats included).
                    _ => None,
                }
            };
            if let Some(o) = push {
                if o.nests() {
                    if depth >= MAX_NESTING {
                        return Err(ProtocolError::TooDeep);
                    }
                    depth += 1;
                }
                let slot = stack.get_mut(open).ok_or(ProtocolError::TooDeep)?;
                *slot = o;
                open += 1;
                continue;
            }
        }
        // An item is complete: count it against the containers it ends.
        loop {
            let Some(i) = open.checked_sub(1) else {
                return Ok(());
            };
            match stack.get_mut(i) {
                Some(Open::Items(n)) => {
                    *n -= 1;
                    if *n > 0 {
                        break;
                    }
                    open = i;
                    depth -= 1;
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    /// `levels` arrays, each holding the next; the innermost is empty.
    fn nested(levels: usize) -> Value {
        let mut v = Value::Array(vec![]);
        for _ in 1..levels {
            v = Value::Array(vec![v]);
        }
        v
    }

    #[test]
    fn accepts_what_the_decoder_accepts() {
        let v = Value::Map(vec![
            ("a".into(), Value::Bytes(vec![1; 300])),
            (
                "b".into(),
                Value::Array(vec![1.into(), (-5).into(), true.into()]),
            ),
            ("c".into(), Value::Tag(42, Box::new("x".into()))),
            ("d".into(), Value::Float(1.5)),
            ("e".into(), Value::Map(vec![])),
        ]);
        check(&cbor(&v), 64).unwrap();
        // Indefinite array, map and chunked strings, as the decoder accepts.
        let indef = [
            0xbf, 0x61, 0x61, 0x9f, 0x01, 0x02, 0xff, 0x61, 0x62, 0x5f, 0x41, 0x00, 0x42, 0x01,
            0x02, 0xff, 0x61, 0x63, 0x7f, 0x61, 0x78, 0xff, 0xff,
        ];
        check(&indef, 64).unwrap();
        let decoded: Value = ciborium::de::from_reader(&indef[..]).unwrap();
        assert!(decoded.is_map());
        // Exactly the nesting limit passes; one more level does not.
        check(&cbor(&nested(MAX_NESTING)), 64).unwrap();
        assert_eq!(
            check(&cbor(&nested(MAX_NESTING + 1)), 64),
            Err(ProtocolError::TooDeep)
        );
        // Trailing bytes are the caller's business.
        check(&[0x01, 0x02], 1).unwrap();
    }

    #[test]
    fn test_reject_too_many_items() {
        let v = Value::Array((0..10u64).map(Value::from).collect());
        check(&cbor(&v), 11).unwrap();
        assert_eq!(check(&cbor(&v), 10), Err(ProtocolError::TooManyItems));
        // Indefinite containers count their items as they come.
        let mut indef = vec![0x9f];
        indef.extend([0u8; 50]);
        indef.push(0xff);
        assert_eq!(check(&indef, 20), Err(ProtocolError::TooManyItems));
    }

    #[test]
    fn test_reject_lying_lengths_and_malformed_heads() {
        for bad in [
            &[0x5a, 0xff, 0xff, 0xff, 0xff, 0x00][..], // 4 GiB byte string
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^64-1 items
            &[0xba, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00], // map of 2 needs 4 bytes
            &[0x1c],                                   // reserved additional info
            &[0xff],                                   // break outside anything
            &[0x82, 0x01, 0xff],                       // break in a definite array
            &[0x5f, 0x61, 0x61, 0xff],                 // text chunk in a byte string
            &[0x5f, 0x5f, 0xff, 0xff],                 // nested indefinite chunk
            &[0x1f],                                   // indefinite integer
            &[0x82, 0x01],                             // truncated
            &[],
        ] {
            assert_eq!(
                check(bad, 1 << 20),
                Err(ProtocolError::BadCbor),
                "{bad:02x?}"
            );
        }
    }

    /// Whatever the decoder accepts (same nesting limit), the walk accepts:
    /// random mutations of valid encodings, checked both ways.
    #[test]
    fn never_refuses_what_the_decoder_accepts() {
        let seed = cbor(&Value::Map(vec![
            ("v".into(), 1.into()),
            (
                "args".into(),
                Value::Map(vec![
                    ("b".into(), Value::Bytes(vec![7; 30])),
                    (
                        "l".into(),
                        Value::Array(vec!["x".into(), Value::Null, (-300).into()]),
                    ),
                    ("t".into(), Value::Tag(9, Box::new(nested(4)))),
                ]),
            ),
        ]));
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut agreed = 0;
        for _ in 0..20_000 {
            let mut b = seed.clone();
            for _ in 0..=next() % 3 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            let decoded: Result<Value, _> =
                ciborium::de::from_reader_with_recursion_limit(&b[..], MAX_NESTING);
            if decoded.is_ok() {
                assert_eq!(check(&b, 1 << 20), Ok(()), "{b:02x?}");
                agreed += 1;
            }
        }
        assert!(agreed > 1000, "too few valid mutations: {agreed}");
    }

    #[test]
    fn tags_nest_and_strings_do_not() {
        let mut v = Value::Null;
        for _ in 0..MAX_NESTING {
            v = Value::Tag(7, Box::new(v));
        }
        check(&cbor(&v), 64).unwrap();
        let deeper = Value::Tag(7, Box::new(v));
        assert_eq!(check(&cbor(&deeper), 64), Err(ProtocolError::TooDeep));
        // Chunked strings inside the deepest level are fine.
        let mut b = cbor(&nested(MAX_NESTING - 1));
        let at = b.len() - 1;
        b.splice(at.., [0x81, 0x5f, 0x41, 0x00, 0xff]);
        check(&b, 64).unwrap();
    }
}
