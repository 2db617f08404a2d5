//! `key.delete`: the one op that ends a key for good. Kept apart from the
//! other key ops so that the ops added next to it stay separate changes.

use super::keys::KeyArgs;
use super::status::Empty;
use crate::schema::ops;

ops! {
    /// `key.delete`: remove the key's record and every wrapped version,
    /// freeing its quota and its name. Another subject's key (a service's
    /// included, whoever asks) is `EPERM`.
    KeyDelete = "key.delete" in Keystored, capability KeyDelete, callers [];
        args [= KeyArgs]
        reply [= Empty]
}
