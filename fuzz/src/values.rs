//! The values of a request's arguments, from the plan's choices: right
//! values by argument name and CBOR type (a small dictionary per name,
//! preceded by what the daemons said earlier in the input), junk of any
//! shape, and values of the right type at or past each size limit.
//!
//! Invariants: nothing here recurses on input data (depth and counts are
//! capped numbers); the largest value built is a little over one frame.

use crate::fixtures::Fixtures;
use crate::plan::{Big, Edge, Junk, Leaf};
use crate::pool::Pool;
use nexus_proto::limits;
use nexus_proto::schema::{FieldInfo, Kind};
use wire::Value;

/// Deepest nesting a [`Junk::Deep`] builds (past the wire's 32).
const MAX_DEPTH: usize = 40;
/// Most items a [`Junk::Many`] builds (past the wire's 1024).
const MAX_MANY: usize = 1100;

/// What a right value is built from.
pub struct Ctx<'a> {
    /// Values the daemons produced earlier in the input.
    pub pool: &'a Pool,
    /// Paths and trust texts.
    pub fx: &'a Fixtures,
    /// The iteration of a repeated step (names get a suffix past 0).
    pub iteration: usize,
    /// The caller's own key namespace (`Subject::key_namespace`): the
    /// first right value of `app`.
    pub namespace: &'a str,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn hex32(n: u8) -> Value {
    Value::Text(format!(
        "{:032x}",
        u128::from(n) * 0x0101_0101_0101_0101_0101_0101_0101_0101
    ))
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| (text(k), v.clone())).collect())
}

/// The dictionary of argument `name` of type `kind`.
fn dictionary(name: &str, kind: Kind, fx: &Fixtures) -> Vec<Value> {
    let texts = |list: &[&str]| list.iter().map(|s| text(s)).collect::<Vec<_>>();
    match (name, kind) {
        ("purpose", _) => texts(&["sign", "seal", "ssh", "device-attest", "p-1"]),
        ("name", _) => texts(&["k", "k2", "device", crate::fixtures::BUNDLE_NAME, "a.b_c-d"]),
        ("alg", _) => texts(&["Ed25519", "XChaCha20-Poly1305", "ed25519"]),
        ("app", _) => texts(&[
            "com.example.alpha",
            "com.example.tiny",
            "system",
            "system.admin",
            "system.attestd",
            "uid-1000",
            "com.example.beta",
        ]),
        ("prehash", _) => texts(&["BLAKE2b-512", "SHA-512"]),
        ("user" | "legacy_user", _) => texts(&["alice", "bob", "selftest"]),
        ("password" | "old" | "new", Kind::Text) => texts(&[
            "correct horse battery",
            "wrong password!",
            "another password",
            "",
        ]),
        ("label", _) => texts(&["publisher", "r"]),
        ("public_key", Kind::Text) => fx.public_keys.iter().map(|s| text(s)).collect(),
        ("root_file", _) => fx.root_files.iter().map(|s| text(s)).collect(),
        ("kid", _) => fx.kids.iter().map(|s| text(s)).collect(),
        ("path", _) => fx.paths.iter().map(|s| text(s)).collect(),
        ("sid" | "instance", _) => vec![hex32(1), hex32(0xab), text("not-a-session")],
        ("scopes", _) => vec![
            Value::Array(vec![text("packages")]),
            Value::Array(vec![text("updates"), text("packages")]),
            Value::Array(vec![]),
        ],
        ("version" | "min_version", _) => [1u64, 2, 3, 0, 7, u64::from(u32::MAX) + 1]
            .map(|n| Value::Integer(n.into()))
            .to_vec(),
        ("not_before" | "not_after", _) => [0u64, 1_700_000_000, 4_000_000_000, u64::MAX]
            .map(|n| Value::Integer(n.into()))
            .to_vec(),
        ("msg" | "value" | "pt", _) => vec![
            bytes(b"a message worth signing"),
            bytes(&[0x33; 64]),
            bytes(b""),
        ],
        ("aad", _) => vec![bytes(b"aad"), bytes(b"")],
        ("nonce", _) => vec![bytes(&[0x42; 16]), bytes(&[1; 8]), bytes(&[2; 65])],
        ("private" | "auth" | "input" | "old" | "new", Kind::Bytes) => {
            vec![bytes(&[0x11; 32]), bytes(&[0x22; 32]), bytes(&[0x33; 31])]
        }
        ("sig" | "sealed" | "wrapped", _) => vec![bytes(&[0; 64]), bytes(b"short")],
        ("claims", _) => vec![
            Value::Map(vec![(Value::Integer((-65538i64).into()), text("claim"))]),
            Value::Map(vec![(
                Value::Integer((-65537i64).into()),
                Value::Bool(true),
            )]),
        ],
        ("force", _) => vec![Value::Bool(true), Value::Bool(false)],
        ("ident", _) => vec![map(&[
            ("app", text("com.example.alpha")),
            ("purpose", text("sign")),
            ("name", text("k")),
            ("version", Value::Integer(1.into())),
            ("alg", text("Ed25519")),
        ])],
        ("owner", _) => vec![map(&[
            ("user", text("alice")),
            ("instance", hex32(1)),
            ("legacy", Value::Bool(false)),
        ])],
        ("sessions", _) => vec![Value::Array(vec![map(&[
            ("sid", hex32(1)),
            (
                "owner",
                map(&[
                    ("user", text("alice")),
                    ("instance", hex32(1)),
                    ("legacy", Value::Bool(false)),
                ]),
            ),
            ("active", Value::Bool(true)),
        ])])],
        (_, kind) => vec![default_of(kind)],
    }
}

