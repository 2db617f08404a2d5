//! The state root's journal lines, in the daemon's audit log.
//!
//! ```text
//! {"seq":…,"prev":"…","time":T,"state":"write","path":"state:/…","gen":G,"digest":"<sha256 hex>","mac":"…"}
//! {"seq":…,"prev":"…","time":T,"state":"delete","path":"state:/…","gen":G,"deleted":true,"mac":"…"}
//! {"seq":…,"prev":"…","time":T,"state":"commit"|"abort"|"settle","path":…,"gen":G,("digest":…|"deleted":true),"mac":"…"}
//! {"seq":…,"prev":"…","time":T,"state":"adopt","records":N,"gen":G,"mac":"…"}
//! ```
//!
//! `mac` is HMAC-SHA256 (the root's key, label `nexus-statefs/journal/v1`)
//! over every byte of the line before `,"mac":`: chain fields included, so
//! a state line cannot be moved, replayed elsewhere in the chain or forged
//! without the key, and no line before it can be changed without breaking
//! the chain it authenticates.

use crate::key::StateKey;
use crate::path::StatePath;
use auditlog::line;

const LABEL: &str = "nexus-statefs/journal/v1";
const MAC_FIELD: &[u8] = b",\"mac\":\"";

/// What a record is, as the root knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum St {
    /// A file with this SHA-256, written at this generation.
    Present { gen: u64, digest: [u8; 32] },
    /// Deleted at this generation.
    Deleted { gen: u64 },
}

impl St {
    pub(crate) fn gen(self) -> u64 {
        match self {
            St::Present { gen, .. } | St::Deleted { gen } => gen,
        }
    }
}

/// A state line's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A change is about to be made (before its rename or unlink).
    Change,
    /// The change was made.
    Commit,
    /// The change was not made.
    Abort,
    /// After a crash, the change found on disk.
    Settle,
}

impl Kind {
    fn word(self, st: St) -> &'static str {
        match (self, st) {
            (Kind::Change, St::Present { .. }) => "write",
            (Kind::Change, St::Deleted { .. }) => "delete",
            (Kind::Commit, _) => "commit",
            (Kind::Abort, _) => "abort",
            (Kind::Settle, _) => "settle",
        }
    }
}

/// A verified state line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A record's change, commit, abort or settlement.
    Record { kind: Kind, path: StatePath, st: St },
    /// The records were adopted as they were (first start).
    Adopt { gen: u64 },
}

fn seal(key: &StateKey, mut body: Vec<u8>) -> Vec<u8> {
    let mac = key.mac(LABEL, &[&body]);
    body.extend_from_slice(MAC_FIELD);
    body.extend_from_slice(hex::encode(mac).as_bytes());
    body.extend_from_slice(b"\"}\n");
    body
}

/// The line for `kind` of `st` at `path`, line `seq` after `prev`.
pub(crate) fn record_line(
    key: &StateKey,
    seq: u64,
    prev: &[u8; 32],
    time: u64,
    kind: Kind,
    path: &StatePath,
    st: St,
) -> Vec<u8> {
    let mut body = format!(
        "{}\"time\":{time},\"state\":\"{}\",\"path\":\"{path}\",\"gen\":{}",
        line::prefix(seq, prev),
        kind.word(st),
        st.gen()
    );
    match st {
        St::Present { digest, .. } => {
            body.push_str(",\"digest\":\"");
            body.push_str(&hex::encode(digest));
            body.push('"');
        }
        St::Deleted { .. } => body.push_str(",\"deleted\":true"),
    }
    seal(key, body.into_bytes())
}

/// The line saying `records` files were adopted at generation `gen`.
pub(crate) fn adopt_line(
    key: &StateKey,
    seq: u64,
    prev: &[u8; 32],
    time: u64,
    records: usize,
    gen: u64,
) -> Vec<u8> {
    let body = format!(
        "{}\"time\":{time},\"state\":\"adopt\",\"records\":{records},\"gen\":{gen}",
        line::prefix(seq, prev)
    );
    seal(key, body.into_bytes())
}

/// Whether a line is a state line at all (has a `"state"` field right
/// after its time), without checking it.
pub(crate) fn is_state_line(l: &[u8]) -> bool {
    let s = String::from_utf8_lossy(l);
    s.contains(",\"state\":\"") && s.contains(",\"mac\":\"")
}

