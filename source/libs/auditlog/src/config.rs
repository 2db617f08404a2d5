//! How a journal makes lines durable and how much disk it may use.
//!
//! The defaults are sized for the QEMU image, whose `/state` is a 64 MiB
//! disk shared by six daemons: 512 KiB per file and 3 rotated files kept
//! is at most 2 MiB per daemon (the current file may pass its size by one
//! line), 12 MiB for all six.

use std::time::Duration;

/// The default group-commit window: lines of read-only decisions are on
/// stable storage at most this long after they were written.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(20);
/// The default size at which `<svc>.jsonl` is rotated.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 512 * 1024;
/// The default number of rotated files kept besides the current one.
pub const DEFAULT_KEEP_FILES: u32 = 3;

/// When a written line reaches stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// Never synced by the journal (volatile mode: the log is a diagnostic
    /// in the run directory, like the state it describes).
    Buffered,
    /// Group commit: a background flusher runs one `fdatasync` for every
    /// line written within the window. Callers that need a line durable
    /// before they go on (state changes) wait for it
    /// ([`crate::Journal::wait_durable`]) and share a sync with others.
    Group(Duration),
    /// Every append waits for an `fdatasync` covering its line (concurrent
    /// appends may share one): one sync per decision at most.
    Sync,
}

impl FlushMode {
    /// Parse `group`, `group:<ms>`, `sync` or `buffered`.
    pub fn parse(s: &str) -> Option<FlushMode> {
        match s {
            "sync" => Some(FlushMode::Sync),
            "buffered" => Some(FlushMode::Buffered),
            "group" => Some(FlushMode::Group(DEFAULT_WINDOW)),
            _ => {
                let ms: u64 = s.strip_prefix("group:")?.parse().ok()?;
                (1..=10_000)
                    .contains(&ms)
                    .then(|| FlushMode::Group(Duration::from_millis(ms)))
            }
        }
    }
}

/// A journal's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    /// Durability of appended lines.
    pub flush: FlushMode,
    /// Rotate `<svc>.jsonl` once it holds this many bytes (at least 4 KiB).
    pub max_file_bytes: u64,
    /// Rotated files kept; older ones are deleted (unless a state root
    /// still needs them, see [`crate::Journal::set_pin`]).
    pub keep_files: u32,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            flush: FlushMode::Group(DEFAULT_WINDOW),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            keep_files: DEFAULT_KEEP_FILES,
        }
    }
}

impl JournalConfig {
    /// The most bytes the logs of one service occupy in steady state: the
    /// current file (one line past its size at most) and the kept ones.
    pub fn disk_cap(&self) -> u64 {
        self.max_file_bytes
            .saturating_mul(u64::from(self.keep_files) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_modes_parse() {
        assert_eq!(FlushMode::parse("sync"), Some(FlushMode::Sync));
        assert_eq!(
            FlushMode::parse("group"),
            Some(FlushMode::Group(DEFAULT_WINDOW))
        );
        assert_eq!(
            FlushMode::parse("group:5"),
            Some(FlushMode::Group(Duration::from_millis(5)))
        );
        assert_eq!(FlushMode::parse("buffered"), Some(FlushMode::Buffered));
    }

    #[test]
    fn test_reject_bad_flush_modes() {
        for bad in [
            "",
            "Sync",
            "group:",
            "group:0",
            "group:-1",
            "group:10001",
            "group:x",
        ] {
            assert_eq!(FlushMode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn default_cap_fits_the_qemu_disk() {
        let c = JournalConfig::default();
        assert_eq!(c.disk_cap(), 2 * 1024 * 1024);
        // Six daemons use at most 12 MiB of the 64 MiB disk for audit.
        assert!(6 * c.disk_cap() <= 12 * 1024 * 1024);
    }
}