fn default_of(kind: Kind) -> Value {
    match kind {
        Kind::Text => text("x"),
        Kind::Bytes => bytes(b"x"),
        Kind::Uint => Value::Integer(1.into()),
        Kind::Bool => Value::Bool(true),
        Kind::Map => Value::Map(vec![]),
        Kind::Array => Value::Array(vec![]),
    }
}

/// Whether a value's CBOR type is `kind`.
pub fn is_kind(v: &Value, kind: Kind) -> bool {
    match (v, kind) {
        (Value::Text(_), Kind::Text) | (Value::Bytes(_), Kind::Bytes) => true,
        (Value::Bool(_), Kind::Bool) | (Value::Map(_), Kind::Map) => true,
        (Value::Array(_), Kind::Array) => true,
        (Value::Integer(i), Kind::Uint) => u64::try_from(*i).is_ok(),
        _ => false,
    }
}

/// Arguments whose right value is best one a daemon produced (a session,
/// a kid, a blob): earlier values first, then the dictionary. The others
/// (names, purposes, apps…) take the dictionary first.
const PRODUCED: &[&str] = &[
    "sid", "kid", "wrapped", "sealed", "sig", "instance", "ident", "owner", "sessions", "token",
];

/// A right value for `field`, from the dictionary (for `app`, the
/// caller's own namespace first) and the values the daemons produced
/// earlier in the input; `pick` chooses. Names get
/// `-<i>` in repeated steps.
pub fn right(field: &FieldInfo, pick: u8, c: &Ctx<'_>) -> Value {
    let produced = c
        .pool
        .get(field.name)
        .iter()
        .rev()
        .filter(|v| is_kind(v, field.kind))
        .cloned();
    let own = (field.name == "app").then(|| text(c.namespace));
    let dict = own
        .into_iter()
        .chain(dictionary(field.name, field.kind, c.fx));
    let choices: Vec<Value> = if PRODUCED.contains(&field.name) {
        produced.chain(dict).collect()
    } else {
        dict.chain(produced).collect()
    };
    let v = choices
        .get(usize::from(pick) % choices.len().max(1))
        .cloned()
        .unwrap_or_else(|| default_of(field.kind));
    match (v, field.name) {
        (Value::Text(t), "name" | "purpose" | "user") if c.iteration > 0 => {
            Value::Text(format!("{t}-{}", c.iteration))
        }
        (v, _) => v,
    }
}

