//! 128-bit random ids shown as 32 lowercase hex digits (session ids,
//! user instance ids): one definition of their form, so both parse and
//! print alike. Each type writes its own `Debug`.

/// 32 hex digits (either case) as 16 bytes.
pub(crate) fn parse(s: &str) -> Option<[u8; 16]> {
    let bytes = s.as_bytes();
    if bytes.len() != 32 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(out)
}

/// Define `$name([u8; 16])` with `from_bytes`, `as_bytes`, hex `Display`
/// and `FromStr` (error `$err`, message `$msg`), and serde as hex text.
macro_rules! hex16_id {
    ($(#[$doc:meta])* $name:ident, $(#[$edoc:meta])* $err:ident, $msg:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        $(#[$edoc])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error($msg)]
        pub struct $err;

        impl $name {
            /// Wrap 16 random bytes.
            pub fn from_bytes(b: [u8; 16]) -> Self {
                $name(b)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $crate::hex16::parse(s).map($name).ok_or($err)
            }
        }

        /// On the wire the id is its hex text.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use hex16_id;
