//! Traffic flow: counting stations linked to SensorThings Datastreams of counts per mode
//! (`car`, `bicycle`, `pedestrian`) and direction (`inbound`, `outbound`), 15-minute flows, level
//! of service and congestion per road segment, the modal split by district and month, and a
//! DATEX II v3 MeasuredDataPublication.
//!
//! Level of service (after the HCM urban-street scheme), see [`level_of_service`]:
//! * from the speed ratio r = measured speed / free-flow speed: A r > 0.85, B > 0.67,
//!   C > 0.50, D > 0.40, E > 0.30, F ≤ 0.30;
//! * without a speed, from the volume/capacity ratio x = flow (veh/h) / capacity: A x ≤ 0.60,
//!   B ≤ 0.70, C ≤ 0.80, D ≤ 0.90, E ≤ 1.00, F > 1.00;
//! * a flow above capacity (x > 1.00) is F whatever the speed.
//!
//! A segment direction is congested at level E or F.

use crate::feeds::{NS_COM, NS_D2, NS_XSI, Publisher, text_el, time};
use crate::roadworks::require_staff_actor;
use chrono::{DateTime, Datelike, Duration, Utc};
use kern::{Error, Invalid, Result};
use platform::{Actor, Env, audit};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};
use sensorthings::service::{self, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io;
pub use store::cityops::{CountingStation, StationStream};

pub const MODES: [&str; 3] = ["car", "bicycle", "pedestrian"];
pub const DIRECTIONS: [&str; 2] = ["inbound", "outbound"];
pub const NS_RTD: &str = "http://datex2.eu/schema/3/roadTrafficData";

/// The level of service A–F from the speed ratio (if a speed is known) and the v/c ratio.
pub fn level_of_service(speed_ratio: Option<f64>, vc: f64) -> char {
    if vc > 1.0 {
        return 'F';
    }
    match speed_ratio {
        Some(r) => {
            if r > 0.85 {
                'A'
            } else if r > 0.67 {
                'B'
            } else if r > 0.50 {
                'C'
            } else if r > 0.40 {
                'D'
            } else if r > 0.30 {
                'E'
            } else {
                'F'
            }
        }
        None => {
            if vc <= 0.60 {
                'A'
            } else if vc <= 0.70 {
                'B'
            } else if vc <= 0.80 {
                'C'
            } else if vc <= 0.90 {
                'D'
            } else {
                'E'
            }
        }
    }
}

pub fn congested(los: char) -> bool {
    los == 'E' || los == 'F'
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewStation {
    pub name: String,
    pub district: Option<i64>,
    pub segment: String,
    pub free_flow_kmh: f64,
    pub capacity_veh_h: f64,
    pub speed_datastream_id: Option<i64>,
    /// (mode, direction, Datastream id)
    pub streams: Vec<(String, String, i64)>,
}

async fn sta(env: &Env, path: &str, query: &str) -> Result<Value> {
    match service::get(env, &Actor::system(), path, query).await? {
        Reply::Json { body, .. } => Ok(body),
        _ => Err(Error::internal("unexpected SensorThings reply")),
    }
}

async fn stream_exists(env: &Env, ds: i64) -> bool {
    sta(env, &format!("Datastreams({ds})"), "$select=id")
        .await
        .is_ok()
}

/// Registers a counting station (staff).
pub async fn create(env: &Env, actor: &Actor, s: NewStation) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let name = s.name.trim();
    if !(2..=200).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 200 Zeichen lang sein.");
    }
    if !(s.free_flow_kmh.is_finite() && s.free_flow_kmh > 0.0 && s.free_flow_kmh <= 200.0) {
        inv.push(
            "free_flow_kmh",
            "Die freie Geschwindigkeit muss zwischen 0 und 200 km/h liegen.",
        );
    }
    if !(s.capacity_veh_h.is_finite() && s.capacity_veh_h > 0.0 && s.capacity_veh_h <= 20_000.0) {
        inv.push(
            "capacity_veh_h",
            "Die Kapazität muss größer als 0 Fahrzeuge je Stunde sein.",
        );
    }
    if let Some(d) = s.district
        && !platform::city::districts(env)
            .await?
            .iter()
            .any(|k| k.number == d)
    {
        inv.push("district", "Diesen Stadtbezirk gibt es nicht.");
    }
    if s.streams.is_empty() {
        inv.push(
            "streams",
            "Bitte verknüpfen Sie mindestens einen Datenstrom.",
        );
    }
    for (mode, dir, ds) in &s.streams {
        if !MODES.contains(&mode.as_str()) || !DIRECTIONS.contains(&dir.as_str()) {
            inv.push("streams", "Verkehrsart (car, bicycle, pedestrian) oder Richtung (inbound, outbound) ist unbekannt.");
        } else if !stream_exists(env, *ds).await {
            inv.push("streams", format!("Den Datenstrom {ds} gibt es nicht."));
        }
    }
    if let Some(ds) = s.speed_datastream_id
        && !stream_exists(env, ds).await
    {
        inv.push(
            "speed_datastream_id",
            format!("Den Datenstrom {ds} gibt es nicht."),
        );
    }
    inv.into_result()?;
    let row = CountingStation {
        id: 0,
        name: name.into(),
        district_number: s.district,
        segment: s.segment.trim().into(),
        free_flow_kmh: s.free_flow_kmh,
        capacity_veh_h: s.capacity_veh_h,
        speed_datastream_id: s.speed_datastream_id,
        created_at: env.now(),
    };
    let mut tx = env.db.begin().await?;
    let id = store::cityops::insert_station(&mut tx, &row, &s.streams).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "cityops.station.create",
        &format!("cityops_station:{id}"),
        json!({ "name": name, "streams": s.streams.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn start_time(v: &Value) -> Option<DateTime<Utc>> {
    let first = v.as_str()?.split('/').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Sums per bucket `(bucket start, sum)` of a Datastream since `from`.
async fn sums(
    env: &Env,
    ds: i64,
    interval: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>> {
    let fmt = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let q = format!(
        "interval={interval}&fn=sum&$filter=phenomenonTime ge {} and phenomenonTime lt {}",
        fmt(from),
        fmt(to)
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
                .filter_map(|b| Some((start_time(&b["phenomenonTime"])?, b["sum"].as_f64()?)))
                .collect()
        })
        .unwrap_or_default())
}

/// One 15-minute count.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub start: DateTime<Utc>,
    pub mode: String,
    pub direction: String,
    pub count: f64,
}

/// The 15-minute counts of a station since `from`, by start, mode and direction.
pub async fn flows(env: &Env, station: i64, from: DateTime<Utc>) -> Result<Vec<Flow>> {
    let streams = store::cityops::station_streams(&env.db).await?;
    if !store::cityops::stations(&env.db)
        .await?
        .iter()
        .any(|s| s.id == station)
    {
        return Err(Error::not_found("Diese Zählstelle gibt es nicht."));
    }
    let mut out = Vec::new();
    for s in streams.iter().filter(|s| s.station_id == station) {
        for (start, count) in sums(env, s.datastream_id, "PT15M", from, env.now()).await? {
            out.push(Flow {
                start,
                mode: s.mode.clone(),
                direction: s.direction.clone(),
                count,
            });
        }
    }
    out.sort_by(|a, b| (a.start, &a.mode, &a.direction).cmp(&(b.start, &b.mode, &b.direction)));
    Ok(out)
}

/// The state of one direction of a segment in the last complete quarter hour.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentState {
    pub direction: String,
    pub interval_start: Option<DateTime<Utc>>,
    /// Motor vehicles per hour (4 × the 15-minute count).
    pub car_flow_veh_h: Option<f64>,
    pub speed_kmh: Option<f64>,
    pub los: Option<char>,
    pub congested: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StationState {
    pub station: CountingStation,
    pub directions: Vec<SegmentState>,
}

fn quarter_floor(t: DateTime<Utc>) -> DateTime<Utc> {
    let s = t.timestamp();
    DateTime::from_timestamp(s - s.rem_euclid(900), 0).unwrap_or(t)
}

/// Every station with level of service per direction for the last complete quarter hour.
pub async fn states(env: &Env) -> Result<Vec<StationState>> {
    let streams = store::cityops::station_streams(&env.db).await?;
    let end = quarter_floor(env.now());
    let start = end - Duration::minutes(15);
    let mut out = Vec::new();
    for st in store::cityops::stations(&env.db).await? {
        let speed = match st.speed_datastream_id {
            Some(ds) => {
                let b = sta(
                    env,
                    &format!("Datastreams({ds})/Observations"),
                    "$orderby=phenomenonTime desc&$top=1&$select=result",
                )
                .await?;
                b["value"][0]["result"].as_f64()
            }
            None => None,
        };
        let mut directions = Vec::new();
        for dir in DIRECTIONS {
            let cars: Vec<&StationStream> = streams
                .iter()
                .filter(|s| s.station_id == st.id && s.mode == "car" && s.direction == dir)
                .collect();
            if cars.is_empty() {
                continue;
            }
            let mut count = None;
            for c in cars {
                for (_, v) in sums(env, c.datastream_id, "PT15M", start, end).await? {
                    count = Some(count.unwrap_or(0.0) + v);
                }
            }
            let flow = count.map(|c| 4.0 * c);
            let los = flow.map(|f| {
                level_of_service(speed.map(|v| v / st.free_flow_kmh), f / st.capacity_veh_h)
            });
            directions.push(SegmentState {
                direction: dir.into(),
                interval_start: count.map(|_| start),
                car_flow_veh_h: flow,
                speed_kmh: speed,
                los,
                congested: los.is_some_and(congested),
            });
        }
        out.push(StationState {
            station: st,
            directions,
        });
    }
    Ok(out)
}

/// Where each station is: the Location of the Thing of its first count Datastream, as
/// `station id → (latitude, longitude)`; stations without one are left out.
pub async fn locations(env: &Env) -> Result<std::collections::BTreeMap<i64, (f64, f64)>> {
    let streams = store::cityops::station_streams(&env.db).await?;
    let mut out = std::collections::BTreeMap::new();
    for st in store::cityops::stations(&env.db).await? {
        let Some(s) = streams.iter().find(|s| s.station_id == st.id) else {
            continue;
        };
        let b = sta(
            env,
            &format!("Datastreams({})/Thing/Locations", s.datastream_id),
            "$top=1&$select=location",
        )
        .await?;
        let c = &b["value"][0]["location"]["coordinates"];
        if let (Some(lon), Some(lat)) = (c[0].as_f64(), c[1].as_f64()) {
            out.insert(st.id, (lat, lon));
        }
    }
    Ok(out)
}

/// Counts per mode for a district and month, with shares.
#[derive(Debug, Clone, Serialize)]
pub struct SplitRow {
    pub district_number: Option<i64>,
    /// `YYYY-MM`.
    pub month: String,
    pub car: f64,
    pub bicycle: f64,
    pub pedestrian: f64,
}

impl SplitRow {
    pub fn share(&self, mode: &str) -> f64 {
        let total = self.car + self.bicycle + self.pedestrian;
        if total <= 0.0 {
            return 0.0;
        }
        100.0
            * match mode {
                "car" => self.car,
                "bicycle" => self.bicycle,
                _ => self.pedestrian,
            }
            / total
    }
}

/// Groups daily sums `(district, mode, day start, sum)` into rows by district and month.
pub fn split_from(days: &[(Option<i64>, String, DateTime<Utc>, f64)]) -> Vec<SplitRow> {
    let mut m: BTreeMap<(Option<i64>, String), SplitRow> = BTreeMap::new();
    for (district, mode, day, v) in days {
        let month = format!("{:04}-{:02}", day.year(), day.month());
        let row = m.entry((*district, month.clone())).or_insert(SplitRow {
            district_number: *district,
            month,
            car: 0.0,
            bicycle: 0.0,
            pedestrian: 0.0,
        });
        match mode.as_str() {
            "car" => row.car += v,
            "bicycle" => row.bicycle += v,
            _ => row.pedestrian += v,
        }
    }
    m.into_values().collect()
}

/// The modal split by district and month over the last `days` days.
pub async fn modal_split(env: &Env, days: i64) -> Result<Vec<SplitRow>> {
    let stations = store::cityops::stations(&env.db).await?;
    let to = env.now();
    let from = to - Duration::days(days);
    let mut all = Vec::new();
    for s in store::cityops::station_streams(&env.db).await? {
        let district = stations
            .iter()
            .find(|st| st.id == s.station_id)
            .and_then(|st| st.district_number);
        for (day, v) in sums(env, s.datastream_id, "P1D", from, to).await? {
            all.push((district, s.mode.clone(), day, v));
        }
    }
    Ok(split_from(&all))
}

pub async fn stations(env: &Env) -> Result<Vec<CountingStation>> {
    store::cityops::stations(&env.db).await
}

/// A DATEX II v3 `MeasuredDataPublication`: for each station direction with a value, a
/// `rtd:TrafficFlow` (vehicles per hour) and, with a speed, a `rtd:TrafficSpeed`.
pub fn datex_measured(
    states: &[StationState],
    now: DateTime<Utc>,
    publisher: &Publisher,
) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let r: io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("d2:payload")
            .with_attribute(("xmlns:d2", NS_D2))
            .with_attribute(("xmlns:com", NS_COM))
            .with_attribute(("xmlns:rtd", NS_RTD))
            .with_attribute(("xmlns:xsi", NS_XSI))
            .with_attribute(("xsi:type", "rtd:MeasuredDataPublication"))
            .with_attribute(("lang", "de"))
            .with_attribute(("modelBaseVersion", "3"))
            .write_inner_content(|w| {
                text_el(w, "com:publicationTime", &time(now))?;
                w.create_element("com:publicationCreator")
                    .write_inner_content(|w| {
                        text_el(w, "com:country", &publisher.country)?;
                        text_el(w, "com:nationalIdentifier", &publisher.national_identifier)
                    })?;
                w.create_element("rtd:measurementSiteTableReference")
                    .with_attribute(("targetClass", "rtd:MeasurementSiteTable"))
                    .with_attribute(("id", "stadtkern-counting-stations"))
                    .with_attribute(("version", "1"))
                    .write_empty()?;
                for st in states {
                    for d in &st.directions {
                        let (Some(flow), Some(start)) = (d.car_flow_veh_h, d.interval_start) else {
                            continue;
                        };
                        let site = format!("stadtkern-station-{}-{}", st.station.id, d.direction);
                        w.create_element("rtd:siteMeasurements")
                            .write_inner_content(|w| {
                                w.create_element("rtd:measurementSiteReference")
                                    .with_attribute(("targetClass", "rtd:MeasurementSiteRecord"))
                                    .with_attribute(("id", site.as_str()))
                                    .with_attribute(("version", "1"))
                                    .write_empty()?;
                                text_el(
                                    w,
                                    "rtd:measurementTimeDefault",
                                    &time(start + Duration::minutes(15)),
                                )?;
                                w.create_element("rtd:physicalQuantity")
                                    .with_attribute(("index", "1"))
                                    .write_inner_content(|w| {
                                        w.create_element("rtd:basicData")
                                            .with_attribute(("xsi:type", "rtd:TrafficFlow"))
                                            .write_inner_content(|w| {
                                                w.create_element("rtd:vehicleFlow")
                                                    .write_inner_content(|w| {
                                                        text_el(
                                                            w,
                                                            "rtd:vehicleFlowRate",
                                                            &format!("{}", flow.round() as i64),
                                                        )
                                                    })?;
                                                Ok(())
                                            })?;
                                        Ok(())
                                    })?;
                                if let Some(v) = d.speed_kmh {
                                    w.create_element("rtd:physicalQuantity")
                                        .with_attribute(("index", "2"))
                                        .write_inner_content(|w| {
                                            w.create_element("rtd:basicData")
                                                .with_attribute(("xsi:type", "rtd:TrafficSpeed"))
                                                .write_inner_content(|w| {
                                                    w.create_element("rtd:averageVehicleSpeed")
                                                        .write_inner_content(|w| {
                                                            text_el(
                                                                w,
                                                                "rtd:speed",
                                                                &format!("{v:.1}"),
                                                            )
                                                        })?;
                                                    Ok(())
                                                })?;
                                            Ok(())
                                        })?;
                                }
                                Ok(())
                            })?;
                    }
                }
                Ok(())
            })?;
        Ok(())
    })();
    debug_assert!(r.is_ok());
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn los_thresholds_by_speed_ratio() {
        for (r, want) in [
            (1.0, 'A'),
            (0.86, 'A'),
            (0.85, 'B'),
            (0.68, 'B'),
            (0.67, 'C'),
            (0.51, 'C'),
            (0.50, 'D'),
            (0.41, 'D'),
            (0.40, 'E'),
            (0.31, 'E'),
            (0.30, 'F'),
            (0.0, 'F'),
        ] {
            assert_eq!(level_of_service(Some(r), 0.5), want, "ratio {r}");
        }
    }

    #[test]
    fn los_thresholds_by_volume_to_capacity() {
        for (x, want) in [
            (0.0, 'A'),
            (0.60, 'A'),
            (0.61, 'B'),
            (0.70, 'B'),
            (0.71, 'C'),
            (0.80, 'C'),
            (0.81, 'D'),
            (0.90, 'D'),
            (0.91, 'E'),
            (1.00, 'E'),
            (1.01, 'F'),
        ] {
            assert_eq!(level_of_service(None, x), want, "v/c {x}");
        }
        // Over capacity is F even at free-flow speed.
        assert_eq!(level_of_service(Some(1.0), 1.2), 'F');
        assert!(congested('E') && congested('F') && !congested('D'));
    }

    #[test]
    fn modal_split_groups_by_district_and_month() {
        let day =
            |m: u32, d: u32| chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, m, d, 0, 0, 0).unwrap();
        let rows = split_from(&[
            (Some(1), "car".into(), day(10, 1), 600.0),
            (Some(1), "bicycle".into(), day(10, 2), 300.0),
            (Some(1), "pedestrian".into(), day(10, 31), 100.0),
            (Some(1), "car".into(), day(11, 1), 50.0),
            (Some(2), "car".into(), day(10, 5), 10.0),
        ]);
        assert_eq!(rows.len(), 3);
        let oct = &rows[0];
        assert_eq!(
            (oct.district_number, oct.month.as_str()),
            (Some(1), "2026-10")
        );
        assert_eq!(
            (
                oct.share("car"),
                oct.share("bicycle"),
                oct.share("pedestrian")
            ),
            (60.0, 30.0, 10.0)
        );
        assert_eq!(rows[1].month, "2026-11");
        assert_eq!(rows[2].district_number, Some(2));
    }
}