fn edge_len(e: Edge) -> usize {
    match e {
        Edge::Message => limits::MAX_MESSAGE_LEN,
        Edge::Plaintext => limits::MAX_PLAINTEXT_LEN,
        Edge::Sealed => limits::MAX_SEALED_LEN,
        Edge::Aad => limits::MAX_AAD_LEN,
        Edge::VaultName => limits::MAX_VAULT_NAME_LEN,
        Edge::VaultValue => limits::MAX_VAULT_VALUE_LEN,
        Edge::VaultFile => limits::MAX_VAULT_FILE_LEN,
        Edge::Label => nexus_core::LABEL_MAX_LEN,
        Edge::Password => identity::PASSWORD_MAX_LEN,
        Edge::Frame => limits::MAX_FRAME_LEN,
        Edge::Small(n) => usize::from(n),
    }
}

/// A value of `kind` whose size is the plan's limit plus its delta.
pub fn big(kind: Kind, b: &Big) -> Value {
    let len = edge_len(b.edge).saturating_add_signed(isize::from(b.delta));
    let letter = b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(b.fill) % 36];
    match kind {
        Kind::Text => Value::Text(String::from_utf8(vec![letter; len]).unwrap_or_default()),
        Kind::Bytes => Value::Bytes(vec![b.fill; len]),
        Kind::Uint => Value::Integer((len as u64).into()),
        Kind::Bool => Value::Bool(b.fill & 1 == 1),
        Kind::Array => Value::Array(vec![text("packages"); len.min(MAX_MANY)]),
        Kind::Map => Value::Map(
            (0..len.min(MAX_MANY))
                .map(|i| {
                    (
                        Value::Integer((-65538 - i as i64).into()),
                        Value::Bytes(vec![b.fill; 8]),
                    )
                })
                .collect(),
        ),
    }
}

/// Every argument name of the op table, for [`Leaf::Known`] and surplus
/// names.
pub fn all_fields() -> &'static [FieldInfo] {
    static ALL: std::sync::OnceLock<Vec<FieldInfo>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut out: Vec<FieldInfo> = Vec::new();
        for op in nexus_proto::ops::all() {
            for f in op.args {
                if !out.iter().any(|o| o.name == f.name && o.kind == f.kind) {
                    out.push(*f);
                }
            }
        }
        out
    })
}

fn leaf(l: &Leaf, c: &Ctx<'_>) -> Value {
    match l {
        Leaf::Null => Value::Null,
        Leaf::Bool(b) => Value::Bool(*b),
        Leaf::Uint(n) => Value::Integer((*n).into()),
        Leaf::Neg(n) => Value::Integer((-1 - i128::from(*n)).try_into().unwrap_or(0.into())),
        Leaf::Text(t) => Value::Text(t.clone()),
        Leaf::Bytes(b) => Value::Bytes(b.clone()),
        Leaf::Known(n) => {
            let all = all_fields();
            let f = &all[usize::from(*n) % all.len()];
            right(f, *n / 7, c)
        }
    }
}

/// The value of a junk plan.
pub fn junk(j: &Junk, c: &Ctx<'_>) -> Value {
    match j {
        Junk::Leaf(l) => leaf(l, c),
        Junk::Float(f) => Value::Float(*f),
        Junk::Tag(t, l) => Value::Tag(*t, Box::new(leaf(l, c))),
        Junk::Array(items) => Value::Array(items.iter().map(|l| leaf(l, c)).collect()),
        Junk::Map(items) => Value::Map(
            items
                .iter()
                .map(|(k, v)| (leaf(k, c), leaf(v, c)))
                .collect(),
        ),
        Junk::Deep { depth, map } => {
            let mut v = Value::Null;
            for _ in 0..usize::from(*depth).min(MAX_DEPTH) {
                v = if *map {
                    Value::Map(vec![(text("k"), v)])
                } else {
                    Value::Array(vec![v])
                };
            }
            v
        }
        Junk::Many { count, map } => {
            let n = usize::from(*count).min(MAX_MANY);
            if *map {
                Value::Map(
                    (0..n)
                        .map(|i| (Value::Text(format!("k{i}")), Value::Null))
                        .collect(),
                )
            } else {
                Value::Array(vec![Value::Null; n])
            }
        }
    }
}
