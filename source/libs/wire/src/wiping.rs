//! Decoding CBOR into a [`Value`] that leaves no unwiped copy behind when
//! decoding fails half-way.
//!
//! ciborium's own `Value` visitor collects array items and map entries in
//! plain vectors: when the input turns out to be malformed after a
//! password or a plaintext was decoded, those partial values are freed
//! without being wiped. [`WipingValue`] is the same visitor (the same
//! CBOR is accepted, with the same nesting limit, into the same `Value`),
//! except that every partial container sits in a [`Wiped`] guard that
//! scrubs it unless decoding completed.
//!
//! Not covered (ciborium's internals): text and byte strings longer than
//! its 4 KiB scratch buffer are assembled in a growing buffer whose
//! outgrown copies are freed unwiped, and the scratch buffer itself is on
//! the decoding thread's stack.

use crate::scrub::scrub_value;
use ciborium::Value;
use serde::de::{self, Deserialize, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess};
use std::fmt;

/// A decoded CBOR item (see the module documentation).
pub(crate) struct WipingValue(pub(crate) Value);

/// Values being collected; wiped on drop unless taken out with
/// [`Wiped::finish`].
pub(crate) struct Wiped<'a, T: Scrub>(&'a mut T);

/// What [`Wiped`] can wipe.
pub(crate) trait Scrub {
    fn scrub(&mut self);
}

impl Scrub for Vec<Value> {
    fn scrub(&mut self) {
        self.iter_mut().for_each(scrub_value);
    }
}

impl Scrub for Vec<(Value, Value)> {
    fn scrub(&mut self) {
        self.iter_mut().for_each(|(k, v)| {
            scrub_value(k);
            scrub_value(v);
        });
    }
}

impl<'a, T: Scrub + Default> Wiped<'a, T> {
    pub(crate) fn new(target: &'a mut T) -> Self {
        Wiped(target)
    }

    /// Decoding completed: hand the values over, unwiped.
    pub(crate) fn finish(self) -> T {
        let out = std::mem::take(&mut *self.0);
        drop(self);
        out
    }

    pub(crate) fn get(&mut self) -> &mut T {
        self.0
    }
}

impl<T: Scrub> Drop for Wiped<'_, T> {
    fn drop(&mut self) {
        self.0.scrub();
    }
}

struct Visitor;

macro_rules! leaf {
    ($($f:ident($t:ty)),+ $(,)?) => {
        $(fn $f<E: de::Error>(self, v: $t) -> Result<WipingValue, E> {
            Ok(WipingValue(v.into()))
        })+
    };
}

impl<'de> de::Visitor<'de> for Visitor {
    type Value = WipingValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a valid CBOR item")
    }

    leaf! {
        visit_bool(bool), visit_f32(f32), visit_f64(f64),
        visit_i8(i8), visit_i16(i16), visit_i32(i32), visit_i64(i64), visit_i128(i128),
        visit_u8(u8), visit_u16(u16), visit_u32(u32), visit_u64(u64), visit_u128(u128),
        visit_char(char), visit_str(&str), visit_borrowed_str(&'de str), visit_string(String),
        visit_bytes(&[u8]), visit_borrowed_bytes(&'de [u8]), visit_byte_buf(Vec<u8>),
    }

    fn visit_none<E: de::Error>(self) -> Result<WipingValue, E> {
        Ok(WipingValue(Value::Null))
    }

    fn visit_unit<E: de::Error>(self) -> Result<WipingValue, E> {
        Ok(WipingValue(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<WipingValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<WipingValue, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut acc: A) -> Result<WipingValue, A::Error> {
        let mut items = Vec::new();
        let mut guard = Wiped::new(&mut items);
        while let Some(WipingValue(item)) = acc.next_element()? {
            guard.get().push(item);
        }
        Ok(WipingValue(Value::Array(guard.finish())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut acc: A) -> Result<WipingValue, A::Error> {
        let mut entries = Vec::new();
        let mut guard = Wiped::new(&mut entries);
        while let Some(WipingValue(k)) = acc.next_key()? {
            // The key is in the guard before its value is decoded.
            guard.get().push((k, Value::Null));
            let WipingValue(v) = acc.next_value()?;
            if let Some(last) = guard.get().last_mut() {
                last.1 = v;
            }
        }
        Ok(WipingValue(Value::Map(guard.finish())))
    }

    /// A tag, in ciborium's representation (the variant `@@TAGGED@@`
    /// holding `(tag, item)`).
    fn visit_enum<A: EnumAccess<'de>>(self, acc: A) -> Result<WipingValue, A::Error> {
        struct Tagged;
        impl<'de> de::Visitor<'de> for Tagged {
            type Value = WipingValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a tagged CBOR item")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut acc: A) -> Result<WipingValue, A::Error> {
                let tag: u64 = acc
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("expected tag"))?;
                let WipingValue(v) = acc
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("expected val"))?;
                Ok(WipingValue(Value::Tag(tag, Box::new(v))))
            }
        }
        let (name, data): (String, _) = acc.variant()?;
        if name != "@@TAGGED@@" {
            return Err(de::Error::custom("unexpected enum"));
        }
        data.tuple_variant(2, Tagged)
    }
}

impl<'de> Deserialize<'de> for WipingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WipingValue, D::Error> {
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(bytes: &[u8]) -> (Result<Value, String>, Result<Value, String>) {
        let plain: Result<Value, _> =
            ciborium::de::from_reader_with_recursion_limit(bytes, crate::MAX_NESTING);
        let wiping: Result<WipingValue, _> =
            ciborium::de::from_reader_with_recursion_limit(bytes, crate::MAX_NESTING);
        (
            plain.map_err(|e| format!("{e:?}")),
            wiping.map(|w| w.0).map_err(|e| format!("{e:?}")),
        )
    }

    /// The same CBOR decodes to the same value, and the same malformed
    /// CBOR fails the same way, as with ciborium's own `Value`.
    #[test]
    fn decodes_exactly_as_ciborium_does() {
        let mut deep = vec![0x81u8; 40];
        deep.push(0x01);
        let corpus: Vec<Vec<u8>> = vec![
            vec![0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x82, 0x41, 0x00, 0xf6],
            vec![0xf7],
            vec![0xf0],
            vec![0xff],
            vec![0x1c],
            vec![0xf9, 0x3c, 0x00],
            vec![0xc2, 0x41, 0x01],
            vec![0xc0, 0x61, 0x61],
            vec![0xd8, 0x20, 0xc1, 0x01],
            vec![0x7f, 0x61, 0x61, 0x61, 0x62, 0xff],
            vec![0x7f, 0x41, 0x61, 0xff],
            vec![0xbf, 0x61, 0x61, 0x01, 0xff],
            vec![0x62, 0xc3, 0x28],
            vec![0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0xa1, 0x01],
            vec![0x82, 0x63, b'p', b'w', b'd'],
            deep,
        ];
        for bytes in corpus {
            let (plain, wiping) = both(&bytes);
            assert_eq!(plain, wiping, "{bytes:02x?}");
        }
    }

    #[test]
    fn an_unfinished_container_is_wiped() {
        let mut items = vec![Value::Text("hunter2".into()), Value::Bytes(vec![7; 8])];
        drop(Wiped::new(&mut items));
        assert_eq!(items, [Value::Text(String::new()), Value::Bytes(vec![])]);
        let mut entries = vec![(Value::Text("pw".into()), Value::Text("hunter2".into()))];
        let kept = Wiped::new(&mut entries).finish();
        assert_eq!(kept[0].1, Value::Text("hunter2".into()));
    }
}
