//! The protocol's deserializer: typed values out of decoded CBOR, with the
//! documented error messages instead of serde's.
//!
//! One deserializer serves both directions:
//! - **arguments** ([`Mode::Args`]): a request's `args` map into an op's
//!   argument struct. Errors become `wire::ArgError`s naming the argument
//!   by its path (`ident.version`): ``missing argument `X` ``,
//!   ``argument `X` must be a text string`` (a byte string, an unsigned
//!   integer, a boolean, an array of text strings, a map),
//!   ``argument `X` is invalid`` (the value has the right type but fails
//!   validation: a bad `Label`, an integer out of range, a negative one),
//!   ``unexpected argument `X` ``. `null` is never an argument value.
//! - **replies** ([`Mode::Reply`]): an `ok` value into an op's reply
//!   struct. Fields the client does not know are ignored (a newer service
//!   may add some) and `null` reads as an absent optional field.
//!
//! Invariants: an error names a path of field names, never a value (a
//! validator's own message is dropped, so nothing can echo a password);
//! unexpected arguments are reported before anything else, as the
//! hand-written checks did; byte strings are read only from byte strings.

use crate::types::TEXT_LIST;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Visitor};
use std::fmt;
use wire::{ArgError, Args, Value};

/// Which side is decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A request's arguments, at the server.
    Args,
    /// A reply's `ok` value, at the client.
    Reply,
}

/// What is wrong with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A required field is absent.
    Missing,
    /// The value has another CBOR type (the words of wire.md §5).
    WrongType(&'static str),
    /// The value has the right type but is not acceptable.
    Invalid,
    /// A field the map does not take.
    Unexpected,
}

/// A decoding failure: the path of field names to the value (empty: the
/// value being decoded itself) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeError {
    pub(crate) path: String,
    pub(crate) problem: Problem,
}

impl DeError {
    fn new(problem: Problem) -> DeError {
        DeError {
            path: String::new(),
            problem,
        }
    }

    fn wrong(word: &'static str) -> DeError {
        DeError::new(Problem::WrongType(word))
    }

    fn invalid() -> DeError {
        DeError::new(Problem::Invalid)
    }

    /// The same error, one level up: under the field `key`.
    fn under(mut self, key: &str) -> DeError {
        self.path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{key}.{}", self.path)
        };
        self
    }

    /// The argument error for a request (`EINVAL`, exact wire.md words).
    pub(crate) fn into_arg_error(self) -> ArgError {
        let name = if self.path.is_empty() {
            "args".to_owned()
        } else {
            self.path
        };
        match self.problem {
            Problem::Missing => ArgError::Missing(name),
            Problem::WrongType(expected) => ArgError::WrongType { name, expected },
            Problem::Invalid => ArgError::Invalid(name),
            Problem::Unexpected => ArgError::Unexpected(name),
        }
    }

    /// What is wrong with a reply, in words (field names only).
    pub(crate) fn reply_detail(&self) -> String {
        if self.path.is_empty() {
            return match self.problem {
                Problem::WrongType(_) => "the reply is not a map".to_owned(),
                _ => "the reply is malformed".to_owned(),
            };
        }
        let p = &self.path;
        match self.problem {
            Problem::Missing => format!("`{p}` is missing"),
            Problem::WrongType(w) => format!("`{p}` is not {w}"),
            Problem::Invalid => format!("`{p}` is not valid"),
            Problem::Unexpected => format!("`{p}` is not expected"),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reply_detail())
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    /// A validator refused the value. Its message is dropped: it may
    /// quote the value.
    fn custom<T: fmt::Display>(_msg: T) -> DeError {
        DeError::invalid()
    }

    fn missing_field(field: &'static str) -> DeError {
        DeError::new(Problem::Missing).under(field)
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> DeError {
        DeError::new(Problem::Unexpected).under(field)
    }
}

/// Decode `T` from a request's arguments.
pub(crate) fn from_args<'de, T: de::Deserialize<'de>>(args: &'de Args) -> Result<T, DeError> {
    T::deserialize(ArgsDe { args })
}

/// Decode `T` from a reply's `ok` value.
pub(crate) fn from_reply<'de, T: de::Deserialize<'de>>(v: &'de Value) -> Result<T, DeError> {
    T::deserialize(ValueDe {
        v,
        mode: Mode::Reply,
    })
}

/// The root of a request: the `args` map (names already validated by the
/// wire decoder: distinct, `[A-Za-z0-9._-]`).
struct ArgsDe<'de> {
    args: &'de Args,
}

impl<'de> de::Deserializer<'de> for ArgsDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_map(StructDe::new(self.args.iter().collect(), Mode::Args))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        if let Some(extra) = self.args.names().find(|n| !fields.contains(n)) {
            return Err(DeError::new(Problem::Unexpected).under(extra));
        }
        self.deserialize_any(v)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// `deserialize_*` methods that all read one kind of CBOR value.
macro_rules! by_kind {
    ($($kind:ident: $($method:ident)+;)+) => {
        $($(
            fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
                self.$kind(v)
            }
        )+)+
    };
}

/// One CBOR value.
struct ValueDe<'de> {
    v: &'de Value,
    mode: Mode,
}

