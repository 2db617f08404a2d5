//! The whole `nx` command line: parsing, output formats, exit statuses,
//! the offline commands for real, the online ones against fake services
//! that speak services.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod common;
mod keyfiles;
mod offline;
mod online;
mod parse;
mod tty;
