//! Every op of every service, one module per family. Each module's `OPS`
//! lists its ops; [`all`] is the whole table.

pub mod artifacts;
pub mod attest;
pub mod identity;
pub mod import;
pub mod init;
pub mod key_delete;
pub mod keymint;
pub mod keys;
pub mod state_keys;
pub mod status;
pub mod trust;
pub mod vault;

use crate::schema::OpInfo;

/// The whole op table: `status`, then each service's ops in the order of
/// docs/architecture/services.md.
pub fn all() -> Vec<OpInfo> {
    [
        status::OPS,
        keymint::OPS,
        state_keys::OPS,
        keys::OPS,
        key_delete::OPS,
        import::OPS,
        vault::OPS,
        trust::OPS,
        identity::OPS,
        attest::OPS,
        artifacts::OPS,
        init::OPS,
    ]
    .concat()
}

/// The op named `name` (for `status`, the one every service answers).
pub fn find(name: &str) -> Option<OpInfo> {
    all().into_iter().find(|o| o.name == name)
}
