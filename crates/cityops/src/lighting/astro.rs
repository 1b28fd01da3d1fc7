//! The astronomical clock: sunrise, sunset and civil twilight at a place, and the night plan
//! of a schedule — when a circuit switches on, dims, returns to full light and switches off.
//!
//! The sun's position comes from the `spa` crate (the PSA algorithm, accurate to half a minute
//! of arc); an event is the instant the sun's centre crosses its zenith angle — 90.833° for
//! sunrise and sunset (the upper limb on the horizon, with standard refraction), 96° for civil
//! dawn and dusk — found by bisection to the second between solar noon and midnight.
//!
//! A *night* belongs to the local calendar day on whose evening it begins: the night of
//! 24 December runs from the evening of the 24th to the morning of the 25th. Dimming windows
//! are given in local time (Europe/Berlin, with summer time); a window start from noon on
//! lies on the evening's day, an end before noon on the next morning.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;

/// The sun's events of one calendar day at a place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SunTimes {
    pub civil_dawn: DateTime<Utc>,
    pub sunrise: DateTime<Utc>,
    pub sunset: DateTime<Utc>,
    pub civil_dusk: DateTime<Utc>,
}

/// `f64` operations for `spa` (built without its `std` feature).
enum Ops {}

impl spa::FloatOps for Ops {
    fn sin(x: f64) -> f64 {
        x.sin()
    }
    fn cos(x: f64) -> f64 {
        x.cos()
    }
    fn tan(x: f64) -> f64 {
        x.tan()
    }
    fn asin(x: f64) -> f64 {
        x.asin()
    }
    fn acos(x: f64) -> f64 {
        x.acos()
    }
    fn atan(x: f64) -> f64 {
        x.atan()
    }
    fn atan2(y: f64, x: f64) -> f64 {
        y.atan2(x)
    }
    fn trunc(x: f64) -> f64 {
        x.trunc()
    }
}

/// Zenith angle of the sun's centre at sunrise and sunset.
const ZENITH_RISE_SET: f64 = 90.0 + 50.0 / 60.0;
/// Zenith angle at civil dawn and dusk (6° below the horizon).
const ZENITH_CIVIL: f64 = 96.0;

fn zenith(lat: f64, lon: f64, t: DateTime<Utc>) -> Option<f64> {
    spa::solar_position::<Ops>(t, lat, lon)
        .ok()
        .map(|p| p.zenith_angle)
}

/// The instant in `[a, b]` at which the zenith angle crosses `target`, if it does: the zenith
/// angle must be below the target at one end and above it at the other.
fn crossing(
    lat: f64,
    lon: f64,
    a: DateTime<Utc>,
    b: DateTime<Utc>,
    target: f64,
) -> Option<DateTime<Utc>> {
    let (mut lo, mut hi) = (a, b);
    let below_at_lo = zenith(lat, lon, lo)? < target;
    if below_at_lo == (zenith(lat, lon, hi)? < target) {
        return None;
    }
    while hi - lo > Duration::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if (zenith(lat, lon, mid)? < target) == below_at_lo {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(lo + (hi - lo) / 2)
}

/// Sun events of `date` at `lat`/`lon`; `None` where the sun does not rise or set (polar day
/// or night) or the coordinates are invalid.
pub fn sun_times(lat: f64, lon: f64, date: NaiveDate) -> Option<SunTimes> {
    // Mean solar noon; the true one differs by the equation of time (at most 17 minutes), far
    // above every event's zenith angle, so each half-day holds exactly one crossing.
    let noon = Utc.from_utc_datetime(&date.and_time(NaiveTime::from_hms_opt(12, 0, 0)?))
        - Duration::seconds((lon * 240.0) as i64);
    let (morning, evening) = (noon - Duration::hours(12), noon + Duration::hours(12));
    Some(SunTimes {
        civil_dawn: crossing(lat, lon, morning, noon, ZENITH_CIVIL)?,
        sunrise: crossing(lat, lon, morning, noon, ZENITH_RISE_SET)?,
        sunset: crossing(lat, lon, noon, evening, ZENITH_RISE_SET)?,
        civil_dusk: crossing(lat, lon, noon, evening, ZENITH_CIVIL)?,
    })
}

/// Evening events a schedule can switch on at.
pub const ON_EVENTS: [&str; 2] = ["sunset", "civil_dusk"];
/// Morning events a schedule can switch off at.
pub const OFF_EVENTS: [&str; 2] = ["sunrise", "civil_dawn"];

/// What a schedule says for one night, after its calendar override.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub on_event: String,
    pub on_offset_min: i64,
    pub off_event: String,
    pub off_offset_min: i64,
    /// Local dimming window `(start, end)`, if any.
    pub dim: Option<(NaiveTime, NaiveTime)>,
    /// Light level while dimmed, per cent of full power.
    pub dim_percent: i64,
}

