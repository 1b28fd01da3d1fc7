//! Fault detection from controller telemetry: a pure function of what the schedule expects
//! at an instant and the latest power and switch readings of a circuit.
//!
//! Rules (thresholds are the constants below):
//! - **silent**: a linked Datastream reported nothing for [`SILENT_MINUTES`];
//! - **day_burner** (burning by day): the schedule says off, but the switch reports on or the
//!   power is above [`DAY_BURN_SHARE`] of the rated power;
//! - **dark** (dark at night): the schedule says on, but the switch reports off or the power
//!   is below [`DARK_SHARE`] of the expected power;
//! - **power_deviation**: the schedule says on and the lights burn, but the power differs from
//!   the expected power (rated × level) by more than [`DEVIATION_SHARE`].
//!
//! Within [`SWITCH_TOLERANCE_MIN`] minutes of a switching or dimming time no level rule
//! applies: controllers switch by their own clock and photocell, readings lag.

use chrono::{DateTime, Duration, Utc};

pub const SILENT_MINUTES: i64 = 60;
pub const SWITCH_TOLERANCE_MIN: i64 = 20;
pub const DAY_BURN_SHARE: f64 = 0.2;
pub const DARK_SHARE: f64 = 0.1;
pub const DEVIATION_SHARE: f64 = 0.25;

/// The kinds of fault, as stored in maintenance orders.
pub const KINDS: [&str; 4] = ["day_burner", "dark", "power_deviation", "silent"];

/// The latest readings of a circuit's controller.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Telemetry {
    /// Whether a power Datastream is linked, and its latest value (W) with its time.
    pub power_linked: bool,
    pub power: Option<(f64, DateTime<Utc>)>,
    pub switch_linked: bool,
    pub switched_on: Option<(bool, DateTime<Utc>)>,
}

/// What the schedule expects at the instant of the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    /// Per cent of full power: 0 = off.
    pub level: i64,
    /// Within the switching tolerance of a change of level.
    pub near_switch: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fault {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// A German sentence for the maintenance order.
    pub detail: String,
}

/// Whether `now` is within the tolerance of one of `times`.
pub fn near_any(now: DateTime<Utc>, times: &[DateTime<Utc>]) -> bool {
    times
        .iter()
        .any(|t| (now - *t).abs() <= Duration::minutes(SWITCH_TOLERANCE_MIN))
}

fn fresh<T: Copy>(v: Option<(T, DateTime<Utc>)>, now: DateTime<Utc>) -> Option<T> {
    v.filter(|(_, t)| now - *t <= Duration::minutes(SILENT_MINUTES))
        .map(|(x, _)| x)
}

