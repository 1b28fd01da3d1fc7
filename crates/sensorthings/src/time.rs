//! ISO 8601 instants and intervals <-> microseconds since the epoch (UTC), as stored.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// Microseconds of a date-time.
pub fn micros<Tz: TimeZone>(t: &DateTime<Tz>) -> i64 {
    t.timestamp_micros()
}

/// Parses an instant (`2016-01-01T00:00:00Z`, with offset or fraction).
pub fn parse_instant(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(micros(&t));
    }
    // Lenient: no seconds, or no offset (read as UTC).
    for f in [
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(micros(&t));
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    None
}

/// Parses an instant or an interval `start/end`; the end is `None` for an instant.
pub fn parse_time(s: &str) -> Option<(i64, Option<i64>)> {
    match s.split_once('/') {
        Some((a, b)) => {
            let a = parse_instant(a)?;
            let b = parse_instant(b)?;
            (a <= b).then_some((a, Some(b)))
        }
        None => parse_instant(s).map(|a| (a, None)),
    }
}

/// Formats microseconds as ISO 8601 UTC (`2016-01-01T00:00:00Z`, fractions only when set).
pub fn format(us: i64) -> String {
    match Utc.timestamp_micros(us).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => String::new(),
    }
}

/// Formats an instant or an interval.
pub fn format_time(start: i64, end: Option<i64>) -> String {
    match end {
        Some(e) => format!("{}/{}", format(start), format(e)),
        None => format(start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let (a, b) = parse_time("2016-01-01T00:00:00Z/2016-01-02T00:00:00.5+01:00").unwrap();
        assert_eq!(
            format_time(a, b),
            "2016-01-01T00:00:00Z/2016-01-01T23:00:00.500Z"
        );
        assert!(parse_time("2016-01-02T00:00:00Z/2016-01-01T00:00:00Z").is_none());
        assert!(parse_instant("gestern").is_none());
    }
}
