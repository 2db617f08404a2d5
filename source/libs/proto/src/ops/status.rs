//! `status`, which every service answers, and the empty map `{}`.

use crate::schema::{ops, wire_map};

wire_map!(reply
    /// `{}`: no arguments, or a reply that says only "done".
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    Empty {}
);

ops! {
    /// `status`: what the service is and how it runs.
    Status = "status" in any, capability none, callers [];
        args [= Empty]
        reply [
            #[derive(Debug, Clone, PartialEq, Eq)]
            StatusReply {
                /// The service's name.
                service: String,
                /// Whether it runs without a state directory.
                volatile: bool,
                /// Whether it was built with the test-only deterministic generator.
                insecure: bool,
                /// Its version.
                version: String,
                /// The records it found damaged (`state:/…` paths): the
                /// operations that need one fail with `EIO`, the rest
                /// serve. Absent when there are none.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                damaged: Option<Vec<String>>,
            }
        ]
}
