//! The structured input of `daemon_requests` (libFuzzer's bytes through
//! `arbitrary`): a few steps, each one request to one daemon as one
//! subject, its op taken from the real op table and each declared
//! argument given the right shape, left out, given a wrong one, or given
//! a value at or past its size limit; plus surplus arguments, a repeat
//! count (to reach quotas and caps in one input) and, before it, an
//! optional damage to one of the daemon's stored records.
//!
//! Every recursive shape is flattened ([`Junk`] holds only [`Leaf`]s, and
//! depth is a number), so that decoding an input cannot recurse without
//! bound.

use arbitrary::Arbitrary;

/// Most steps of one input that are run.
pub const MAX_STEPS: usize = 12;

/// One input.
#[derive(Debug, Arbitrary)]
pub struct Plan {
    /// Well-formed requests first, to reach deep states in one choice.
    pub prelude: Prelude,
    /// The requests, in order (at most [`MAX_STEPS`] are run).
    pub steps: Vec<Step>,
}

/// Well-formed requests sent before the steps (see `crate::prelude`).
#[derive(Debug, Arbitrary)]
pub struct Prelude {
    /// A user made by `system:admin` and a session logged in by this
    /// subject (its `sid` then comes first for `sid` arguments).
    pub session: Option<Who>,
    /// Keys of this subject: a signing and a sealing key, a signature and
    /// a sealed blob.
    pub keys: Option<Who>,
    /// An installed root, an installed bundle and a staged update.
    pub artifacts: bool,
}

/// One request (or the same request repeated).
#[derive(Debug, Arbitrary)]
pub struct Step {
    /// Which op.
    pub op: OpPick,
    /// Which daemon gets it.
    pub to: To,
    /// As whom.
    pub who: Who,
    /// The declared arguments, in table order (missing plans: `Right(0)`).
    pub args: Vec<Arg>,
    /// Arguments the op does not declare.
    pub surplus: Vec<Surplus>,
    /// `0..=223`: once; above: `(n - 223) * 8` times, names varied.
    pub repeat: u8,
    /// A stored record damaged before the request.
    pub damage: Option<Damage>,
}

/// The op name.
#[derive(Debug, Arbitrary)]
pub enum OpPick {
    /// The n-th op of `nexus_proto::ops::all()` (modulo its length).
    Table(u8),
    /// Any name (usually not a valid op name, or unknown).
    Other(String),
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum To {
    /// The op's own service (keystored for `status`).
    Own,
    /// A given daemon, whatever the op.
    Daemon(Daemon),
}

/// The daemons (and nexus-init's `init.sock`) driven in process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Daemon {
    /// keymintd.
    Keymintd,
    /// keystored.
    Keystored,
    /// identityd.
    Identityd,
    /// attestd.
    Attestd,
    /// bundlemgrd.
    Bundlemgrd,
    /// updated.
    Updated,
    /// nexus-init's socket handler.
    Init,
}

/// The caller's subject (from its channel, never from the request).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Who {
    /// The op's natural caller: keymintd's ops their first caller,
    /// `vault.purge` identityd, anything else `system:admin`.
    Natural,
    /// `system:<name>`.
    System(SystemName),
    /// `app:<id>`.
    App(AppName),
    /// `uid:<n>`.
    Uid(UidName),
}

/// System subjects: the policy's, and one it does not know.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum SystemName {
    Admin,
    Selftest,
    Keystored,
    Identityd,
    Attestd,
    Bundlemgrd,
    Updated,
    Unknown,
}

/// App subjects: two of the shipped policy's, one with a tiny quota, one
/// unknown.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum AppName {
    Alpha,
    Beta,
    Tiny,
    Unknown,
}

/// Uid subjects: one the fuzz policy grants, one it does not know, root.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum UidName {
    Granted,
    Unknown,
    Root,
}

/// What one declared argument gets.
#[derive(Debug, Arbitrary)]
pub enum Arg {
    /// A right value (a dictionary value, or one a daemon produced earlier
    /// in the input); an optional argument is left out when `n >= 128`.
    Right(u8),
    /// Left out.
    Missing,
    /// Any value (usually of another CBOR type).
    Wrong(Junk),
    /// A value of the right type at or past a size limit.
    Big(Big),
}

/// A value of the right type whose size is `edge + delta`.
#[derive(Debug, Arbitrary)]
pub struct Big {
    /// The limit it is measured from.
    pub edge: Edge,
    /// How far from it.
    pub delta: i8,
    /// The byte it is filled with.
    pub fill: u8,
}

/// The size limits of the public edge (and a free one).
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Edge {
    Message,
    Plaintext,
    Sealed,
    Aad,
    VaultName,
    VaultValue,
    VaultFile,
    Label,
    Password,
    Frame,
    Small(u16),
}

/// An argument the op does not declare.
#[derive(Debug, Arbitrary)]
pub struct Surplus {
    /// Its name.
    pub name: SurplusName,
    /// Its value.
    pub value: Junk,
}

/// The name of a surplus argument.
#[derive(Debug, Arbitrary)]
pub enum SurplusName {
    /// Some argument name of the op table (of another op, or this op's
    /// own, which makes a duplicate key).
    Field(u8),
    /// Any text.
    Text(String),
}

/// A CBOR value of any shape.
#[derive(Debug, Arbitrary)]
pub enum Junk {
    Leaf(Leaf),
    Float(f64),
    Tag(u64, Leaf),
    Array(Vec<Leaf>),
    Map(Vec<(Leaf, Leaf)>),
    /// Arrays (or maps) nested `depth` deep.
    Deep {
        depth: u8,
        map: bool,
    },
    /// An array (or map) of `count` items.
    Many {
        count: u16,
        map: bool,
    },
}

/// A CBOR value that holds no other.
#[derive(Debug, Arbitrary)]
pub enum Leaf {
    Null,
    Bool(bool),
    Uint(u64),
    Neg(u64),
    Text(String),
    Bytes(Vec<u8>),
    /// A right value of the n-th argument name of the op table.
    Known(u8),
}

/// A damage to one stored record of a daemon.
#[derive(Debug, Arbitrary)]
pub struct Damage {
    /// Whose state.
    pub daemon: Daemon,
    /// Which record (the n-th of its listing, modulo its length).
    pub record: u8,
    /// What happens to it.
    pub how: Harm,
}

/// What happens to a damaged record.
#[derive(Debug, Arbitrary)]
pub enum Harm {
    Flip { at: u16, bits: u8 },
    Truncate(u16),
    Append(Vec<u8>),
    Replace(Vec<u8>),
    Delete,
}

impl Step {
    /// How many times the request is sent.
    pub fn times(&self) -> usize {
        match self.repeat {
            0..=223 => 1,
            n => usize::from(n - 223) * 8,
        }
    }
}
