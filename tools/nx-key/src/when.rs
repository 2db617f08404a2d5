//! Times on the command line and in nx's text output.
//!
//! Out: ISO 8601 in UTC, to the second (`2026-03-01T12:00:00Z`), and
//! `never` for a trust root without expiry. `--json` keeps seconds since
//! the Unix epoch (numbers are what programs compare).
//!
//! In ([`TimeArg`]): an RFC 3339 time (`2027-01-01T00:00:00Z`, any UTC
//! offset), a date (`2027-01-01`, midnight UTC), a duration from now
//! (`90d`, `12h`, `1y 6months`, `+30m`), seconds since the Unix epoch (a
//! bare number, as before), `now`, or `never` (for an end of validity).
//! Durations ([`DurationArg`]): `300` (seconds) or `5m`, `2h`, `7d`.
//!
//! Invariant: a value that is none of these is a usage error naming the
//! accepted forms; nothing is guessed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What a root's `not_after` holds when it has no expiry (the largest
/// value the trust store accepts).
pub const NO_EXPIRY: u64 = i64::MAX.unsigned_abs();

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `secs` as ISO 8601 UTC (`2026-03-01T12:00:00Z`); a time past year 9999
/// as `@<secs>`.
pub fn iso(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .filter(|t| t.year() <= 9999)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("@{secs}"))
}

/// An end of validity: `never` for [`NO_EXPIRY`] (or anything past year
/// 9999), else [`iso`].
pub fn until(secs: u64) -> String {
    let text = iso(secs);
    if secs == NO_EXPIRY || text.starts_with('@') {
        "never".to_owned()
    } else {
        text
    }
}

const TIME_FORMS: &str = "an RFC 3339 time (2027-01-01T00:00:00Z), a date (2027-01-01), \
a duration from now (90d, 12h, 1y), seconds since the epoch, now or never";

/// A point in time as given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// Seconds since the Unix epoch.
    At(u64),
    /// This long after now.
    In(Duration),
    /// No end (`never`).
    Never,
}

impl TimeArg {
    /// Seconds since the Unix epoch, with `now` for a duration.
    pub fn resolve(self, now: u64) -> u64 {
        match self {
            TimeArg::At(s) => s,
            TimeArg::In(d) => now.saturating_add(d.as_secs()),
            TimeArg::Never => NO_EXPIRY,
        }
    }
}

impl std::str::FromStr for TimeArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let bad = || format!("`{s}` is not a time: give {TIME_FORMS}");
        match t {
            "never" => return Ok(TimeArg::Never),
            "now" => return Ok(TimeArg::In(Duration::ZERO)),
            _ => {}
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t.parse().map(TimeArg::At).map_err(|_| bad());
        }
        if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
            return u64::try_from(dt.unix_timestamp())
                .map(TimeArg::At)
                .map_err(|_| bad());
        }
        if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
            let midnight = format!("{t}T00:00:00Z");
            if let Ok(dt) = OffsetDateTime::parse(&midnight, &Rfc3339) {
                return u64::try_from(dt.unix_timestamp())
                    .map(TimeArg::At)
                    .map_err(|_| bad());
            }
        }
        let d = t.strip_prefix('+').unwrap_or(t);
        humantime::parse_duration(d)
            .map(TimeArg::In)
            .map_err(|_| bad())
    }
}

/// A length of time as given on the command line: seconds, or a duration
/// such as `5m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationArg(pub Duration);

impl std::str::FromStr for DurationArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return t
                .parse()
                .map(|n| DurationArg(Duration::from_secs(n)))
                .map_err(|_| format!("`{s}` is too large"));
        }
        humantime::parse_duration(t)
            .map(DurationArg)
            .map_err(|_| format!("`{s}` is not a duration: give seconds (300) or 5m, 2h, 7d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_iso_8601_utc_and_never() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(until(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(until(NO_EXPIRY), "never");
        assert_eq!(iso(NO_EXPIRY), format!("@{NO_EXPIRY}"));
    }

    #[test]
    fn times_parse_in_every_documented_form() {
        let p = |s: &str| s.parse::<TimeArg>().unwrap().resolve(1_000);
        assert_eq!(p("1893456000"), 1_893_456_000);
        assert_eq!(p("2030-01-01T00:00:00Z"), 1_893_456_000);
        assert_eq!(p("2030-01-01T02:00:00+02:00"), 1_893_456_000);
        assert_eq!(p("2030-01-01"), 1_893_456_000);
        assert_eq!(p("90d"), 1_000 + 90 * 86_400);
        assert_eq!(p("+12h"), 1_000 + 12 * 3_600);
        assert_eq!(p("1h 30m"), 1_000 + 5_400);
        assert_eq!(p("now"), 1_000);
        assert_eq!(p("never"), NO_EXPIRY);
        assert_eq!(
            "300".parse::<DurationArg>().unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            "5m".parse::<DurationArg>().unwrap().0,
            Duration::from_secs(300)
        );
    }

    #[test]
    fn test_reject_times_and_durations_in_no_known_form() {
        for bad in [
            "",
            "yesterday",
            "2030-13-01",
            "2030-01-01T00:00:00",
            "-5",
            "90q",
            "1.5",
        ] {
            let e = bad.parse::<TimeArg>().unwrap_err();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
        for bad in ["", "5 minutes ago", "-1", "x"] {
            assert!(bad.parse::<DurationArg>().is_err(), "{bad}");
        }
    }
}
