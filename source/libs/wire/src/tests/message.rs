//! Unit tests of request and reply parsing: every refusal wipes what was
//! decoded, and Debug never shows a value.

use super::*;

const SECRET: &str = "hunter2-secret";

/// Whether `SECRET` (as text or bytes) is anywhere in `v`.
fn holds_secret(v: &Value) -> bool {
    match v {
        Value::Text(t) => t.contains(SECRET),
        Value::Bytes(b) => b.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        Value::Array(items) => items.iter().any(holds_secret),
        Value::Map(m) => m.iter().any(|(k, v)| holds_secret(k) || holds_secret(v)),
        Value::Tag(_, inner) => holds_secret(inner),
        _ => false,
    }
}

fn request(edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Value {
    let mut m = vec![
        ("v".into(), 1u64.into()),
        ("id".into(), 9u64.into()),
        ("op".into(), "session.login".into()),
        (
            "args".into(),
            Value::Map(vec![
                ("user".into(), "alice".into()),
                ("password".into(), SECRET.into()),
                ("auth".into(), Value::Bytes(SECRET.as_bytes().to_vec())),
            ]),
        ),
    ];
    edit(&mut m);
    Value::Map(m)
}

fn set(m: &mut Vec<(Value, Value)>, k: &str, v: Value) {
    m.retain(|(key, _)| key.as_text() != Some(k));
    m.push((k.into(), v));
}

/// Every way a request can be refused after it was decoded leaves
/// nothing of its arguments behind.
#[test]
fn test_reject_paths_wipe_the_decoded_request() {
    type Edit = Box<dyn FnOnce(&mut Vec<(Value, Value)>)>;
    let cases: Vec<(Edit, bool, ProtocolError)> = vec![
        (Box::new(|_| {}), true, ProtocolError::TrailingBytes),
        (
            Box::new(|m| set(m, "extra", 1u64.into())),
            false,
            ProtocolError::UnknownField,
        ),
        (
            Box::new(|m| m.push(("v".into(), 1u64.into()))),
            false,
            ProtocolError::DuplicateField("v"),
        ),
        (
            Box::new(|m| m.push((1u64.into(), 1u64.into()))),
            false,
            ProtocolError::NonTextKey,
        ),
        (
            Box::new(|m| set(m, "v", 2u64.into())),
            false,
            ProtocolError::UnsupportedVersion,
        ),
        (
            Box::new(|m| set(m, "id", 0u64.into())),
            false,
            ProtocolError::ZeroId,
        ),
        (
            Box::new(|m| set(m, "id", "nine".into())),
            false,
            ProtocolError::WrongType("id"),
        ),
        (
            Box::new(|m| set(m, "op", "bad op!".into())),
            false,
            ProtocolError::BadOp,
        ),
        (
            Box::new(|m| m.retain(|(k, _)| k.as_text() != Some("op"))),
            false,
            ProtocolError::MissingField("op"),
        ),
        (
            Box::new(|m| {
                if let Some((_, Value::Map(a))) =
                    m.iter_mut().find(|(k, _)| k.as_text() == Some("args"))
                {
                    a.push(("bad name".into(), 1u64.into()));
                }
            }),
            false,
            ProtocolError::BadArgName,
        ),
        (
            Box::new(|m| {
                if let Some((_, Value::Map(a))) =
                    m.iter_mut().find(|(k, _)| k.as_text() == Some("args"))
                {
                    a.push(("user".into(), "again".into()));
                }
            }),
            false,
            ProtocolError::BadArgName,
        ),
    ];
    for (i, (edit, trailing, want)) in cases.into_iter().enumerate() {
        let mut v = request(edit);
        assert!(holds_secret(&v));
        let e = parse_request(&mut v, trailing).unwrap_err();
        assert_eq!(e.error, want, "case {i}");
        assert!(
            !holds_secret(&v),
            "case {i}: the refused request was not wiped"
        );
    }
    let mut not_map = Value::Array(vec![SECRET.into()]);
    assert_eq!(
        parse_request(&mut not_map, false).unwrap_err().error,
        ProtocolError::NotMap
    );
    assert!(!holds_secret(&not_map));
}

#[test]
fn an_accepted_request_keeps_only_its_own_copy() {
    let mut v = request(|_| {});
    let req = parse_request(&mut v, false).unwrap();
    assert!(!holds_secret(&v));
    assert_eq!(req.args().get("password"), Some(&Value::from(SECRET)));
}

#[test]
fn test_reject_paths_wipe_the_decoded_reply() {
    let reply = |extra: Option<(&str, Value)>| {
        let mut m: Vec<(Value, Value)> = vec![
            ("id".into(), 3u64.into()),
            (
                "ok".into(),
                Value::Map(vec![("pt".into(), Value::Bytes(SECRET.into()))]),
            ),
        ];
        if let Some((k, v)) = extra {
            m.push((k.into(), v));
        }
        Value::Map(m)
    };
    for (extra, trailing) in [
        (Some(("err", Value::Map(vec![]))), false),
        (Some(("x", 1u64.into())), false),
        (Some(("id", 3u64.into())), false),
        (None, true),
    ] {
        let mut v = reply(extra);
        assert!(parse_reply(&mut v, trailing).is_err());
        assert!(!holds_secret(&v));
    }
    let mut v = reply(None);
    let r = parse_reply(&mut v, false).unwrap();
    assert!(!holds_secret(&v));
    assert!(r.outcome.as_ref().is_ok_and(holds_secret));
}

/// Debug output of requests and replies never shows a value.
#[test]
fn debug_shows_names_never_values() {
    let mut v = request(|_| {});
    let req = parse_request(&mut v, false).unwrap();
    let shown = format!("{req:?} {:?}", req.args());
    assert!(shown.contains("session.login") && shown.contains("password"));
    assert!(!shown.contains(SECRET), "{shown}");
    let reply = Reply {
        id: 1,
        outcome: Ok(Value::Bytes(SECRET.into())),
    };
    let shown = format!("{reply:?}");
    assert!(!shown.contains(SECRET) && !shown.contains("104"), "{shown}");
    let err = Reply {
        id: 1,
        outcome: Err(WireError::new(ErrorCode::Enoent, "no such key")),
    };
    assert!(format!("{err:?}").contains("no such key"));
}
