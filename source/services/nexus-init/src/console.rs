//! The console: init's own markers and the children's stdout, interleaved
//! line by line on init's stdout.
//!
//! Invariants: every line is written whole, with its newline, under the
//! stdout lock and flushed at once, so markers from different children and
//! from init never interleave inside a line and reach the console in the
//! order they were produced. A failed console write is ignored: losing the
//! console must not take the supervisor (and every service) down with it.

use std::io::Write;

fn write_line(line: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(line)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

/// Print one of init's own markers (`init: …`).
pub fn say(msg: &str) {
    write_line(msg.as_bytes());
}

/// Forward one line of a child's stdout verbatim (without its line ending;
/// the newline is added back).
pub fn forward(line: &[u8]) {
    write_line(line);
}
