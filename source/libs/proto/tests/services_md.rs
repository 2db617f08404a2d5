//! docs/architecture/services.md and the schema's op table say the same
//! thing: the same ops, served by the same services, with the same
//! argument names, CBOR types and optionality, the same reply fields in
//! the same order, the same capabilities and keymintd callers; and the
//! maps the tables name (`ident`, `key-info`, …) are the schema's maps.
//! wire.md §11 lists the same ops per service.
//!
//! The tables are read strictly: a cell this test cannot read is a
//! failure, so the page stays regular enough for a person (or a client in
//! another language) to read it the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nexus_proto::{ops, FieldInfo, OpInfo, Shape};
use std::collections::BTreeMap;

fn doc(name: &str) -> String {
    let path = format!(
        "{}/../../../docs/architecture/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One documented field: name, CBOR type word, optional (argument) or
/// nullable (reply).
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocField {
    name: String,
    kind: String,
    optional: bool,
}

#[derive(Debug, Clone)]
enum Reply {
    Fields(Vec<DocField>),
    As(String),
}

#[derive(Debug, Clone)]
struct DocOp {
    section: String,
    args: Vec<DocField>,
    reply: Reply,
    capability: Option<String>,
    /// `(argument, capability)` pairs: `; with `force`: identity.x`.
    when_set: Vec<(String, String)>,
    callers: Option<Vec<String>>,
}

/// Split at top-level commas (not inside brackets, braces or parens).
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

const WORDS: [&str; 6] = ["text", "bytes", "uint", "bool", "map", "array"];

/// A type as written: `bytes(32)`, `uint?`, `text / null`, `[text]`,
/// `key-info` (a named map).
fn parse_type(t: &str, defs: &[String]) -> Result<(String, bool), String> {
    let mut t = t.trim().to_owned();
    let mut optional = false;
    if let Some(rest) = t.strip_suffix(" / null") {
        t = rest.trim().to_owned();
        optional = true;
    }
    if let Some(rest) = t.strip_suffix('?') {
        t = rest.trim().to_owned();
        optional = true;
    }
    if t.starts_with('[') && t.ends_with(']') {
        return Ok(("array".into(), optional));
    }
    if let Some(i) = t.find('(') {
        if !t.ends_with(')') {
            return Err(format!("bad bound in `{t}`"));
        }
        t.truncate(i);
    }
    if WORDS.contains(&t.as_str()) {
        Ok((t, optional))
    } else if defs.contains(&t) {
        Ok(("map".into(), optional))
    } else {
        Err(format!("unknown type `{t}`"))
    }
}

/// `{a: t, b: t?}`.
fn parse_map(spec: &str, defs: &[String]) -> Result<Vec<DocField>, String> {
    let inner = spec
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| format!("`{spec}` is not a map"))?;
    split_top(inner)
        .into_iter()
        .map(|f| {
            let (name, ty) = f
                .split_once(':')
                .ok_or_else(|| format!("`{f}` in `{spec}` has no type"))?;
            let (kind, optional) = parse_type(ty, defs)?;
            Ok(DocField {
                name: name.trim().to_owned(),
                kind,
                optional,
            })
        })
        .collect()
}

/// The code spans of a table cell or a paragraph.
fn code_spans(s: &str) -> Vec<String> {
    s.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, c)| c.to_owned())
        .collect()
}

/// The named maps: `` `name` = `{...}` ``, anywhere in the text.
fn definitions(text: &str) -> BTreeMap<String, String> {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let spans: Vec<&str> = flat.split('`').collect();
    let mut out = BTreeMap::new();
    let mut i = 1;
    while i + 2 < spans.len() {
        if spans[i + 1].trim() == "=" && spans[i + 2].starts_with('{') {
            out.insert(spans[i].to_owned(), spans[i + 2].to_owned());
        }
        i += 2;
    }
    out
}

/// Arguments: one map, or `{...}` or `{...}` (a field is optional in the
/// union unless every form requires it).
fn parse_args(cell: &str, defs: &[String]) -> Result<Vec<DocField>, String> {
    let forms: Vec<Vec<DocField>> = code_spans(cell)
        .iter()
        .filter(|c| c.starts_with('{'))
        .map(|c| parse_map(c, defs))
        .collect::<Result<_, _>>()?;
    let Some(first) = forms.first() else {
        return Err(format!("no argument map in `{cell}`"));
    };
    let mut union: Vec<DocField> = first.clone();
    for form in &forms[1..] {
        for f in form {
            if !union.iter().any(|u| u.name == f.name) {
                union.push(f.clone());
            }
        }
    }
    for u in &mut union {
        let everywhere = forms
            .iter()
            .all(|f| f.iter().any(|x| x.name == u.name && !x.optional));
        u.optional = !everywhere;
    }
    Ok(union)
}

