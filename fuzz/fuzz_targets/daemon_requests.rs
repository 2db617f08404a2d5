//! Fuzz whole requests through every daemon's handler in process
//! (keymintd, keystored, identityd, attestd, bundlemgrd, updated and
//! nexus-init's `init.sock`): op names from the real op table, argument
//! maps of the right and wrong shapes, subjects of each kind, stored
//! records damaged between requests. See `nexus_fuzz::run` for what must
//! hold; run it with `-timeout` and `-rss_limit_mb` so that a superlinear
//! path or an unbounded allocation is reported too.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|plan: nexus_fuzz::plan::Plan| {
    nexus_fuzz::run::run(&plan);
});
