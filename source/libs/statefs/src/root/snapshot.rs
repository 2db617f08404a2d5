//! The state root's snapshot: a MAC'd record of `path -> (generation,
//! digest)` and the chain position it covers.
//!
//! Two slots, `state:/root/<svc>.a` and `state:/root/<svc>.b`, written in
//! turn (statefs record `NXRT` v1, layout 2, keyed with the root's key, its
//! generation the root's): a damaged newest slot falls back to the other,
//! from which the journal replays further. Payload (integers big-endian):
//!
//! ```text
//! service_len u8 | service | checkpoint_seq u64 | checkpoint_head[32] | count u32 | entry*
//! entry = path_len u16 | path ("state:/…") | state (committed) | state (pending)
//! state = 0 (none) | 1 gen u64 digest[32] (a file) | 2 gen u64 (deleted)
//! ```
//!
//! Entries are sorted by path, without repeats; the checkpoint is the last
//! journal line whose effect the snapshot holds (seq and SHA-256).

use super::lines::St;
use crate::path::StatePath;

/// Record magic of a snapshot.
pub(crate) const MAGIC: &[u8; 4] = b"NXRT";
/// Its payload version.
pub(crate) const VERSION: u16 = 1;
/// Most entries a snapshot may hold.
const MAX_ENTRIES: u32 = 1 << 20;

/// A snapshot's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) service: String,
    pub(crate) checkpoint_seq: u64,
    pub(crate) checkpoint_head: [u8; 32],
    pub(crate) entries: Vec<(StatePath, Option<St>, Option<St>)>,
}

/// The path of slot `slot` (0: `a`, 1: `b`) of `service`'s snapshot.
pub(crate) fn slot_path(service: &str, slot: u8) -> Option<StatePath> {
    let name = format!("{service}.{}", if slot == 0 { "a" } else { "b" });
    StatePath::from_segments(["root", name.as_str()]).ok()
}

fn put_st(out: &mut Vec<u8>, st: Option<St>) {
    match st {
        None => out.push(0),
        Some(St::Present { gen, digest }) => {
            out.push(1);
            out.extend_from_slice(&gen.to_be_bytes());
            out.extend_from_slice(&digest);
        }
        Some(St::Deleted { gen }) => {
            out.push(2);
            out.extend_from_slice(&gen.to_be_bytes());
        }
    }
}

