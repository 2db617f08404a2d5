//! Integration tests of the policy crate, in one binary: the capability
//! matrix (allow and deny with exact audit lines for every capability),
//! malformed policy files, fail-closed auditing, uid mapping and quotas,
//! and the shipped default policy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_failure;
mod capabilities;
mod common;
mod default_config;
mod mapping_and_quotas;
mod reject;