/// The switching times of one night.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Night {
    /// The local calendar day on whose evening the night begins.
    pub day: NaiveDate,
    pub on: DateTime<Utc>,
    pub off: DateTime<Utc>,
    /// Dimmed period, clipped to the burning period; none without dimming.
    pub dim_from: Option<DateTime<Utc>>,
    pub dim_to: Option<DateTime<Utc>>,
    pub dim_percent: i64,
}

impl Night {
    /// Hours the lights burn.
    pub fn burn_hours(&self) -> f64 {
        (self.off - self.on).num_seconds().max(0) as f64 / 3600.0
    }

    /// Hours the lights burn dimmed.
    pub fn dim_hours(&self) -> f64 {
        match (self.dim_from, self.dim_to) {
            (Some(a), Some(b)) => (b - a).num_seconds().max(0) as f64 / 3600.0,
            _ => 0.0,
        }
    }

    /// Light level at `t` in per cent of full power: 0 when off.
    pub fn level_at(&self, t: DateTime<Utc>) -> i64 {
        if t < self.on || t >= self.off {
            return 0;
        }
        match (self.dim_from, self.dim_to) {
            (Some(a), Some(b)) if t >= a && t < b => self.dim_percent,
            _ => 100,
        }
    }

    /// The instants the level changes.
    pub fn switch_times(&self) -> Vec<DateTime<Utc>> {
        let mut v = vec![self.on, self.off];
        v.extend(self.dim_from);
        v.extend(self.dim_to);
        v
    }
}

/// `local` time on `day` in Europe/Berlin as UTC (the earlier instant in the autumn hour that
/// occurs twice, one hour later in the spring gap).
pub fn local_to_utc(day: NaiveDate, local: NaiveTime) -> DateTime<Utc> {
    let naive = day.and_time(local);
    match Berlin.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => Berlin
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// The local calendar day of an instant.
pub fn local_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&Berlin).date_naive()
}

/// An instant as local wall-clock time `HH:MM` (Europe/Berlin).
pub fn local_hm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin).format("%H:%M").to_string()
}

/// An instant as local `DD.MM.YYYY HH:MM` (Europe/Berlin).
pub fn local_datetime(t: DateTime<Utc>) -> String {
    t.with_timezone(&Berlin)
        .format("%d.%m.%Y %H:%M")
        .to_string()
}

