//! One line of an audit log: the chain fields, checks, and parsing.
//!
//! A chained line is `{"seq":<n>,"prev":"<64 hex>",<producer's fields>}\n`
//! where `prev` is the hex SHA-256 of the previous line's bytes (newline
//! included), or 64 zeros for line 0. The two chain fields come first and
//! in this order, so a reader finds them without a JSON parser and a
//! producer that must authenticate a line (a state root's MAC) can build it
//! whole, prefix included, before it is written.

use crate::AuditError;
use sha2::{Digest, Sha256};

/// `prev` of the first line of a chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The longest line accepted (a decision line is about 200 bytes).
pub const MAX_LINE: usize = 16 * 1024;

/// SHA-256 of a line's bytes (newline included): the next line's `prev`.
pub fn hash(line: &[u8]) -> [u8; 32] {
    Sha256::digest(line).into()
}

/// The chain prefix of line `seq`: `{"seq":<seq>,"prev":"<hex>",`.
pub fn prefix(seq: u64, prev: &[u8; 32]) -> String {
    format!("{{\"seq\":{seq},\"prev\":\"{}\",", hex::encode(prev))
}

/// Line `seq` from a producer's `body`, one JSON object with at least one
/// field (`{"time":…}`, with or without its newline).
pub fn splice(seq: u64, prev: &[u8; 32], body: &[u8]) -> Result<Vec<u8>, AuditError> {
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let inner = body
        .strip_prefix(b"{\"")
        .and_then(|b| b.strip_suffix(b"}"))
        .ok_or(AuditError::Malformed("not a JSON object with fields"))?;
    let mut line = prefix(seq, prev).into_bytes();
    line.reserve(inner.len() + 4);
    line.push(b'"');
    line.extend_from_slice(inner);
    line.extend_from_slice(b"}\n");
    check(&line)?;
    Ok(line)
}

/// Whether `line` can be written as one line: an object, newline-ended,
/// no other newline or NUL, at most [`MAX_LINE`] bytes.
pub fn check(line: &[u8]) -> Result<(), AuditError> {
    if line.len() > MAX_LINE {
        return Err(AuditError::Malformed("line too long"));
    }
    let Some(body) = line.strip_suffix(b"\n") else {
        return Err(AuditError::Malformed("line does not end with a newline"));
    };
    if !body.starts_with(b"{") || !body.ends_with(b"}") {
        return Err(AuditError::Malformed("line is not a JSON object"));
    }
    if body.iter().any(|&b| b == b'\n' || b == b'\r' || b == 0) {
        return Err(AuditError::Malformed("line holds a newline or NUL"));
    }
    Ok(())
}

/// The chain fields of a line, read from its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainFields {
    /// The line's number in the chain.
    pub seq: u64,
    /// The hash of the line before it.
    pub prev: [u8; 32],
}

/// Read `seq` and `prev` from a line's prefix (no JSON parse). `None` when
/// the line does not start like a chained line (an old-format line, or a
/// damaged one).
pub fn chain_fields(line: &[u8]) -> Option<ChainFields> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let seq: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let rest = rest[digits..].strip_prefix(b",\"prev\":\"")?;
    let hex_part = rest.get(..64)?;
    if !hex_part
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    {
        return None;
    }
    rest.get(64..)?.strip_prefix(b"\",")?;
    let mut prev = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut prev).ok()?;
    Some(ChainFields { seq, prev })
}

/// A line parsed in full: chain fields and the JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The chain fields.
    pub chain: ChainFields,
    /// Every field, chain fields included.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Parsed {
    /// A text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(serde_json::Value::as_str)
    }

    /// An unsigned integer field.
    pub fn uint(&self, name: &str) -> Option<u64> {
        self.fields.get(name).and_then(serde_json::Value::as_u64)
    }
}

/// Parse a chained line strictly: the checks of [`check`], the chain
/// prefix, and one JSON object with no duplicate chain fields.
pub fn parse(line: &[u8]) -> Result<Parsed, &'static str> {
    check(line).map_err(|_| "not one JSON object on one line")?;
    let chain = chain_fields(line).ok_or("no chain fields (seq, prev) at the start")?;
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| "not valid JSON")?;
    let serde_json::Value::Object(fields) = value else {
        return Err("not a JSON object");
    };
    // A duplicate "seq" or "prev" later in the line would let the parsed
    // value disagree with the prefix: serde_json keeps the last one.
    if fields.get("seq").and_then(serde_json::Value::as_u64) != Some(chain.seq)
        || fields.get("prev").and_then(serde_json::Value::as_str) != Some(&hex::encode(chain.prev))
    {
        return Err("chain fields repeated with other values");
    }
    Ok(Parsed { chain, fields })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_adds_the_chain_fields_first() {
        let l = splice(3, &[0xab; 32], b"{\"time\":1,\"x\":\"y\"}\n").unwrap();
        let text = String::from_utf8(l.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\"seq\":3,\"prev\":\"{}\",\"time\":1,\"x\":\"y\"}}\n",
                "ab".repeat(32)
            )
        );
        let p = parse(&l).unwrap();
        assert_eq!(
            p.chain,
            ChainFields {
                seq: 3,
                prev: [0xab; 32]
            }
        );
        assert_eq!(p.uint("time"), Some(1));
        assert_eq!(p.text("x"), Some("y"));
        // Without the newline too.
        assert_eq!(
            splice(3, &[0xab; 32], b"{\"time\":1,\"x\":\"y\"}").unwrap(),
            l
        );
    }

    #[test]
    fn test_reject_malformed_bodies() {
        for bad in [
            &b""[..],
            b"{}",
            b"{}\n",
            b"[1]",
            b"{\"a\":1}\n\n",
            b"{\"a\":\"x\ny\"}",
            b"{\"a\":\"x\0\"}",
            b"\"a\"",
        ] {
            assert!(splice(0, &GENESIS, bad).is_err(), "{bad:?}");
        }
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_LINE));
        assert!(splice(0, &GENESIS, long.as_bytes()).is_err());
    }

    #[test]
    fn test_reject_lines_without_a_proper_chain_prefix() {
        let good = splice(12, &[1; 32], b"{\"t\":1}").unwrap();
        assert!(parse(&good).is_ok());
        let zeros = "0".repeat(64);
        for bad in [
            "{\"time\":1}\n".to_string(),
            format!("{{\"seq\":012,\"prev\":\"{zeros}\",\"t\":1}}\n"),
            format!("{{\"seq\":-1,\"prev\":\"{zeros}\",\"t\":1}}\n"),
            format!("{{\"seq\":1,\"prev\":\"{}\",\"t\":1}}\n", "A".repeat(64)),
            format!("{{\"seq\":1,\"prev\":\"{}\",\"t\":1}}\n", "0".repeat(63)),
            format!("{{\"seq\":1,\"prev\":\"{zeros}\"}}\n"),
            format!("{{\"seq\":1,\"prev\":\"{zeros}\",\"seq\":2}}\n"),
            format!("{{\"seq\":1,\"prev\":\"{zeros}\",\"t\":1\n"),
            format!("{{\"seq\":99999999999999999999999,\"prev\":\"{zeros}\",\"t\":1}}\n"),
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        // Every single-bit flip of a line either fails to parse or changes
        // its hash (so the next line's prev no longer matches).
        let h = hash(&good);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut b = good.clone();
                b[i] ^= 1 << bit;
                assert!(parse(&b).is_err() || hash(&b) != h);
            }
        }
    }
}
