//! The decrypted vault and its byte form.
//!
//! File `state:/vault/<instance>/vault.kv`: statefs envelope, magic
//! `NXVK`, version 2, whose payload is keymint's sealed blob
//!
//! ```text
//! sealed = 'D' | 1 | nonce[24] | XChaCha20-Poly1305(vault key, plaintext,
//!            aad = 'D' | 1 | "nexus-vault/v2" | instance[16] | 0x0002)
//! ```
//!
//! The first format (version 1, read only) sat at
//! `state:/identity/<user>/vault.kv`, bound to the user *name*:
//! `aad = 'D' | 1 | "nexus-vault/v1" | len(user) u8 | user | 0x0001`.
//!
//! and the plaintext is (big-endian; entries strictly ascending by
//! (app, name) bytes, so one vault has one form):
//!
//! ```text
//! count u32 | count × ( app_len u8 | app | name_len u16 | name
//!                       | value_len u32 | value )
//! ```
//!
//! Invariants: plaintext buffers are zeroizing and allocated at their exact
//! size (no reallocation leaves copies behind); entry values are zeroized
//! on drop and names are wiped when the map is dropped; decoding re-checks
//! every id, name and value bound.

use crate::limits::{check_name, check_value, Usage, MAX_NAME_LEN, MAX_VALUE_LEN};
use nexus_core::{AppId, InstanceId, UserId};
use std::collections::{BTreeMap, HashMap};
use zeroize::{Zeroize, Zeroizing};

/// statefs magic of vault.kv.
pub(crate) const MAGIC: &[u8; 4] = b"NXVK";
/// Format version (envelope and AAD): bound to the user instance.
pub(crate) const VERSION: u16 = 2;
/// The first format: bound to the user name (read only).
pub(crate) const VERSION_NAME: u16 = 1;

/// The AAD binding a sealed vault to its user instance and format
/// version.
pub(crate) fn aad(instance: &InstanceId) -> Vec<u8> {
    [
        &b"nexus-vault/v2"[..],
        instance.as_bytes(),
        &VERSION.to_be_bytes(),
    ]
    .concat()
}