impl<'de> ValueDe<'de> {
    fn uint<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            // A negative integer has the right major type family but is out
            // of range: invalid, as the hand-written readers said.
            Value::Integer(i) => match u64::try_from(*i) {
                Ok(u) => v.visit_u64(u),
                Err(_) => Err(DeError::invalid()),
            },
            _ => Err(DeError::wrong("an unsigned integer")),
        }
    }

    fn int<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Integer(i) => match (i64::try_from(*i), u64::try_from(*i)) {
                (Ok(s), _) => v.visit_i64(s),
                (_, Ok(u)) => v.visit_u64(u),
                _ => Err(DeError::invalid()),
            },
            _ => Err(DeError::wrong("an integer")),
        }
    }

    fn text<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Text(t) => v.visit_borrowed_str(t),
            _ => Err(DeError::wrong("a text string")),
        }
    }

    fn bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Bytes(b) => v.visit_borrowed_bytes(b),
            _ => Err(DeError::wrong("a byte string")),
        }
    }

    fn seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Array(items) => v.visit_seq(SeqDe {
                items: items.iter(),
                mode: self.mode,
            }),
            _ => Err(DeError::wrong("an array")),
        }
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Integer(_) => self.int(v),
            Value::Bytes(b) => v.visit_borrowed_bytes(b),
            Value::Float(f) => v.visit_f64(*f),
            Value::Text(t) => v.visit_borrowed_str(t),
            Value::Bool(b) => v.visit_bool(*b),
            Value::Null => v.visit_unit(),
            Value::Array(_) => self.seq(v),
            Value::Map(entries) => v.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
                mode: self.mode,
            }),
            _ => Err(DeError::invalid()),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Bool(b) => v.visit_bool(*b),
            _ => Err(DeError::wrong("a boolean")),
        }
    }

    by_kind! {
        int: deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64;
        uint: deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64;
        text: deserialize_char deserialize_str deserialize_string deserialize_identifier;
        bytes: deserialize_bytes deserialize_byte_buf;
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Float(f) => v.visit_f64(*f),
            _ => Err(DeError::wrong("a number")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match (self.v, self.mode) {
            (Value::Null, Mode::Reply) => v.visit_none(),
            // An argument is given with its type or left out; `null` is of
            // no argument's type, and the inner type says which.
            _ => v.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Null => v.visit_unit(),
            _ => Err(DeError::wrong("null")),
        }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        if name == TEXT_LIST {
            let all_text = match self.v {
                Value::Array(items) => items.iter().all(Value::is_text),
                _ => false,
            };
            if !all_text {
                return Err(DeError::wrong("an array of text strings"));
            }
        }
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.seq(v)
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        self.seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        self.seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.v {
            Value::Map(entries) => v.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
                mode: self.mode,
            }),
            _ => Err(DeError::wrong("a map")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let Value::Map(pairs) = self.v else {
            return Err(DeError::wrong("a map"));
        };
        // A map inside a request holds names like the request's own: text,
        // `[A-Za-z0-9._-]`, each once. Anything else makes the whole map
        // invalid; then any name the struct does not take is unexpected.
        let mut entries: Vec<(&'de str, &'de Value)> = Vec::with_capacity(pairs.len());
        for (k, val) in pairs {
            let Value::Text(k) = k else {
                return Err(DeError::invalid());
            };
            let known = fields.contains(&k.as_str());
            if !known && self.mode == Mode::Reply {
                continue;
            }
            if !wire::valid_name(k) || entries.iter().any(|(seen, _)| *seen == k) {
                return Err(DeError::invalid());
            }
            entries.push((k, val));
        }
        if let Some((extra, _)) = entries.iter().find(|(k, _)| !fields.contains(k)) {
            return Err(DeError::new(Problem::Unexpected).under(extra));
        }
        v.visit_map(StructDe::new(entries, self.mode))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match self.v {
            Value::Text(t) => v.visit_enum(BorrowedStrDeserializer::<DeError>::new(t)),
            _ => Err(DeError::wrong("a text string")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
}

/// The fields of a struct-shaped map; a field's errors are reported under
/// its name.
struct StructDe<'de> {
    entries: std::vec::IntoIter<(&'de str, &'de Value)>,
    current: Option<(&'de str, &'de Value)>,
    mode: Mode,
}

impl<'de> StructDe<'de> {
    fn new(entries: Vec<(&'de str, &'de Value)>, mode: Mode) -> StructDe<'de> {
        StructDe {
            entries: entries.into_iter(),
            current: None,
            mode,
        }
    }
}

impl<'de> de::MapAccess<'de> for StructDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.current = Some((k, v));
        seed.deserialize(BorrowedStrDeserializer::new(k)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let (k, v) = self.current.take().ok_or_else(DeError::invalid)?;
        seed.deserialize(ValueDe { v, mode: self.mode })
            .map_err(|e| e.under(k))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// A map with keys of any type (custom claims, slot versions). Errors
/// inside it are reported for the map as a whole.
struct MapDe<'de> {
    entries: std::slice::Iter<'de, (Value, Value)>,
    value: Option<&'de Value>,
    mode: Mode,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((k, v)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(v);
        seed.deserialize(ValueDe {
            v: k,
            mode: self.mode,
        })
        .map(Some)
        .map_err(|_| DeError::invalid())
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let v = self.value.take().ok_or_else(DeError::invalid)?;
        seed.deserialize(ValueDe { v, mode: self.mode })
            .map_err(|_| DeError::invalid())
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The items of an array; an item's errors are reported for the array.
struct SeqDe<'de> {
    items: std::slice::Iter<'de, Value>,
    mode: Mode,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'de> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        match self.items.next() {
            Some(v) => seed.deserialize(ValueDe { v, mode: self.mode }).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}
