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

/// Whether a child's line may reach the console. Only the supervisor
/// speaks as `init:` or tells where the stack is (`NEXUS_RUN=…`); a child
/// line that imitates one of init's markers (which the harness trusts) or
/// its export line (which a script may take) is dropped.
pub fn child_line_allowed(line: &[u8]) -> bool {
    !line.starts_with(b"init:") && !line.starts_with(b"NEXUS_RUN=")
}

/// Forward one line of a child's stdout verbatim (without its line ending;
/// the newline is added back), unless it imitates an init marker.
pub fn forward(line: &[u8]) {
    if child_line_allowed(line) {
        write_line(line);
    } else {
        eprintln!("nexus-init: dropped a child line that imitates an init marker");
    }
}

#[cfg(test)]
mod tests {
    use super::child_line_allowed;

    #[test]
    fn test_reject_child_lines_that_imitate_init() {
        assert!(!child_line_allowed(b"init: ready"));
        assert!(!child_line_allowed(b"init:up keystored"));
        assert!(child_line_allowed(b"keystored: ready"));
        assert!(child_line_allowed(b"SELFTEST: keystore v1.1 sign ok"));
        assert!(child_line_allowed(b" init: ready"));
        assert!(!child_line_allowed(
            b"NEXUS_RUN=/tmp/evil; export NEXUS_RUN;"
        ));
    }
}