/// The faults of a circuit with `rated_w` watts at `now`.
pub fn assess(now: DateTime<Utc>, expected: Expected, rated_w: f64, t: &Telemetry) -> Vec<Fault> {
    let mut out = Vec::new();
    let power = fresh(t.power, now);
    let on = fresh(t.switched_on, now);
    if (t.power_linked && power.is_none()) || (t.switch_linked && on.is_none()) {
        out.push(Fault {
            kind: "silent",
            detail: format!(
                "Die Steuerung hat seit über {SILENT_MINUTES} Minuten keine Messwerte gesendet."
            ),
        });
    }
    if expected.near_switch || rated_w <= 0.0 {
        return out;
    }
    if expected.level == 0 {
        let burning_power = power.filter(|p| *p > DAY_BURN_SHARE * rated_w);
        if on == Some(true) || burning_power.is_some() {
            out.push(Fault {
                kind: "day_burner",
                detail: match burning_power {
                    Some(p) => format!(
                        "Die Beleuchtung brennt am Tag: {p:.0} W gemessen, laut Schaltplan aus."
                    ),
                    None => "Die Beleuchtung ist am Tag eingeschaltet, laut Schaltplan aus.".into(),
                },
            });
        }
        return out;
    }
    let expected_w = rated_w * expected.level as f64 / 100.0;
    let dark_power = power.filter(|p| *p < DARK_SHARE * expected_w);
    if on == Some(false) || dark_power.is_some() {
        out.push(Fault {
            kind: "dark",
            detail: match dark_power {
                Some(p) => format!(
                    "Die Beleuchtung ist nachts dunkel: {p:.0} W gemessen, erwartet {expected_w:.0} W."
                ),
                None => "Die Beleuchtung ist nachts ausgeschaltet, laut Schaltplan an.".into(),
            },
        });
        return out;
    }
    if let Some(p) = power
        && (p - expected_w).abs() > DEVIATION_SHARE * expected_w
    {
        out.push(Fault {
            kind: "power_deviation",
            detail: format!(
                "Die Leistung weicht stark vom Sollwert ab: {p:.0} W gemessen, erwartet {expected_w:.0} W ({:+.0} %).",
                (p - expected_w) / expected_w * 100.0
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap()
    }

    fn tel(power: Option<f64>, on: Option<bool>) -> Telemetry {
        let t = now() - Duration::minutes(5);
        Telemetry {
            power_linked: true,
            power: power.map(|p| (p, t)),
            switch_linked: true,
            switched_on: on.map(|o| (o, t)),
        }
    }

    fn kinds(f: &[Fault]) -> Vec<&'static str> {
        f.iter().map(|f| f.kind).collect()
    }

    const OFF: Expected = Expected {
        level: 0,
        near_switch: false,
    };
    const FULL: Expected = Expected {
        level: 100,
        near_switch: false,
    };
    const DIMMED: Expected = Expected {
        level: 60,
        near_switch: false,
    };

    #[test]
    fn burning_by_day_is_found_from_power_or_switch_state() {
        assert_eq!(
            kinds(&assess(now(), OFF, 1000.0, &tel(Some(950.0), Some(true)))),
            ["day_burner"]
        );
        assert_eq!(
            kinds(&assess(now(), OFF, 1000.0, &tel(Some(300.0), None))).len(),
            2,
            "silent switch too"
        );
        assert_eq!(
            kinds(&assess(now(), OFF, 1000.0, &tel(Some(5.0), Some(true)))),
            ["day_burner"]
        );
        // Standby power of the controller by day is no fault.
        assert!(assess(now(), OFF, 1000.0, &tel(Some(5.0), Some(false))).is_empty());
    }

    #[test]
    fn dark_at_night_is_found_and_a_dimmed_circuit_is_not_dark() {
        assert_eq!(
            kinds(&assess(now(), FULL, 1000.0, &tel(Some(20.0), Some(true)))),
            ["dark"]
        );
        assert_eq!(
            kinds(&assess(
                now(),
                FULL,
                1000.0,
                &tel(Some(1000.0), Some(false))
            )),
            ["dark"]
        );
        assert!(assess(now(), DIMMED, 1000.0, &tel(Some(610.0), Some(true))).is_empty());
        assert!(assess(now(), FULL, 1000.0, &tel(Some(1010.0), Some(true))).is_empty());
    }

    #[test]
    fn power_far_from_rated_is_a_deviation_with_the_percentage() {
        let f = assess(now(), FULL, 1000.0, &tel(Some(600.0), Some(true)));
        assert_eq!(kinds(&f), ["power_deviation"]);
        assert!(f[0].detail.contains("-40 %"), "{}", f[0].detail);
        let f = assess(now(), DIMMED, 1000.0, &tel(Some(1000.0), Some(true)));
        assert_eq!(
            kinds(&f),
            ["power_deviation"],
            "full power while it should be dimmed"
        );
        // 24 % off is within the tolerance.
        assert!(assess(now(), FULL, 1000.0, &tel(Some(760.0), Some(true))).is_empty());
    }

    #[test]
    fn near_a_switching_time_only_silence_counts() {
        let near = Expected {
            level: 0,
            near_switch: true,
        };
        assert!(assess(now(), near, 1000.0, &tel(Some(1000.0), Some(true))).is_empty());
        let t = now() - Duration::minutes(SILENT_MINUTES + 1);
        let stale = Telemetry {
            power_linked: true,
            power: Some((1000.0, t)),
            switch_linked: false,
            switched_on: None,
        };
        assert_eq!(kinds(&assess(now(), near, 1000.0, &stale)), ["silent"]);
        // A stale value is not used for the level rules either.
        assert_eq!(kinds(&assess(now(), OFF, 1000.0, &stale)), ["silent"]);
        assert!(near_any(
            now(),
            &[now() + Duration::minutes(SWITCH_TOLERANCE_MIN)]
        ));
        assert!(!near_any(
            now(),
            &[now() + Duration::minutes(SWITCH_TOLERANCE_MIN + 1)]
        ));
    }

    #[test]
    fn a_circuit_without_telemetry_has_no_faults() {
        assert!(assess(now(), FULL, 1000.0, &Telemetry::default()).is_empty());
    }
}
