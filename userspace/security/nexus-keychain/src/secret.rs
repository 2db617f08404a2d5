//! Secret bytes handed back to the caller (vault values, unsealed
//! plaintexts), and the scrubbing of secret arguments after a call.
//!
//! Invariants: [`SecretBytes`] has no `Debug`, no `Clone`, no `Display`;
//! it is zeroized on drop and compared in constant time. The bytes are
//! moved out of the decoded reply without a copy, so the only plaintext
//! left behind is in the wire layer's own receive buffer.

use subtle::ConstantTimeEq;
use wire::{Args, Value};
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes: a vault value or an unsealed plaintext.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Take ownership of `bytes`, which will be zeroized on drop.
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The bytes. Keep the borrow short; do not copy them into a type that
    /// does not zeroize.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with `other`.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.len() == other.len() && bool::from(self.0.as_slice().ct_eq(other))
    }
}

/// Zeroize every byte string and text string among `args`' values (the
/// copies of a password, a plaintext or a vault value made to build a
/// request), then drop them.
pub(crate) fn scrub(args: Args) {
    let mut v = args.into_value();
    scrub_value(&mut v);
}

fn scrub_value(v: &mut Value) {
    match v {
        Value::Bytes(b) => b.zeroize(),
        Value::Text(t) => t.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Map(pairs) => pairs.iter_mut().for_each(|(_, v)| scrub_value(v)),
        Value::Tag(_, inner) => scrub_value(inner),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_compares_in_constant_time_and_by_length() {
        let s = SecretBytes::new(b"hunter2".to_vec());
        assert!(s.ct_eq(b"hunter2"));
        assert!(!s.ct_eq(b"hunter3"));
        assert!(!s.ct_eq(b"hunter"));
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
    }

    #[test]
    fn scrub_clears_nested_secrets() {
        let mut v = Value::Map(vec![
            ("pt".into(), Value::Bytes(vec![1, 2, 3])),
            ("pw".into(), Value::Text("secret".into())),
            ("a".into(), Value::Array(vec![Value::Bytes(vec![9])])),
        ]);
        scrub_value(&mut v);
        let Value::Map(pairs) = v else { panic!() };
        assert_eq!(pairs[0].1, Value::Bytes(vec![]));
        assert_eq!(pairs[1].1, Value::Text(String::new()));
        assert_eq!(pairs[2].1, Value::Array(vec![Value::Bytes(vec![])]));
    }
}
