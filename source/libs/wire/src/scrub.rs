//! Wiping what passed through the wire.
//!
//! Requests and replies carry secrets (auth secrets to keymintd, plaintexts
//! back from unseal, vault values). Every buffer that held a frame is
//! wiped when it is dropped: frames are read into an exactly sized
//! zeroizing buffer, encoding goes through [`SecretBuf`], which wipes each
//! buffer it outgrows, and [`scrub_value`] wipes the byte and text strings
//! of a decoded CBOR value (request arguments are scrubbed when dropped;
//! the server scrubs each reply value once it is sent). A request or reply
//! that fails to parse is wiped on every path: CBOR that fails to decode
//! leaves no partial value unwiped (`wiping`), and a decoded message
//! refused for its envelope or its argument names is scrubbed before the
//! error is returned. `Args`, `Request` and `Reply` never print a value
//! in their `Debug`.

use ciborium::Value;
use std::io;
use zeroize::{Zeroize, Zeroizing};

/// Wipe every byte string and text string inside `v`, in place.
pub fn scrub_value(v: &mut Value) {
    match v {
        Value::Bytes(b) => b.zeroize(),
        Value::Text(t) => t.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, val)| {
            scrub_value(k);
            scrub_value(val);
        }),
        Value::Tag(_, inner) => scrub_value(inner),
        _ => {}
    }
}

/// A growable output buffer that never leaves a copy behind: when it needs
/// more room it copies into a larger zeroizing buffer and wipes the old one.
#[derive(Default)]
pub(crate) struct SecretBuf(Zeroizing<Vec<u8>>);

impl SecretBuf {
    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl io::Write for SecretBuf {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let need = self.0.len().saturating_add(bytes.len());
        if need > self.0.capacity() {
            let cap = need.max(self.0.capacity().saturating_mul(2)).max(256);
            let mut bigger = Zeroizing::new(Vec::with_capacity(cap));
            bigger.extend_from_slice(&self.0);
            // The old buffer is wiped as it drops here.
            self.0 = bigger;
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn scrub_reaches_nested_strings() {
        let mut v = Value::Map(vec![(
            Value::Text("k".into()),
            Value::Array(vec![
                Value::Bytes(vec![1, 2, 3]),
                Value::Tag(9, Box::new(Value::Text("s".into()))),
            ]),
        )]);
        scrub_value(&mut v);
        let Value::Map(m) = &v else { panic!() };
        assert_eq!(m[0].0, Value::Text(String::new()));
        let Value::Array(a) = &m[0].1 else { panic!() };
        assert_eq!(a[0], Value::Bytes(vec![]));
    }

    #[test]
    fn secret_buf_grows_and_keeps_content() {
        let mut b = SecretBuf::default();
        for i in 0..1000u32 {
            b.write_all(&i.to_be_bytes()).unwrap();
        }
        let out = b.into_inner();
        assert_eq!(out.len(), 4000);
        assert_eq!(&out[3996..], &999u32.to_be_bytes());
    }
}
