//! The op table's vocabulary and the macros that define ops.
//!
//! Every op is declared once, with [`ops!`](crate::schema::ops): its name,
//! the service that serves it, who may call it (capability or caller
//! list), and its argument and reply structs. The macro derives the serde
//! impls of the structs and the [`OpInfo`] entry of the op table from the
//! same tokens, so the table cannot drift from the types: each field's CBOR
//! type and optionality come from its Rust type through [`WireField`].
//!
//! Invariants:
//! - An argument struct omits an absent optional field from the map; a
//!   reply struct writes an absent optional field as `null` (the documented
//!   reply shapes always carry every field), unless the field says
//!   otherwise.
//! - Map keys are written in the order the fields are declared, which is
//!   the order docs/architecture/services.md documents.

use nexus_core::Capability;
use std::fmt;

/// The services of the protocol (`status` is answered by every one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// keymintd (private: keystored and identityd only).
    Keymintd,
    /// keystored: keys, vault, trust store, device info.
    Keystored,
    /// identityd: users and sessions.
    Identityd,
    /// attestd: attestation tokens.
    Attestd,
    /// bundlemgrd: signed bundles.
    Bundlemgrd,
    /// updated: signed system updates.
    Updated,
    /// nexus-init's own socket (`<run>/init.sock`): the supervisor's view.
    NexusInit,
}

impl Service {
    /// Every service, in the order services.md describes them.
    pub const ALL: [Service; 7] = [
        Service::Keymintd,
        Service::Keystored,
        Service::Identityd,
        Service::Attestd,
        Service::Bundlemgrd,
        Service::Updated,
        Service::NexusInit,
    ];

    /// The service's name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Keymintd => "keymintd",
            Service::Keystored => "keystored",
            Service::Identityd => "identityd",
            Service::Attestd => "attestd",
            Service::Bundlemgrd => "bundlemgrd",
            Service::Updated => "updated",
            Service::NexusInit => "nexus-init",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field's CBOR type, in the words of services.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text string (major type 3).
    Text,
    /// Byte string (major type 2).
    Bytes,
    /// Unsigned integer (major type 0).
    Uint,
    /// `true` / `false`.
    Bool,
    /// Map (major type 5).
    Map,
    /// Array (major type 4).
    Array,
}

impl Kind {
    /// The word services.md uses for this type.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Bytes => "bytes",
            Kind::Uint => "uint",
            Kind::Bool => "bool",
            Kind::Map => "map",
            Kind::Array => "array",
        }
    }
}

/// What the op table says about one field of an argument or reply map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldInfo {
    /// The map key.
    pub name: &'static str,
    /// Its CBOR type.
    pub kind: Kind,
    /// Whether it may be absent (arguments) or `null` (replies).
    pub optional: bool,
}

/// One entry of the op table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpInfo {
    /// The op name on the wire.
    pub name: &'static str,
    /// The service that serves it; `None` for `status`, which every
    /// service answers.
    pub service: Option<Service>,
    /// The capability the service asks the policy for, if any.
    pub capability: Option<Capability>,
    /// Capabilities asked for in addition when a `bool` argument is
    /// `true` (`force` asks for `identity.artifact.force`).
    pub when_set: &'static [ArgCapability],
    /// For keymintd's ops: the only subjects (`system:<name>`) that may
    /// call it. Empty: whoever the service admits.
    pub callers: &'static [&'static str],
    /// The argument map.
    pub args: &'static [FieldInfo],
    /// The `ok` map.
    pub reply: &'static [FieldInfo],
}

/// A capability an op also needs when one of its `bool` arguments is
/// `true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCapability {
    /// The argument.
    pub arg: &'static str,
    /// What it then also needs.
    pub capability: Capability,
}

/// The Rust side of one op: its name, its table entry, its types.
pub trait Op {
    /// The op name on the wire.
    const NAME: &'static str;
    /// Its entry in the op table.
    const INFO: OpInfo;
    /// The argument map.
    type Args: serde::Serialize + serde::de::DeserializeOwned;
    /// The `ok` value.
    type Reply: serde::Serialize + serde::de::DeserializeOwned;
}

/// A type that can be a field of a protocol map: its CBOR type and
/// whether it is optional.
pub trait WireField {
    /// The CBOR type.
    const KIND: Kind;
    /// Whether the field may be absent (or `null` in a reply).
    const OPTIONAL: bool = false;
    /// Whether this value is absent (an argument map then omits it).
    fn absent(&self) -> bool {
        false
    }
}

/// A map the protocol defines (an argument map, a reply, or a map inside
/// one): its fields, in wire order.
pub trait Shape {
    /// The fields, in the order they are written.
    const FIELDS: &'static [FieldInfo];
}

/// For `skip_serializing_if`: an absent optional argument is left out.
pub(crate) fn absent<T: WireField>(v: &T) -> bool {
    v.absent()
}