impl Snapshot {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.entries.len() * 96);
        let svc = self.service.as_bytes();
        out.push(u8::try_from(svc.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&svc[..svc.len().min(255)]);
        out.extend_from_slice(&self.checkpoint_seq.to_be_bytes());
        out.extend_from_slice(&self.checkpoint_head);
        out.extend_from_slice(
            &u32::try_from(self.entries.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        for (path, committed, pending) in &self.entries {
            let p = path.to_string();
            out.extend_from_slice(&u16::try_from(p.len()).unwrap_or(u16::MAX).to_be_bytes());
            out.extend_from_slice(p.as_bytes());
            put_st(&mut out, *committed);
            put_st(&mut out, *pending);
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Snapshot, &'static str> {
        let mut r = Reader { b: bytes };
        let n = r.u8()? as usize;
        let service = std::str::from_utf8(r.take(n)?)
            .map_err(|_| "service name is not UTF-8")?
            .to_owned();
        let checkpoint_seq = r.u64()?;
        let mut checkpoint_head = [0u8; 32];
        checkpoint_head.copy_from_slice(r.take(32)?);
        let count = r.u32()?;
        if count > MAX_ENTRIES {
            return Err("too many entries");
        }
        let mut entries: Vec<(StatePath, Option<St>, Option<St>)> = Vec::new();
        for _ in 0..count {
            let len = r.u16()? as usize;
            let text = std::str::from_utf8(r.take(len)?).map_err(|_| "path is not UTF-8")?;
            let path = StatePath::parse(text).map_err(|_| "bad path")?;
            if path.segments().is_empty() {
                return Err("bad path");
            }
            if entries.last().is_some_and(|(last, _, _)| *last >= path) {
                return Err("entries not sorted or repeated");
            }
            let committed = r.st()?;
            let pending = r.st()?;
            if committed.is_none() && pending.is_none() {
                return Err("empty entry");
            }
            entries.push((path, committed, pending));
        }
        if !r.b.is_empty() {
            return Err("trailing bytes");
        }
        Ok(Snapshot {
            service,
            checkpoint_seq,
            checkpoint_head,
            entries,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.b.len() < n {
            return Err("truncated");
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let t = self.take(2)?;
        Ok(u16::from_be_bytes([t[0], t[1]]))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let t = self.take(4)?;
        Ok(u32::from_be_bytes([t[0], t[1], t[2], t[3]]))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn st(&mut self) -> Result<Option<St>, &'static str> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let gen = self.u64()?;
                let mut digest = [0u8; 32];
                digest.copy_from_slice(self.take(32)?);
                Ok(Some(St::Present { gen, digest }))
            }
            2 => Ok(Some(St::Deleted { gen: self.u64()? })),
            _ => Err("unknown entry state"),
        }
    }
}

/// The chain checkpoints recorded in `service`'s snapshots in the state
/// directory `dir`, read without the key (for `nx audit verify`, which
/// checks them against the log; the daemon checks their MAC at start).
/// Unreadable slots are skipped.
pub fn checkpoints(dir: &std::path::Path, service: &str) -> Vec<auditlog::verify::Checkpoint> {
    let mut out = Vec::new();
    for slot in [0u8, 1] {
        let Some(path) = slot_path(service, slot) else {
            continue;
        };
        let mut host = dir.to_path_buf();
        host.extend(path.segments());
        let Ok(bytes) = std::fs::read(&host) else {
            continue;
        };
        let Ok(rec) = crate::record::decode_with(
            &path,
            &bytes,
            MAGIC,
            &[VERSION],
            crate::record::TagCheck::Trusted,
        ) else {
            continue;
        };
        if let Ok(s) = Snapshot::decode(rec.payload) {
            if s.service == service {
                out.push(auditlog::verify::Checkpoint {
                    seq: s.checkpoint_seq,
                    head: s.checkpoint_head,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            service: "keystored".into(),
            checkpoint_seq: 41,
            checkpoint_head: [7; 32],
            entries: vec![
                (
                    StatePath::parse("state:/a/b").unwrap(),
                    Some(St::Present {
                        gen: 3,
                        digest: [1; 32],
                    }),
                    None,
                ),
                (
                    StatePath::parse("state:/a/c").unwrap(),
                    Some(St::Deleted { gen: 4 }),
                    Some(St::Present {
                        gen: 5,
                        digest: [2; 32],
                    }),
                ),
                (
                    StatePath::parse("state:/z").unwrap(),
                    None,
                    Some(St::Deleted { gen: 6 }),
                ),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(Snapshot::decode(&s.encode()), Ok(s));
        assert_eq!(
            slot_path("keystored", 1).unwrap().to_string(),
            "state:/root/keystored.b"
        );
    }

    #[test]
    fn test_reject_malformed_snapshots() {
        let good = sample().encode();
        for cut in 0..good.len() {
            assert!(Snapshot::decode(&good[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            Snapshot::decode(&[good.clone(), vec![0]].concat()),
            Err("trailing bytes")
        );
        let mut unsorted = sample();
        unsorted.entries.swap(0, 1);
        assert!(Snapshot::decode(&unsorted.encode()).is_err());
        let mut repeated = sample();
        repeated.entries[1].0 = repeated.entries[0].0.clone();
        assert!(Snapshot::decode(&repeated.encode()).is_err());
        let mut empty = sample();
        empty.entries[0].1 = None;
        assert_eq!(Snapshot::decode(&empty.encode()), Err("empty entry"));
        let mut huge = good.clone();
        let at = 1 + 9 + 8 + 32;
        huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Snapshot::decode(&huge), Err("too many entries"));
    }
}
