//! The commands, one module per area; each turns parsed arguments into
//! calls and reports through `Ctx`.

pub mod artifact;
pub mod attest;
pub mod audit;
pub mod bench;
pub mod identity;
pub mod key;
pub mod keyfmt;
pub mod manual;
pub mod prehash;
pub mod ssh;
pub mod status;
pub mod trust;
pub mod trust_files;