fn parse_reply(cell: &str, defs: &BTreeMap<String, String>) -> Result<Reply, String> {
    let names: Vec<String> = defs.keys().cloned().collect();
    let spans = code_spans(cell);
    let first = spans
        .first()
        .ok_or_else(|| format!("no reply in `{cell}`"))?;
    if cell.trim_start().starts_with("as ") {
        return Ok(Reply::As(first.clone()));
    }
    if first.starts_with('{') {
        return parse_map(first, &names).map(Reply::Fields);
    }
    let def = defs
        .get(first)
        .ok_or_else(|| format!("reply `{first}` is not defined"))?;
    parse_map(def, &names).map(Reply::Fields)
}

fn parse_services_md() -> (
    BTreeMap<String, DocOp>,
    BTreeMap<String, String>,
    Vec<String>,
) {
    let text = doc("services.md");
    let defs = definitions(&text);
    let def_names: Vec<String> = defs.keys().cloned().collect();
    let mut ops = BTreeMap::new();
    let mut errors = Vec::new();
    let mut section = String::new();
    let mut header: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.to_owned();
            continue;
        }
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let cells: Vec<String> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect();
        let Some(cols) = &header else {
            header = Some(cells);
            continue;
        };
        if cells.iter().all(|c| c.chars().all(|ch| ch == '-')) {
            continue;
        }
        if cols.first().map(String::as_str) != Some("op") || !cols.iter().any(|c| c == "args") {
            continue;
        }
        let col = |name: &str| {
            cols.iter()
                .position(|c| c == name)
                .and_then(|i| cells.get(i))
        };
        let Some(name) = col("op").and_then(|c| code_spans(c).into_iter().next()) else {
            errors.push(format!("no op name in `{line}`"));
            continue;
        };
        let args = col("args").map(|c| parse_args(c, &def_names));
        let reply = col("ok").map(|c| parse_reply(c, &defs));
        let (Some(Ok(args)), Some(Ok(reply))) = (args.clone(), reply.clone()) else {
            errors.push(format!("{name}: cannot read: {args:?} / {reply:?}"));
            continue;
        };
        let first_cap = |c: &str| {
            c.split(|ch: char| ch.is_whitespace() || ch == '(')
                .find(|w| w.starts_with("identity."))
                .map(str::to_owned)
        };
        let cell = col("capability").map(String::as_str).unwrap_or("");
        let mut parts = cell.split(';');
        let capability = parts.next().and_then(first_cap);
        let when_set: Vec<(String, String)> = parts
            .filter_map(|p| {
                let arg = code_spans(p).into_iter().next()?;
                Some((arg, first_cap(p)?))
            })
            .collect();
        let callers = col("caller").map(|c| {
            c.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        });
        if ops
            .insert(
                name.clone(),
                DocOp {
                    section: section.clone(),
                    args,
                    reply,
                    capability,
                    when_set,
                    callers,
                },
            )
            .is_some()
        {
            errors.push(format!("{name} is documented twice"));
        }
    }
    (ops, defs, errors)
}

fn schema_fields(fields: &[FieldInfo]) -> Vec<DocField> {
    fields
        .iter()
        .map(|f| DocField {
            name: f.name.to_owned(),
            kind: f.kind.word().to_owned(),
            optional: f.optional,
        })
        .collect()
}

fn reply_of(name: &str, ops: &BTreeMap<String, DocOp>) -> Option<Vec<DocField>> {
    match &ops.get(name)?.reply {
        Reply::Fields(f) => Some(f.clone()),
        Reply::As(other) if other != name => reply_of(other, ops),
        Reply::As(_) => None,
    }
}