/// Parses `HH:MM`.
pub fn parse_hm(s: &str) -> Option<NaiveTime> {
    let s = s.trim();
    if s.len() != 5 {
        return None;
    }
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

/// The night beginning on the evening of `day` under `rule`.
pub fn night(lat: f64, lon: f64, day: NaiveDate, rule: &Rule) -> Option<Night> {
    let evening = sun_times(lat, lon, day)?;
    let morning = sun_times(lat, lon, day.succ_opt()?)?;
    let on_base = if rule.on_event == "sunset" {
        evening.sunset
    } else {
        evening.civil_dusk
    };
    let off_base = if rule.off_event == "sunrise" {
        morning.sunrise
    } else {
        morning.civil_dawn
    };
    let on = on_base + Duration::minutes(rule.on_offset_min);
    let off = off_base + Duration::minutes(rule.off_offset_min);
    let (mut dim_from, mut dim_to) = (None, None);
    if let Some((start, end)) = rule.dim
        && rule.dim_percent < 100
    {
        let noon = NaiveTime::from_hms_opt(12, 0, 0)?;
        let next = day.succ_opt()?;
        let a = local_to_utc(if start >= noon { day } else { next }, start);
        let b = local_to_utc(if end >= noon { day } else { next }, end);
        let (a, b) = (a.max(on), b.min(off));
        if a < b {
            dim_from = Some(a);
            dim_to = Some(b);
        }
    }
    Some(Night {
        day,
        on,
        off,
        dim_from,
        dim_to,
        dim_percent: rule.dim_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Dortmund, Friedensplatz.
    const LAT: f64 = 51.5136;
    const LON: f64 = 7.4653;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
        (a - b).num_seconds().abs() <= 60
    }

    /// Reference values for Dortmund from the independent `astral` implementation of the NOAA
    /// solar equations (Python, UTC); each must agree to the minute.
    #[test]
    fn sun_times_for_dortmund_agree_with_an_independent_reference_to_the_minute() {
        let cases = [
            (
                (2026, 3, 20),
                [
                    "2026-03-20T04:59:26Z",
                    "2026-03-20T05:33:19Z",
                    "2026-03-20T17:42:49Z",
                    "2026-03-20T18:16:50Z",
                ],
            ),
            (
                (2026, 6, 21),
                [
                    "2026-06-21T02:24:19Z",
                    "2026-06-21T03:13:02Z",
                    "2026-06-21T19:50:51Z",
                    "2026-06-21T20:39:35Z",
                ],
            ),
            (
                (2026, 10, 25),
                [
                    "2026-10-25T05:36:20Z",
                    "2026-10-25T06:11:28Z",
                    "2026-10-25T16:16:04Z",
                    "2026-10-25T16:51:10Z",
                ],
            ),
            (
                (2026, 12, 21),
                [
                    "2026-12-21T06:52:38Z",
                    "2026-12-21T07:33:45Z",
                    "2026-12-21T15:22:38Z",
                    "2026-12-21T16:03:45Z",
                ],
            ),
            (
                (2027, 1, 15),
                [
                    "2027-01-15T06:50:23Z",
                    "2027-01-15T07:29:39Z",
                    "2027-01-15T15:49:39Z",
                    "2027-01-15T16:28:56Z",
                ],
            ),
        ];
        for ((y, m, d), [dawn, rise, set, dusk]) in cases {
            let s = sun_times(LAT, LON, NaiveDate::from_ymd_opt(y, m, d).unwrap()).unwrap();
            assert!(
                close(s.civil_dawn, at(dawn)),
                "{y}-{m}-{d} dawn {}",
                s.civil_dawn
            );
            assert!(
                close(s.sunrise, at(rise)),
                "{y}-{m}-{d} sunrise {}",
                s.sunrise
            );
            assert!(close(s.sunset, at(set)), "{y}-{m}-{d} sunset {}", s.sunset);
            assert!(
                close(s.civil_dusk, at(dusk)),
                "{y}-{m}-{d} dusk {}",
                s.civil_dusk
            );
        }
    }

    fn rule(dim: Option<(&str, &str)>, percent: i64) -> Rule {
        Rule {
            on_event: "civil_dusk".into(),
            on_offset_min: 0,
            off_event: "civil_dawn".into(),
            off_offset_min: 0,
            dim: dim.map(|(a, b)| (parse_hm(a).unwrap(), parse_hm(b).unwrap())),
            dim_percent: percent,
        }
    }

    #[test]
    fn a_winter_night_switches_at_twilight_and_dims_in_local_time() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
        let n = night(LAT, LON, day, &rule(Some(("23:00", "05:00")), 60)).unwrap();
        assert!(close(n.on, at("2026-12-21T16:03:45Z")));
        assert!(close(n.off, at("2026-12-22T06:53:00Z")));
        // 23:00 CET = 22:00 UTC, 05:00 CET = 04:00 UTC next morning.
        assert_eq!(n.dim_from, Some(at("2026-12-21T22:00:00Z")));
        assert_eq!(n.dim_to, Some(at("2026-12-22T04:00:00Z")));
        assert_eq!(n.level_at(at("2026-12-21T15:00:00Z")), 0);
        assert_eq!(n.level_at(at("2026-12-21T18:00:00Z")), 100);
        assert_eq!(n.level_at(at("2026-12-22T01:00:00Z")), 60);
        assert_eq!(n.level_at(at("2026-12-22T05:00:00Z")), 100);
        assert_eq!(n.level_at(at("2026-12-22T08:00:00Z")), 0);
        assert!((n.dim_hours() - 6.0).abs() < 1e-9);
        assert!(n.burn_hours() > 14.7 && n.burn_hours() < 14.9);
    }

    #[test]
    fn summer_time_shifts_the_dimming_window_and_clips_it_to_the_burning_period() {
        // 21 June: civil dusk 20:39 UTC = 22:39 CEST; dawn 02:24 UTC = 04:24 CEST.
        let day = NaiveDate::from_ymd_opt(2026, 6, 21).unwrap();
        let n = night(LAT, LON, day, &rule(Some(("22:00", "06:00")), 50)).unwrap();
        assert_eq!(n.dim_from, Some(n.on), "dimming starts with switching on");
        assert_eq!(n.dim_to, Some(n.off), "and ends with switching off");
        // The window 00:30–01:00 CEST = 22:30–23:00 UTC.
        let n = night(LAT, LON, day, &rule(Some(("00:30", "01:00")), 50)).unwrap();
        assert_eq!(n.dim_from, Some(at("2026-06-21T22:30:00Z")));
        assert_eq!(n.dim_to, Some(at("2026-06-21T23:00:00Z")));
    }

    #[test]
    fn offsets_move_the_switching_times_and_full_level_means_no_dimming() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 20).unwrap();
        let mut r = rule(Some(("23:00", "05:00")), 100);
        r.on_event = "sunset".into();
        r.on_offset_min = 10;
        r.off_event = "sunrise".into();
        r.off_offset_min = -15;
        let n = night(LAT, LON, day, &r).unwrap();
        assert!(close(n.on, at("2026-03-20T17:52:49Z")));
        let next = sun_times(LAT, LON, day.succ_opt().unwrap()).unwrap();
        assert_eq!(n.off, next.sunrise - Duration::minutes(15));
        assert_eq!(n.dim_from, None);
        assert_eq!(n.dim_hours(), 0.0);
    }

    #[test]
    fn local_time_handles_the_summer_time_changes() {
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(
            local_to_utc(spring, parse_hm("01:00").unwrap()),
            at("2026-03-29T00:00:00Z")
        );
        // 02:30 does not exist: one hour later.
        assert_eq!(
            local_to_utc(spring, parse_hm("02:30").unwrap()),
            at("2026-03-29T01:30:00Z")
        );
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        // 02:30 occurs twice: the first (summer time).
        assert_eq!(
            local_to_utc(autumn, parse_hm("02:30").unwrap()),
            at("2026-10-25T00:30:00Z")
        );
        assert_eq!(
            local_day(at("2026-12-31T23:30:00Z")).to_string(),
            "2027-01-01"
        );
        assert!(parse_hm("24:00").is_none());
        assert!(parse_hm("7:00").is_none());
    }
}