/// Check a state line's MAC and read it. `Err` names what is wrong.
pub(crate) fn parse(key: &StateKey, l: &[u8]) -> Result<Parsed, &'static str> {
    let body = l
        .strip_suffix(b"\"}\n")
        .ok_or("state line does not end with its MAC")?;
    let at = body
        .windows(MAC_FIELD.len())
        .rposition(|w| w == MAC_FIELD)
        .ok_or("state line without a MAC")?;
    let (signed, mac_hex) = (&body[..at], &body[at + MAC_FIELD.len()..]);
    let mut mac = [0u8; 32];
    hex::decode_to_slice(mac_hex, &mut mac).map_err(|_| "state line MAC is not hex")?;
    if !key.verify(LABEL, &[signed], &mac) {
        return Err("state line MAC mismatch");
    }
    let p = line::parse(l)?;
    let kind = p.text("state").ok_or("state line without a kind")?;
    let gen = p.uint("gen").ok_or("state line without a generation")?;
    if kind == "adopt" {
        return Ok(Parsed::Adopt { gen });
    }
    let path = StatePath::parse(p.text("path").ok_or("state line without a path")?)
        .map_err(|_| "state line with a bad path")?;
    let st = match (p.text("digest"), p.fields.get("deleted")) {
        (Some(d), None) => {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(d, &mut digest).map_err(|_| "state line digest is not hex")?;
            St::Present { gen, digest }
        }
        (None, Some(serde_json::Value::Bool(true))) => St::Deleted { gen },
        _ => return Err("state line without a digest or deletion"),
    };
    let kind = match (kind, st) {
        ("write", St::Present { .. }) | ("delete", St::Deleted { .. }) => Kind::Change,
        ("commit", _) => Kind::Commit,
        ("abort", _) => Kind::Abort,
        ("settle", _) => Kind::Settle,
        _ => return Err("state line of an unknown kind"),
    };
    Ok(Parsed::Record { kind, path, st })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn key() -> StateKey {
        StateKey::new(Zeroizing::new([9; 32]))
    }

    #[test]
    fn lines_round_trip() {
        let k = key();
        let p = StatePath::parse("state:/keystore/a/sign/k").unwrap();
        let st = St::Present {
            gen: 7,
            digest: [3; 32],
        };
        for kind in [Kind::Change, Kind::Commit, Kind::Abort, Kind::Settle] {
            let l = record_line(&k, 5, &[1; 32], 100, kind, &p, st);
            assert!(is_state_line(&l));
            assert_eq!(
                parse(&k, &l),
                Ok(Parsed::Record {
                    kind,
                    path: p.clone(),
                    st
                })
            );
        }
        let del = record_line(
            &k,
            6,
            &[1; 32],
            100,
            Kind::Change,
            &p,
            St::Deleted { gen: 8 },
        );
        assert!(String::from_utf8_lossy(&del).contains("\"state\":\"delete\""));
        assert_eq!(
            parse(&k, &del),
            Ok(Parsed::Record {
                kind: Kind::Change,
                path: p,
                st: St::Deleted { gen: 8 }
            })
        );
        let a = adopt_line(&k, 0, &[0; 32], 1, 12, 0);
        assert_eq!(parse(&k, &a), Ok(Parsed::Adopt { gen: 0 }));
    }

    #[test]
    fn test_reject_forged_or_damaged_state_lines() {
        let k = key();
        let p = StatePath::parse("state:/x").unwrap();
        let l = record_line(
            &k,
            5,
            &[1; 32],
            100,
            Kind::Commit,
            &p,
            St::Deleted { gen: 2 },
        );
        let other = StateKey::new(Zeroizing::new([8; 32]));
        assert!(parse(&other, &l).is_err());
        for i in 0..l.len() {
            let mut bad = l.clone();
            bad[i] ^= 0x01;
            assert!(parse(&k, &bad).is_err(), "flip {i}");
        }
        assert!(parse(&k, b"{\"seq\":1}\n").is_err());
        assert!(!is_state_line(
            b"{\"seq\":1,\"time\":1,\"subject\":\"a\"}\n"
        ));
    }
}