/// The AAD of the first, name-bound format.
pub(crate) fn aad_name(user: &UserId) -> Vec<u8> {
    let u = user.as_str().as_bytes();
    let mut out = Vec::with_capacity(14 + 1 + u.len() + 2);
    out.extend_from_slice(b"nexus-vault/v1");
    // UserId is validated to at most 64 bytes.
    out.push(u8::try_from(u.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(u);
    out.extend_from_slice(&VERSION_NAME.to_be_bytes());
    out
}

type Key = (AppId, String);

/// One user's decrypted vault, with usage kept up to date.
#[derive(Default)]
pub(crate) struct Entries {
    map: BTreeMap<Key, Zeroizing<Vec<u8>>>,
    per_app: HashMap<AppId, Usage>,
    total: Usage,
}

impl Drop for Entries {
    fn drop(&mut self) {
        for ((_, mut name), _value) in std::mem::take(&mut self.map) {
            name.zeroize();
        }
    }
}

fn cost(name: &str, value: &[u8]) -> u64 {
    (name.len() + value.len()) as u64
}

impl Entries {
    pub(crate) fn get(&self, app: &AppId, name: &str) -> Option<&Zeroizing<Vec<u8>>> {
        self.map.get(&(app.clone(), name.to_owned()))
    }

    pub(crate) fn names(&self, app: &AppId) -> Vec<String> {
        self.map
            .range((app.clone(), String::new())..)
            .take_while(|((a, _), _)| a == app)
            .map(|((_, n), _)| n.clone())
            .collect()
    }

    pub(crate) fn app_usage(&self, app: &AppId) -> Usage {
        self.per_app.get(app).copied().unwrap_or_default()
    }

    pub(crate) fn total(&self) -> Usage {
        self.total
    }

    /// Insert or replace; returns the previous value.
    pub(crate) fn insert(
        &mut self,
        app: &AppId,
        name: &str,
        value: Zeroizing<Vec<u8>>,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let add = cost(name, &value);
        let old = self.map.insert((app.clone(), name.to_owned()), value);
        let removed = old.as_ref().map(|v| cost(name, v));
        let u = self.per_app.entry(app.clone()).or_default();
        for usage in [u, &mut self.total] {
            if let Some(r) = removed {
                usage.bytes = usage.bytes.saturating_sub(r);
            } else {
                usage.entries += 1;
            }
            usage.bytes += add;
        }
        old
    }

    /// Remove; returns the value.
    pub(crate) fn remove(&mut self, app: &AppId, name: &str) -> Option<Zeroizing<Vec<u8>>> {
        let old = self.map.remove(&(app.clone(), name.to_owned()))?;
        let c = cost(name, &old);
        if let Some(u) = self.per_app.get_mut(app) {
            u.entries = u.entries.saturating_sub(1);
            u.bytes = u.bytes.saturating_sub(c);
            if u.entries == 0 {
                self.per_app.remove(app);
            }
        }
        self.total.entries = self.total.entries.saturating_sub(1);
        self.total.bytes = self.total.bytes.saturating_sub(c);
        Some(old)
    }

    /// The plaintext form, in a zeroizing buffer of exact size.
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, &'static str> {
        let size = 4 + self
            .map
            .iter()
            .map(|((a, n), v)| 1 + a.as_str().len() + 2 + n.len() + 4 + v.len())
            .sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(size));
        let count = u32::try_from(self.map.len()).map_err(|_| "too many entries")?;
        out.extend_from_slice(&count.to_be_bytes());
        for ((app, name), value) in &self.map {
            let a = app.as_str().as_bytes();
            out.push(u8::try_from(a.len()).map_err(|_| "app id too long")?);
            out.extend_from_slice(a);
            let n = u16::try_from(name.len()).map_err(|_| "entry name too long")?;
            out.extend_from_slice(&n.to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            let v = u32::try_from(value.len()).map_err(|_| "entry value too long")?;
            out.extend_from_slice(&v.to_be_bytes());
            out.extend_from_slice(value);
        }
        Ok(out)
    }

    /// Parse a plaintext; the reason is structural only.
    pub(crate) fn decode(pt: &[u8]) -> Result<Entries, &'static str> {
        let mut r = pt;
        let count = u32::from_be_bytes(take::<4>(&mut r)?);
        // Each entry needs at least 1 + 1 + 2 + 1 + 4 bytes: a count the
        // buffer cannot hold is refused before any allocation.
        if (count as usize).saturating_mul(9) > r.len() {
            return Err("entry count exceeds the data");
        }
        let mut out = Entries::default();
        let mut prev: Option<Key> = None;
        for _ in 0..count {
            let app_len = usize::from(take::<1>(&mut r)?[0]);
            let app = std::str::from_utf8(split(&mut r, app_len)?).map_err(|_| "app id")?;
            let app = AppId::new(app).map_err(|_| "invalid app id")?;
            let name_len = usize::from(u16::from_be_bytes(take::<2>(&mut r)?));
            if name_len > MAX_NAME_LEN {
                return Err("entry name too long");
            }
            let name = std::str::from_utf8(split(&mut r, name_len)?).map_err(|_| "name")?;
            check_name(name)?;
            let value_len = u32::from_be_bytes(take::<4>(&mut r)?) as usize;
            if value_len > MAX_VALUE_LEN {
                return Err("entry value too long");
            }
            let value = split(&mut r, value_len)?;
            check_value(value)?;
            let key = (app, name.to_owned());
            if prev.as_ref().is_some_and(|p| p >= &key) {
                return Err("entries out of order or duplicated");
            }
            out.insert(&key.0, &key.1, Zeroizing::new(value.to_vec()));
            prev = Some(key);
        }
        if !r.is_empty() {
            return Err("trailing bytes");
        }
        Ok(out)
    }
}

fn split<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    if r.len() < n {
        return Err("truncated");
    }
    let (head, rest) = r.split_at(n);
    *r = rest;
    Ok(head)
}

