//! Support of the `daemon_requests` fuzz target: whole requests through
//! every daemon's handler, in process.
//!
//! - [`fixtures`]: the policy, trust directory and artifacts shared by
//!   every input (made once per process).
//! - [`stack`]: one input's daemons, built over volatile state and wired
//!   to each other through [`inproc`] routes.
//! - [`plan`]: the structured input (`arbitrary`), [`values`]: the
//!   argument values it names, [`pool`]: what the daemons produced earlier
//!   in the input, [`prelude`]: well-formed requests that reach deep
//!   states first.
//! - [`run`]: one input, and the properties checked on every request.

pub mod fixtures;
pub mod inproc;
pub mod plan;
pub mod pool;
pub mod prelude;
pub mod run;
pub mod stack;
pub mod values;
