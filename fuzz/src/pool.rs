//! Values the daemons produced during one input, by the map key they came
//! under (`sid`, `kid`, `wrapped`, `sealed`, `ident`, `owner`, …), so that
//! a later request can name the session a login opened, the blob a seal
//! returned or the ident keystored sent keymintd.
//!
//! Invariants: bounded (a few recent values per key, none larger than
//! [`MAX_VALUE`] bytes of CBOR), and per input, so that an input replays
//! the same way on its own.

use std::collections::HashMap;
use wire::Value;

/// Values kept per key.
const PER_KEY: usize = 8;
/// Largest value kept (roughly, in bytes).
const MAX_VALUE: usize = 64 * 1024;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Pool {
    by_key: HashMap<String, Vec<Value>>,
}

fn size(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len(),
        Value::Text(t) => t.len(),
        Value::Array(a) => a.iter().map(size).sum::<usize>() + 1,
        Value::Map(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum::<usize>() + 1,
        Value::Tag(_, v) => size(v) + 1,
        _ => 1,
    }
}

impl Pool {
    /// Keep every keyed value inside `v` (maps at any depth).
    pub fn harvest(&mut self, v: &Value) {
        self.walk(v, 0);
    }

    /// Keep the arguments of a request.
    pub fn harvest_args(&mut self, args: &wire::Args) {
        for (k, v) in args.iter() {
            self.keep(k, v);
            self.walk(v, 1);
        }
    }

    fn walk(&mut self, v: &Value, depth: usize) {
        if depth > 6 {
            return;
        }
        match v {
            Value::Map(m) => {
                for (k, v) in m {
                    if let Value::Text(k) = k {
                        self.keep(k, v);
                    }
                    self.walk(v, depth + 1);
                }
            }
            Value::Array(a) => {
                for v in a {
                    self.walk(v, depth + 1);
                }
            }
            _ => {}
        }
    }

    fn keep(&mut self, key: &str, v: &Value) {
        if matches!(v, Value::Null) || size(v) > MAX_VALUE {
            return;
        }
        let list = self.by_key.entry(key.to_owned()).or_default();
        if list.contains(v) {
            return;
        }
        if list.len() == PER_KEY {
            list.remove(0);
        }
        list.push(v.clone());
    }

    /// The values kept under `key`, newest last.
    pub fn get(&self, key: &str) -> &[Value] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }
}
