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
    let mut out = String::with_capacity(27);
    write_instant(&mut out, us);
    out
}

/// Microseconds of 0000-01-01T00:00:00Z and of 10000-01-01T00:00:00Z: the range that
/// [`write_instant`] formats by hand (four-digit years); outside it chrono does.
const FAST_MIN: i64 = -62_167_219_200_000_000;
const FAST_END: i64 = 253_402_300_800_000_000;

/// Appends microseconds as ISO 8601 UTC to `out`, exactly as chrono's
/// `to_rfc3339_opts(SecondsFormat::AutoSi, true)` writes them (no fraction when the second is
/// whole, else 3 or 6 digits), without chrono's formatting machinery for the common years
/// 0000–9999: this runs for every time value of every rendered entity.
pub fn write_instant(out: &mut String, us: i64) {
    if !(FAST_MIN..FAST_END).contains(&us) {
        if let Some(t) = Utc.timestamp_micros(us).single() {
            out.push_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        return;
    }
    let days = us.div_euclid(86_400_000_000);
    let in_day = us.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1_000_000;
    let frac = in_day % 1_000_000;
    let mut buf = [0u8; 27];
    put(&mut buf[0..4], y as u32);
    buf[4] = b'-';
    put(&mut buf[5..7], m);
    buf[7] = b'-';
    put(&mut buf[8..10], d);
    buf[10] = b'T';
    put(&mut buf[11..13], (secs / 3600) as u32);
    buf[13] = b':';
    put(&mut buf[14..16], (secs / 60 % 60) as u32);
    buf[16] = b':';
    put(&mut buf[17..19], (secs % 60) as u32);
    let len = if frac == 0 {
        19
    } else if frac % 1000 == 0 {
        buf[19] = b'.';
        put(&mut buf[20..23], (frac / 1000) as u32);
        23
    } else {
        buf[19] = b'.';
        put(&mut buf[20..26], frac as u32);
        26
    };
    buf[len] = b'Z';
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(&buf[..=len]).expect("ASCII"));
}

/// Writes `n` as decimal digits filling `dst` (zero-padded on the left).
fn put(dst: &mut [u8], mut n: u32) {
    for b in dst.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01), after Howard
/// Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats an instant or an interval.
pub fn format_time(start: i64, end: Option<i64>) -> String {
    let mut out = String::with_capacity(55);
    write_time(&mut out, start, end);
    out
}

/// Appends an instant or an interval (`start/end`) to `out`.
pub fn write_time(out: &mut String, start: i64, end: Option<i64>) {
    write_instant(out, start);
    if let Some(e) = end {
        out.push('/');
        write_instant(out, e);
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

    /// The hand-written formatter writes exactly what chrono writes.
    #[test]
    fn fast_format_matches_chrono() {
        let chrono_fmt = |us: i64| {
            Utc.timestamp_micros(us)
                .single()
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                .unwrap_or_default()
        };
        let mut samples = vec![
            0,
            1,
            -1,
            999,
            1_000,
            500_000,
            1_451_606_400_000_000,
            951_782_400_000_000,
            FAST_MIN,
            FAST_MIN - 1,
            FAST_END - 1,
            FAST_END,
            i64::MIN,
            i64::MAX,
        ];
        // A pseudo-random walk over ±10,000 years with every kind of fraction.
        let mut x: i64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let us = x % 320_000_000_000_000_000;
            samples.extend([us, us - us % 1_000, us - us % 1_000_000]);
        }
        for us in samples {
            assert_eq!(format(us), chrono_fmt(us), "{us}");
        }
    }
}