impl<T: WireField> WireField for Option<T> {
    const KIND: Kind = T::KIND;
    const OPTIONAL: bool = true;
    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> WireField for Vec<T> {
    const KIND: Kind = Kind::Array;
}

macro_rules! wire_kind {
    ($kind:ident: $($t:ty),+ $(,)?) => {
        $(impl $crate::schema::WireField for $t {
            const KIND: $crate::schema::Kind = $crate::schema::Kind::$kind;
        })+
    };
}
wire_kind!(Text: String, nexus_core::AppId, nexus_core::Label, nexus_core::UserId,
    nexus_core::SessionId, nexus_core::InstanceId, nexus_core::Kid);
wire_kind!(Uint: u64, u32, std::num::NonZeroU32);
wire_kind!(Bool: bool);
wire_kind!(Map: nexus_core::CustomClaims);

/// Define a protocol map: the struct, its serde derives and its
/// [`Shape`]. `args` maps leave absent optional fields out; `reply` maps
/// write them as `null`.
macro_rules! wire_map {
    (args $(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(skip_serializing_if = "crate::schema::absent")]
                pub $f: $t,
            )*
        }
        $crate::schema::wire_map!(@shape $name { $($f: $t),* });
    };
    (reply $(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $(
                $(#[$fm])*
                pub $f: $t,
            )*
        }
        $crate::schema::wire_map!(@shape $name { $($f: $t),* });
    };
    (@shape $name:ident { $($f:ident : $t:ty),* }) => {
        impl $crate::schema::Shape for $name {
            const FIELDS: &'static [$crate::schema::FieldInfo] = &[$(
                $crate::schema::FieldInfo {
                    name: stringify!($f),
                    kind: <$t as $crate::schema::WireField>::KIND,
                    optional: <$t as $crate::schema::WireField>::OPTIONAL,
                },
            )*];
        }
        impl $crate::schema::WireField for $name {
            const KIND: $crate::schema::Kind = $crate::schema::Kind::Map;
        }
    };
}
pub(crate) use wire_map;

/// Define ops: for each, a marker type implementing [`Op`], its argument
/// and reply maps (defined here with `[Name { fields }]`, or an existing
/// map named with `[= Type]`), and the module's op list `OPS`.
///
/// ```text
/// ops! {
///     /// doc
///     KeySign = "key.sign" in Keystored, capability KeySign, callers [];
///     // or, for a capability also needed when a bool argument is true:
///     // capability BundleInstall + force => ArtifactForce, callers [];
///         args [#[derive(Debug)] KeySignArgs { purpose: Label, name: Label, msg: Bytes }]
///         reply [#[derive(Debug)] KeySignReply { sig: Bytes, kid: Kid, version: u32 }]
/// }
/// ```
macro_rules! ops {
    ($(
        $(#[$doc:meta])*
        $op:ident = $wire:literal in $svc:ident, capability $cap:ident $(+ $carg:ident => $ccap:ident)*, callers [$($caller:literal),*];
            args $args:tt
            reply $reply:tt
    )*) => {
        $(
            $crate::schema::ops!(@map args $args);
            $crate::schema::ops!(@map reply $reply);

            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $op;

            impl $crate::schema::Op for $op {
                const NAME: &'static str = $wire;
                const INFO: $crate::schema::OpInfo = $crate::schema::OpInfo {
                    name: $wire,
                    service: $crate::schema::ops!(@svc $svc),
                    capability: $crate::schema::ops!(@cap $cap),
                    when_set: &[$($crate::schema::ArgCapability {
                        arg: stringify!($carg),
                        capability: nexus_core::Capability::$ccap,
                    }),*],
                    callers: &[$($caller),*],
                    args: <$crate::schema::ops!(@ty $args) as $crate::schema::Shape>::FIELDS,
                    reply: <$crate::schema::ops!(@ty $reply) as $crate::schema::Shape>::FIELDS,
                };
                type Args = $crate::schema::ops!(@ty $args);
                type Reply = $crate::schema::ops!(@ty $reply);
            }
        )*

        /// This module's ops, in definition order.
        pub(crate) const OPS: &[$crate::schema::OpInfo] = &[$(<$op as $crate::schema::Op>::INFO),*];
    };
    (@map $flavor:ident [= $t:ty]) => {};
    (@map $flavor:ident [$($def:tt)*]) => { $crate::schema::wire_map!($flavor $($def)*); };
    (@ty [= $t:ty]) => { $t };
    (@ty [$(#[$m:meta])* $name:ident { $($body:tt)* }]) => { $name };
    (@svc any) => { None };
    (@svc $s:ident) => { Some($crate::schema::Service::$s) };
    (@cap none) => { None };
    (@cap $c:ident) => { Some(nexus_core::Capability::$c) };
}
pub(crate) use ops;