#[test]
fn services_md_and_the_op_table_agree() {
    let (doc_ops, _, mut errors) = parse_services_md();
    let schema: Vec<OpInfo> = ops::all();
    for op in &schema {
        let Some(d) = doc_ops.get(op.name) else {
            errors.push(format!("{} is not in services.md", op.name));
            continue;
        };
        if let Some(svc) = op.service {
            if !d.section.contains(svc.name()) {
                errors.push(format!(
                    "{} is documented under `{}`, but {} serves it",
                    op.name, d.section, svc
                ));
            }
        }
        let args = schema_fields(op.args);
        if d.args != args {
            errors.push(format!(
                "{} arguments: services.md {:?}, schema {:?}",
                op.name, d.args, args
            ));
        }
        let reply = schema_fields(op.reply);
        match reply_of(op.name, &doc_ops) {
            Some(r) if r == reply => {}
            other => errors.push(format!(
                "{} reply: services.md {other:?}, schema {reply:?}",
                op.name
            )),
        }
        let cap = op.capability.map(|c| c.as_str().to_owned());
        if d.capability != cap {
            errors.push(format!(
                "{} capability: services.md {:?}, schema {:?}",
                op.name, d.capability, cap
            ));
        }
        let when_set: Vec<(String, String)> = op
            .when_set
            .iter()
            .map(|w| (w.arg.to_owned(), w.capability.as_str().to_owned()))
            .collect();
        if d.when_set != when_set {
            errors.push(format!(
                "{} capabilities when an argument is set: services.md {:?}, schema {:?}",
                op.name, d.when_set, when_set
            ));
        }
        for w in op.when_set {
            if !op
                .args
                .iter()
                .any(|a| a.name == w.arg && a.kind.word() == "bool")
            {
                errors.push(format!("{}: `{}` is not a bool argument", op.name, w.arg));
            }
        }
        let callers: Vec<String> = op.callers.iter().map(|c| (*c).to_owned()).collect();
        match &d.callers {
            Some(doc) if *doc != callers => errors.push(format!(
                "{} callers: services.md {doc:?}, schema {callers:?}",
                op.name
            )),
            None if !callers.is_empty() => {
                errors.push(format!("{} callers are not documented", op.name))
            }
            _ => {}
        }
    }
    for name in doc_ops.keys() {
        if !schema.iter().any(|o| o.name == name) {
            errors.push(format!(
                "services.md documents {name}, the schema has no such op"
            ));
        }
    }
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
}

#[test]
fn the_named_maps_are_the_schemas_maps() {
    let (_, defs, errors) = parse_services_md();
    assert!(errors.is_empty(), "{errors:?}");
    let names: Vec<String> = defs.keys().cloned().collect();
    let cases: [(&str, &[FieldInfo]); 11] = [
        ("ident", nexus_proto::KeyIdent::FIELDS),
        ("owner", nexus_proto::KmOwner::FIELDS),
        ("session-ref", nexus_proto::KmSessionRef::FIELDS),
        ("damaged-key", nexus_proto::DamagedKey::FIELDS),
        ("key-info", nexus_proto::KeyInfo::FIELDS),
        ("key-ref", nexus_proto::KeyShowArgs::FIELDS),
        ("key-version", nexus_proto::KeyVersionInfo::FIELDS),
        ("root-info", nexus_proto::RootInfo::FIELDS),
        ("bundle-info", nexus_proto::BundleInfo::FIELDS),
        ("unit-info", nexus_proto::UnitInfo::FIELDS),
        ("bundle-error", nexus_proto::BundleError::FIELDS),
    ];
    for (name, fields) in cases {
        let def = defs
            .get(name)
            .unwrap_or_else(|| panic!("services.md does not define `{name}`"));
        assert_eq!(
            parse_map(def, &names).unwrap(),
            schema_fields(fields),
            "`{name}`"
        );
    }
    assert_eq!(defs.len(), cases.len(), "{:?}", defs.keys());
}

#[test]
fn wire_md_lists_each_services_ops() {
    let text = doc("wire.md");
    let section = text
        .split("## 11. Operations")
        .nth(1)
        .expect("wire.md has §11");
    let mut errors = Vec::new();
    let mut seen = 0;
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let Some(svc) = nexus_proto::Service::ALL
            .into_iter()
            .find(|s| cells.first() == Some(&s.name()))
        else {
            continue;
        };
        seen += 1;
        let documented: Vec<String> = cells.last().map(|c| code_spans(c)).unwrap_or_default();
        let mut want: Vec<String> = ops::all()
            .iter()
            .filter(|o| o.service == Some(svc) || o.service.is_none())
            .map(|o| o.name.to_owned())
            .collect();
        want.sort();
        let mut got = documented.clone();
        got.sort();
        if got != want {
            errors.push(format!("{svc}: wire.md {got:?}, schema {want:?}"));
        }
    }
    assert_eq!(
        seen,
        nexus_proto::Service::ALL.len(),
        "a service is missing from §11"
    );
    assert!(errors.is_empty(), "\n{}", errors.join("\n"));
}
