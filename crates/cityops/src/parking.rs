//! Parking: car parks and on-street zones with capacity, tariffs and opening hours, live
//! occupancy from SensorThings Datastreams, hourly history, a forecast by weekday and hour,
//! and alerts when a sensor goes silent.
//!
//! A linked Datastream's results are the **occupied** spaces (the demo's "Belegung" streams
//! count vehicles inside). Free spaces now = capacity − latest result, never below 0.
//! The forecast for a weekday and hour is the mean of the hourly means of the same weekday and
//! hour over the past [`FORECAST_WEEKS`] weeks. A sensor is silent when its latest observation
//! is older than [`SILENT_MINUTES`] (or there is none).

use crate::roadworks::{projection, require_staff, require_staff_actor};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use kern::{Error, Invalid, Result};
use platform::{Actor, Env, audit};
use sensorthings::service::{self, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
pub use store::cityops::Parking;

pub const KINDS: [&str; 2] = ["car_park", "on_street"];
/// Minutes without an observation after which a sensor counts as silent.
pub const SILENT_MINUTES: i64 = 60;
/// Weeks of history the forecast averages.
pub const FORECAST_WEEKS: i64 = 3;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewParking {
    pub name: String,
    /// `car_park` or `on_street`.
    pub kind: String,
    pub district: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub capacity: Option<i64>,
    pub tariffs: String,
    pub opening_hours: String,
    pub datastream_id: Option<i64>,
}

async fn sta(env: &Env, path: &str, query: &str) -> Result<Value> {
    match service::get(env, &Actor::system(), path, query).await? {
        Reply::Json { body, .. } => Ok(body),
        _ => Err(Error::internal("unexpected SensorThings reply")),
    }
}

/// Adds a car park or zone (staff).
pub async fn create(env: &Env, actor: &Actor, p: NewParking) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let name = p.name.trim();
    if !(2..=200).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 200 Zeichen lang sein.");
    }
    if !KINDS.contains(&p.kind.as_str()) {
        inv.push(
            "kind",
            "Bitte wählen Sie Parkhaus oder Parkzone am Straßenrand.",
        );
    }
    match p.capacity {
        Some(c) if c < 0 => inv.push("capacity", "Die Kapazität darf nicht negativ sein."),
        Some(c) if c > 100_000 => inv.push("capacity", "Die Kapazität ist unplausibel groß."),
        None => inv.push("capacity", "Bitte geben Sie die Zahl der Stellplätze an."),
        _ => {}
    }
    let proj = projection(env);
    let point = match (p.longitude, p.latitude) {
        (Some(x), Some(y))
            if x.is_finite() && y.is_finite() && proj.in_city_box(geo::Coord { x, y }) =>
        {
            Some((y, x))
        }
        _ => {
            inv.push(
                "latitude",
                "Bitte geben Sie eine Lage im Stadtgebiet an (Breite und Länge).",
            );
            None
        }
    };
    if let Some(d) = p.district {
        let known = platform::city::districts(env).await?;
        if !known.iter().any(|k| k.number == d) {
            inv.push("district", "Diesen Stadtbezirk gibt es nicht.");
        }
    }
    if p.tariffs.chars().count() > 2000 || p.opening_hours.chars().count() > 500 {
        inv.push("tariffs", "Tarife oder Öffnungszeiten sind zu lang.");
    }
    if let Some(ds) = p.datastream_id
        && sta(env, &format!("Datastreams({ds})"), "$select=id")
            .await
            .is_err()
    {
        inv.push("datastream_id", "Diesen Datenstrom gibt es nicht.");
    }
    inv.into_result()?;
    let (lat, lon) = point.unwrap_or_default();
    let mut tx = env.db.begin().await?;
    if store::cityops::parking_by_name(&mut tx, name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!("„{name}“ gibt es schon.")));
    }
    let row = Parking {
        id: 0,
        name: name.into(),
        kind: p.kind.clone(),
        district_number: p.district,
        latitude: lat,
        longitude: lon,
        capacity: p.capacity.unwrap_or(0),
        tariffs: p.tariffs.trim().into(),
        opening_hours: p.opening_hours.trim().into(),
        datastream_id: p.datastream_id,
        created_at: env.now(),
    };
    let id = store::cityops::insert_parking(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.parking.create",
        &format!("cityops_parking:{id}"),
        json!({ "name": name, "capacity": row.capacity }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn list(env: &Env) -> Result<Vec<Parking>> {
    store::cityops::parkings(&env.db).await
}

/// A facility with its occupancy now.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub parking: Parking,
    pub occupied: Option<f64>,
    pub free: Option<i64>,
    pub observed_at: Option<DateTime<Utc>>,
    /// Linked to a sensor that reported nothing for longer than [`SILENT_MINUTES`].
    pub silent: bool,
}

/// Free spaces from capacity and occupied spaces.
pub fn free_spaces(capacity: i64, occupied: f64) -> i64 {
    (capacity as f64 - occupied).round().max(0.0) as i64
}

fn start_time(v: &Value) -> Option<DateTime<Utc>> {
    let s = v.as_str()?;
    let first = s.split('/').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn latest(env: &Env, ds: i64) -> Result<Option<(f64, DateTime<Utc>)>> {
    let body = sta(
        env,
        &format!("Datastreams({ds})/Observations"),
        "$orderby=phenomenonTime desc&$top=1&$select=result,phenomenonTime",
    )
    .await?;
    let Some(o) = body["value"].get(0) else {
        return Ok(None);
    };
    Ok(
        match (o["result"].as_f64(), start_time(&o["phenomenonTime"])) {
            (Some(r), Some(t)) => Some((r, t)),
            _ => None,
        },
    )
}

/// Every facility with its occupancy now.
pub async fn status(env: &Env) -> Result<Vec<Status>> {
    let now = env.now();
    let mut out = Vec::new();
    for p in list(env).await? {
        let (mut occupied, mut observed_at, mut silent) = (None, None, false);
        if let Some(ds) = p.datastream_id {
            match latest(env, ds).await? {
                Some((r, t)) => {
                    occupied = Some(r);
                    observed_at = Some(t);
                    silent = now - t > Duration::minutes(SILENT_MINUTES);
                }
                None => silent = true,
            }
        }
        let free = if silent {
            None
        } else {
            occupied.map(|o| free_spaces(p.capacity, o))
        };
        out.push(Status {
            parking: p,
            occupied,
            free,
            observed_at,
            silent,
        });
    }
    Ok(out)
}

/// Silent sensors (staff).
pub async fn alerts(env: &Env, who: &kern::Principal) -> Result<Vec<Status>> {
    require_staff(who)?;
    Ok(status(env)
        .await?
        .into_iter()
        .filter(|s| s.silent)
        .collect())
}

/// Hourly mean occupancy `(hour start, mean)` of a facility since `from`.
pub async fn hourly(env: &Env, id: i64, from: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, f64)>> {
    let p = list(env)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Error::not_found("Diesen Parkplatz gibt es nicht."))?;
    let Some(ds) = p.datastream_id else {
        return Ok(Vec::new());
    };
    let q = format!(
        "interval=PT1H&fn=avg&$filter=phenomenonTime ge {}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let body = sta(
        env,
        &format!("Datastreams({ds})/Observations/$aggregate"),
        &q,
    )
    .await?;
    Ok(body["value"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|b| Some((start_time(&b["phenomenonTime"])?, b["avg"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default())
}

/// The forecast table: `[weekday Monday=0][hour]` = mean of the hourly means of that weekday
/// and hour (UTC), `None` where there is no data.
pub fn forecast_from(hours: &[(DateTime<Utc>, f64)]) -> Vec<Vec<Option<f64>>> {
    let mut sum = vec![vec![(0.0f64, 0usize); 24]; 7];
    for (t, v) in hours {
        let cell = &mut sum[t.weekday().num_days_from_monday() as usize][t.hour() as usize];
        cell.0 += v;
        cell.1 += 1;
    }
    sum.into_iter()
        .map(|row| {
            row.into_iter()
                .map(|(s, n)| (n > 0).then(|| s / n as f64))
                .collect()
        })
        .collect()
}

/// The forecast of occupied spaces for a facility from the past [`FORECAST_WEEKS`] weeks.
pub async fn forecast(env: &Env, id: i64) -> Result<Vec<Vec<Option<f64>>>> {
    let from = env.now() - Duration::weeks(FORECAST_WEEKS);
    Ok(forecast_from(&hourly(env, id, from).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn free_spaces_never_negative() {
        assert_eq!(free_spaces(300, 120.4), 180);
        assert_eq!(free_spaces(300, 320.0), 0);
        assert_eq!(free_spaces(0, 0.0), 0);
    }

    #[test]
    fn forecast_has_7_by_24_cells_and_means_by_weekday_hour() {
        // Mondays 9:00 over three weeks: 100, 200, 300; a Sunday 23:00: 50.
        let mon = |w: i64| Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap() + Duration::weeks(w);
        let data = vec![
            (mon(0), 100.0),
            (mon(1), 200.0),
            (mon(2), 300.0),
            (Utc.with_ymd_and_hms(2026, 11, 8, 23, 0, 0).unwrap(), 50.0),
        ];
        let f = forecast_from(&data);
        assert_eq!(f.len(), 7);
        assert!(f.iter().all(|r| r.len() == 24));
        assert_eq!(f[0][9], Some(200.0));
        assert_eq!(f[6][23], Some(50.0));
        assert_eq!(f[0][10], None);
        assert_eq!(f.iter().flatten().filter(|c| c.is_some()).count(), 2);
    }
}
