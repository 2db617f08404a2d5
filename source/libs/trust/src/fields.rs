//! Strict extraction of fields from a parsed TOML table, shared by the root
//! file, distrust entry and manifest parsers.
//!
//! Invariants: every field is taken at most once with its exact type, and
//! [`Fields::finish`] refuses any field nobody took, so unknown fields are
//! never silently ignored. Error values never echo input beyond a
//! sanitised field name.

use nexus_core::{Coded, ErrorCode};

/// A structural problem with a TOML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Not valid TOML.
    #[error("not valid TOML")]
    Syntax,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong TOML type.
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    /// An integer field is negative.
    #[error("field `{0}` is out of range")]
    OutOfRange(&'static str),
    /// A field this format does not define (name sanitised).
    #[error("unknown field `{0}`")]
    Unknown(String),
}

impl Coded for FieldError {
    fn code(&self) -> ErrorCode {
        ErrorCode::Einval
    }
}

/// Fields not yet taken from a table.
pub(crate) struct Fields {
    table: toml::Table,
}

/// Keep a name printable and short: it came from untrusted input.
fn sanitise(name: &str) -> String {
    name.chars()
        .take(32)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl Fields {
    pub(crate) fn parse(text: &str) -> Result<Self, FieldError> {
        let table = toml::from_str::<toml::Table>(text).map_err(|_| FieldError::Syntax)?;
        Ok(Fields { table })
    }

    pub(crate) fn from_table(table: toml::Table) -> Self {
        Fields { table }
    }

    fn take(&mut self, name: &'static str) -> Result<toml::Value, FieldError> {
        self.table.remove(name).ok_or(FieldError::Missing(name))
    }

    pub(crate) fn has(&self, name: &str) -> bool {
        self.table.contains_key(name)
    }

    pub(crate) fn int(&mut self, name: &'static str) -> Result<i64, FieldError> {
        match self.take(name)? {
            toml::Value::Integer(i) => Ok(i),
            _ => Err(FieldError::WrongType(name)),
        }
    }

    pub(crate) fn u64(&mut self, name: &'static str) -> Result<u64, FieldError> {
        u64::try_from(self.int(name)?).map_err(|_| FieldError::OutOfRange(name))
    }

    pub(crate) fn string(&mut self, name: &'static str) -> Result<String, FieldError> {
        match self.take(name)? {
            toml::Value::String(s) => Ok(s),
            _ => Err(FieldError::WrongType(name)),
        }
    }

    pub(crate) fn opt_string(&mut self, name: &'static str) -> Result<Option<String>, FieldError> {
        if self.has(name) {
            self.string(name).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn strings(&mut self, name: &'static str) -> Result<Vec<String>, FieldError> {
        match self.take(name)? {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(FieldError::WrongType(name)),
                })
                .collect(),
            _ => Err(FieldError::WrongType(name)),
        }
    }

    pub(crate) fn tables(&mut self, name: &'static str) -> Result<Vec<toml::Table>, FieldError> {
        match self.take(name)? {
            toml::Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::Table(t) => Ok(t),
                    _ => Err(FieldError::WrongType(name)),
                })
                .collect(),
            _ => Err(FieldError::WrongType(name)),
        }
    }

    /// Refuse whatever is left.
    pub(crate) fn finish(self) -> Result<(), FieldError> {
        match self.table.keys().next() {
            Some(k) => Err(FieldError::Unknown(sanitise(k))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_typed_fields_once() {
        let mut f = Fields::parse("a = 1\nb = \"x\"\nc = [\"p\", \"q\"]\n").unwrap();
        assert_eq!(f.u64("a"), Ok(1));
        assert_eq!(f.opt_string("b"), Ok(Some("x".into())));
        assert_eq!(f.opt_string("zz"), Ok(None));
        assert_eq!(f.strings("c"), Ok(vec!["p".into(), "q".into()]));
        assert_eq!(f.u64("a"), Err(FieldError::Missing("a")));
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn test_reject_bad_fields() {
        assert!(matches!(Fields::parse("a = "), Err(FieldError::Syntax)));
        assert!(matches!(
            Fields::parse("a = 1\na = 2"),
            Err(FieldError::Syntax)
        ));
        let mut f = Fields::parse("a = -1\nb = 2\nc = [1]\n\"\\u001b[31m\" = 0").unwrap();
        assert_eq!(f.u64("a"), Err(FieldError::OutOfRange("a")));
        assert_eq!(f.string("b"), Err(FieldError::WrongType("b")));
        assert_eq!(f.strings("c"), Err(FieldError::WrongType("c")));
        assert_eq!(f.finish(), Err(FieldError::Unknown("??31m".into())));
        assert_eq!(FieldError::Syntax.code(), ErrorCode::Einval);
    }
}