fn take<const N: usize>(r: &mut &[u8]) -> Result<[u8; N], &'static str> {
    let mut out = [0u8; N];
    out.copy_from_slice(split(r, N)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(s: &str) -> AppId {
        AppId::new(s).unwrap()
    }

    fn sample() -> Entries {
        let mut e = Entries::default();
        e.insert(&app("b.app"), "x", Zeroizing::new(b"1".to_vec()));
        e.insert(&app("a.app"), "tok", Zeroizing::new(b"secret".to_vec()));
        e.insert(&app("a.app"), "empty", Zeroizing::new(Vec::new()));
        e
    }

    #[test]
    fn round_trip_keeps_entries_and_usage() {
        let e = sample();
        let enc = e.encode().unwrap();
        assert_eq!(enc.capacity(), enc.len());
        let d = Entries::decode(&enc).unwrap();
        assert_eq!(d.names(&app("a.app")), ["empty", "tok"]);
        assert_eq!(d.get(&app("a.app"), "tok").unwrap().as_slice(), b"secret");
        assert_eq!(
            d.app_usage(&app("a.app")),
            Usage {
                entries: 2,
                bytes: 14
            }
        );
        assert_eq!(
            d.total(),
            Usage {
                entries: 3,
                bytes: 16
            }
        );
        assert_eq!(
            Entries::decode(&Entries::default().encode().unwrap())
                .unwrap()
                .total(),
            Usage::default()
        );
    }

    #[test]
    fn usage_follows_replace_and_remove() {
        let mut e = sample();
        e.insert(&app("a.app"), "tok", Zeroizing::new(b"s".to_vec()));
        assert_eq!(
            e.app_usage(&app("a.app")),
            Usage {
                entries: 2,
                bytes: 9
            }
        );
        e.remove(&app("a.app"), "tok").unwrap();
        e.remove(&app("a.app"), "empty").unwrap();
        assert_eq!(e.app_usage(&app("a.app")), Usage::default());
        assert_eq!(
            e.total(),
            Usage {
                entries: 1,
                bytes: 2
            }
        );
        assert!(e.remove(&app("a.app"), "tok").is_none());
    }

    #[test]
    fn test_reject_truncated_or_trailing_plaintext() {
        let enc = sample().encode().unwrap();
        for cut in 0..enc.len() {
            assert!(Entries::decode(&enc[..cut]).is_err(), "cut {cut}");
        }
        let mut long = enc.to_vec();
        long.push(0);
        assert_eq!(Entries::decode(&long).err(), Some("trailing bytes"));
    }

    #[test]
    fn test_reject_noncanonical_or_invalid_plaintext() {
        let one = |app: &[u8], name: &[u8], value: &[u8]| {
            let mut v = vec![];
            v.extend_from_slice(&(app.len() as u8).to_be_bytes());
            v.extend_from_slice(app);
            v.extend_from_slice(&(name.len() as u16).to_be_bytes());
            v.extend_from_slice(name);
            v.extend_from_slice(&(value.len() as u32).to_be_bytes());
            v.extend_from_slice(value);
            v
        };
        let two = |a: Vec<u8>, b: Vec<u8>| [&2u32.to_be_bytes()[..], &a, &b].concat();
        let dup = two(one(b"a", b"n", b"1"), one(b"a", b"n", b"2"));
        assert!(Entries::decode(&dup).is_err());
        let unordered = two(one(b"b", b"n", b"1"), one(b"a", b"n", b"2"));
        assert!(Entries::decode(&unordered).is_err());
        let single = |e: Vec<u8>| [&1u32.to_be_bytes()[..], &e].concat();
        assert!(Entries::decode(&single(one(b"../x", b"n", b"1"))).is_err());
        assert!(Entries::decode(&single(one(b"a", b"\n", b"1"))).is_err());
        assert!(Entries::decode(&single(one(b"a", b"", b"1"))).is_err());
        assert!(Entries::decode(&single(one(b"a", &[0xff], b"1"))).is_err());
        assert!(Entries::decode(&single(one(b"a", b"n", &vec![0; MAX_VALUE_LEN + 1]))).is_err());
        assert!(Entries::decode(&u32::MAX.to_be_bytes()).is_err());
        assert!(Entries::decode(&single(one(b"a", b"n", b"1"))).is_ok());
    }

    #[test]
    fn aad_binds_instance_and_version() {
        let a = aad(&InstanceId::from_bytes([7; 16]));
        assert_eq!(a, [&b"nexus-vault/v2"[..], &[7; 16], b"\x00\x02"].concat());
        assert_ne!(a, aad(&InstanceId::from_bytes([8; 16])));
        let n = aad_name(&UserId::new("alice").unwrap());
        assert_eq!(n, b"nexus-vault/v1\x05alice\x00\x01");
        assert_ne!(n, aad_name(&UserId::new("alicf").unwrap()));
    }
}
