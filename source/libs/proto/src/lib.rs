//! nexus-proto: the typed protocol schema every service and every client
//! of the Nexus identity subsystem share.
//!
//! Each op of docs/architecture/services.md is declared once (in
//! [`ops`]), with its argument map and its `ok` map as Rust types: serde
//! over the CBOR of docs/architecture/wire.md. The same declaration yields
//! the op table ([`OpInfo`], [`ops::all`]): name, service, capability,
//! callers, and each field's CBOR type and optionality. A test checks that
//! table against services.md.
//!
//! - Servers answer a known op with [`serve`]: the arguments are decoded
//!   with the documented `EINVAL` messages (``missing argument `X` ``,
//!   ``argument `X` must be a byte string``, ``argument `X` is invalid``,
//!   ``unexpected argument `X` ``), the handler gets the typed value, its
//!   typed reply is encoded.
//! - Clients build the request with [`encode_args`] and read the reply
//!   with [`decode_reply`] (a reply of the wrong shape is a
//!   [`ReplyError`], `EIO`).
//!
//! Invariants:
//! - The wire bytes are exactly what wire.md specifies: byte strings are
//!   CBOR byte strings (major type 2), map keys come in the documented
//!   order, an absent optional argument is left out, an absent optional
//!   reply field is `null`.
//! - Secrets (passwords, auth secrets, plaintexts, vault values, imported
//!   private keys) are
//!   [`Secret`] / [`SecretText`]: no Debug, no Clone, zeroized on drop.
//! - Error messages name fields, never values.

#![forbid(unsafe_code)]

mod codec;
mod de;
pub mod limits;
pub mod ops;
pub mod schema;
mod types;

pub use codec::{
    answer, decode_args, decode_reply, encode_args, encode_reply, serve, EncodeError, ReplyError,
};
pub use schema::{ArgCapability, FieldInfo, Kind, Op, OpInfo, Service, Shape, WireField};
pub use types::{
    Alg, Bytes, KeyState, KmSessionState, Prehash, RootSource, RootStatus, Secret, SecretText,
    SessionState, Slot, TextList, VersionState,
};

pub use ops::artifacts::*;
pub use ops::attest::*;
pub use ops::identity::*;
pub use ops::import::*;
pub use ops::init::*;
pub use ops::key_delete::*;
pub use ops::keymint::*;
pub use ops::keys::*;
pub use ops::state_keys::*;
pub use ops::status::*;
pub use ops::trust::*;
pub use ops::vault::*;
