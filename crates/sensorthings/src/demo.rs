//! The demo city's sensors: Things with Locations in the 12 Dortmund districts (traffic
//! counting stations, car parks, street-light controllers, building energy meters, climate
//! stations) and a history of 15-minute values, generated deterministically (daily and weekly
//! patterns, seeded noise) and written through the bulk insert path of CreateObservations.
//!
//! Each demo Datastream carries `properties.simulation = {"model": ..., "scale": ...}`, so
//! `stadtkern simulate` can continue the same series live with [`value`].

use crate::data_array::{NewObs, insert_rows, widen_stream_times};
use crate::model::Kind;
use crate::service::{self, Reply};
use crate::visibility::Access;
use crate::write::Writer;
use chrono::{Datelike, TimeZone, Timelike, Utc};
use kern::auth::TokenPrincipal;
use kern::{Principal, Result};
use platform::demo::{DISTRICTS, Seeder};
use platform::{Actor, Env};
use serde_json::{Value, json};

/// Days of 15-minute history. 21 days x 96 values x 150 Datastreams is about 300,000
/// Observations, which a debug build writes in about three seconds.
pub const HISTORY_DAYS: i64 = 21;

/// The step of the history and of `simulate`'s series.
pub const STEP_MICROS: i64 = 15 * 60 * 1_000_000;

pub const SEEDER: Seeder = Seeder {
    name: "sensorthings",
    run: |env| Box::pin(seed(env)),
};

/// SplitMix64: a tiny deterministic generator (the demo must be the same on every machine).
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Roughly normal (sum of uniforms), mean 0, deviation 1.
    pub fn gauss(&mut self) -> f64 {
        (0..6).map(|_| self.unit()).sum::<f64>() - 3.0
    }
}

/// Hours of the day as a fraction (local time, CET as a fixed offset is close enough).
fn local(t: i64) -> (f64, u32, u32) {
    let dt = Utc
        .timestamp_micros(t + 3_600_000_000)
        .single()
        .unwrap_or_default();
    let hour = dt.hour() as f64 + dt.minute() as f64 / 60.0;
    (hour, dt.weekday().num_days_from_monday(), dt.ordinal())
}

fn bump(h: f64, centre: f64, width: f64) -> f64 {
    (-((h - centre) / width).powi(2)).exp()
}

/// Whether street lights are on (civil twilight, approximated for 51.5° N).
pub fn dark(t: i64) -> bool {
    let (h, _, day) = local(t);
    let season = ((day as f64 - 172.0) / 365.0 * std::f64::consts::TAU).cos();
    let daylight = 12.2 + 4.4 * season;
    let noon = 12.6;
    h < noon - daylight / 2.0 || h > noon + daylight / 2.0
}

/// The value of a demo series at time `t` (microseconds), for model `model` with scale `scale`.
pub fn value(model: &str, scale: f64, t: i64, n: &mut Noise) -> Value {
    let (h, wd, day) = local(t);
    let weekend = wd >= 5;
    let commute = bump(h, 7.8, 1.2) + 0.9 * bump(h, 17.0, 1.6);
    let daytime = bump(h, 13.0, 4.0);
    let r = |x: f64| x.max(0.0).round();
    match model {
        "cars" => {
            let f = if weekend {
                0.15 + 0.6 * daytime
            } else {
                0.08 + commute + 0.4 * daytime
            };
            json!(r(scale * 90.0 * f * (1.0 + 0.15 * n.gauss())))
        }
        "bicycles" => {
            let f = if weekend {
                0.05 + 0.8 * bump(h, 14.0, 3.0)
            } else {
                0.03 + commute + 0.2 * daytime
            };
            json!(r(scale * 25.0 * f * (1.0 + 0.25 * n.gauss())))
        }
        "pedestrians" => {
            let f = if weekend {
                0.05 + 1.1 * bump(h, 14.5, 3.0)
            } else {
                0.05 + 0.5 * commute + 0.8 * bump(h, 12.5, 2.5)
            };
            json!(r(scale * 60.0 * f * (1.0 + 0.2 * n.gauss())))
        }
        "parking" => {
            // scale = capacity
            let f = match wd {
                6 => 0.1 + 0.25 * bump(h, 14.0, 3.0),
                5 => 0.15 + 0.8 * bump(h, 14.0, 3.5),
                _ => 0.12 + 0.65 * bump(h, 13.0, 4.0),
            };
            json!(r((scale * (f + 0.04 * n.gauss())).min(scale)))
        }
        "light_power" => {
            if dark(t) {
                // Dimmed to 60 % late at night.
                let dim = if !(5.0..23.0).contains(&h) { 0.6 } else { 1.0 };
                json!(r(scale * dim * (1.0 + 0.02 * n.gauss())))
            } else {
                json!(r(4.0 + n.unit()))
            }
        }
        "light_on" => json!(dark(t)),
        "electricity" => {
            let f = if weekend {
                0.25
            } else {
                0.3 + 0.9 * bump(h, 11.5, 3.5)
            };
            json!((scale * 12.0 * f * (1.0 + 0.1 * n.gauss()) * 100.0).round() / 100.0)
        }
        "pv" => {
            // scale = peak power (kWp); energy per 15 minutes, a bell between sunrise and
            // sunset, lower in winter, with passing clouds.
            let season = ((day as f64 - 172.0) / 365.0 * std::f64::consts::TAU).cos();
            let daylight = 12.2 + 4.4 * season;
            let x = (h - 12.6) / (daylight / 2.0);
            if x.abs() >= 1.0 {
                json!(0.0)
            } else {
                let sun = (1.0 - x * x) * (0.45 + 0.4 * season);
                let cloud = (0.8 + 0.2 * n.gauss()).clamp(0.2, 1.0);
                json!((scale * 0.25 * sun * cloud * 1000.0).round() / 1000.0)
            }
        }
        "heat" => {
            let cold = 1.0 + 0.4 * bump(h, 5.0, 3.0);
            let f = if weekend { 0.6 } else { 1.0 };
            json!((scale * 40.0 * cold * f * (1.0 + 0.08 * n.gauss()) * 10.0).round() / 10.0)
        }
        "temperature" => {
            let season = 9.5 - 8.0 * ((day as f64 - 15.0) / 365.0 * std::f64::consts::TAU).cos();
            let v = season
                + scale
                + 3.5 * ((h - 15.0) / 24.0 * std::f64::consts::TAU).cos()
                + 0.4 * n.gauss();
            json!((v * 10.0).round() / 10.0)
        }
        "humidity" => {
            let v = 78.0 - 14.0 * bump(h, 15.0, 4.0) + 4.0 * n.gauss();
            json!(v.clamp(30.0, 100.0).round())
        }
        "pm10" => {
            let f = if weekend { 0.7 } else { 1.0 + 0.5 * commute };
            json!(((scale * 18.0 * f + 3.0 * n.gauss()).max(2.0) * 10.0).round() / 10.0)
        }
        "no2" => {
            let f = if weekend { 0.6 } else { 1.0 + 0.8 * commute };
            json!(((scale * 24.0 * f + 4.0 * n.gauss()).max(3.0) * 10.0).round() / 10.0)
        }
        _ => Value::Null,
    }
}

struct Stream {
    name: &'static str,
    model: &'static str,
    op: &'static str,
    unit: (&'static str, &'static str, &'static str),
    /// Measurement (number) or truth (boolean) or count.
    kind: &'static str,
}

const OM_MEASUREMENT: &str = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement";
const OM_COUNT: &str = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CountObservation";
const OM_TRUTH: &str = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_TruthObservation";

fn observed_properties() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "cars",
            "Kfz-Anzahl",
            "Anzahl vorbeifahrender Kraftfahrzeuge je Intervall",
        ),
        (
            "bicycles",
            "Radverkehr",
            "Anzahl vorbeifahrender Fahrräder je Intervall",
        ),
        (
            "pedestrians",
            "Fußverkehr",
            "Anzahl vorbeigehender Personen je Intervall",
        ),
        (
            "parking",
            "Belegte Stellplätze",
            "Anzahl belegter Stellplätze",
        ),
        (
            "light_power",
            "Leistungsaufnahme",
            "Elektrische Leistung des Lichtpunkts",
        ),
        ("light_on", "Schaltzustand", "Beleuchtung eingeschaltet"),
        (
            "electricity",
            "Stromverbrauch",
            "Elektrische Arbeit je Intervall",
        ),
        ("heat", "Wärmeverbrauch", "Wärmemenge je Intervall"),
        (
            "pv",
            "PV-Erzeugung",
            "Von der Photovoltaikanlage erzeugte elektrische Arbeit je Intervall",
        ),
        (
            "temperature",
            "Lufttemperatur",
            "Lufttemperatur 2 m über Grund",
        ),
        (
            "humidity",
            "Relative Luftfeuchte",
            "Relative Luftfeuchtigkeit",
        ),
        (
            "pm10",
            "Feinstaub PM10",
            "Massenkonzentration Feinstaub PM10",
        ),
        ("no2", "Stickstoffdioxid", "Massenkonzentration NO2"),
    ]
}

fn stream(name: &'static str, model: &'static str, kind: &'static str) -> Stream {
    let unit = match model {
        "cars" | "bicycles" | "pedestrians" => (
            "Anzahl je 15 min",
            "1/15min",
            "http://unitsofmeasure.org/ucum.html#para-29",
        ),
        "parking" => (
            "Stellplätze",
            "1",
            "http://unitsofmeasure.org/ucum.html#para-29",
        ),
        "light_power" => ("Watt", "W", "ucum:W"),
        "light_on" => ("ein/aus", "", ""),
        "electricity" | "heat" | "pv" => ("Kilowattstunde", "kWh", "ucum:kW.h"),
        "temperature" => ("Grad Celsius", "°C", "ucum:Cel"),
        "humidity" => ("Prozent", "%", "ucum:%"),
        _ => ("Mikrogramm je Kubikmeter", "µg/m³", "ucum:ug/m3"),
    };
    Stream {
        name,
        model,
        op: model,
        unit,
        kind,
    }
}

/// A Thing type of the demo.
struct Station {
    prefix: &'static str,
    description: &'static str,
    sensor: &'static str,
    streams: Vec<Stream>,
    visibility: &'static str,
    /// Offset from the district centre (degrees lat, lon).
    offset: (f64, f64),
}

fn stations() -> Vec<Station> {
    let traffic = [
        ("Kfz stadteinwärts", "cars"),
        ("Rad stadteinwärts", "bicycles"),
        ("Fuß stadteinwärts", "pedestrians"),
        ("Kfz stadtauswärts", "cars"),
        ("Rad stadtauswärts", "bicycles"),
        ("Fuß stadtauswärts", "pedestrians"),
    ]
    .into_iter()
    .map(|(n, m)| stream(n, m, OM_COUNT))
    .collect();
    vec![
        Station {
            prefix: "Verkehrszählstelle",
            description: "Dauerzählstelle für Kfz-, Rad- und Fußverkehr (je Richtung, 15 min)",
            sensor: "counter",
            streams: traffic,
            visibility: "public",
            offset: (0.004, -0.006),
        },
        Station {
            prefix: "Parkhaus",
            description: "Parkhaus mit Stellplatzerfassung an Ein- und Ausfahrt",
            sensor: "gate",
            streams: vec![stream("Belegung", "parking", OM_COUNT)],
            visibility: "public",
            offset: (-0.003, 0.004),
        },
        Station {
            prefix: "Leuchtensteuerung",
            description: "Steuergerät eines Straßenbeleuchtungsabschnitts",
            sensor: "lightctl",
            streams: vec![
                stream("Leistung", "light_power", OM_MEASUREMENT),
                stream("Schaltzustand", "light_on", OM_TRUTH),
            ],
            visibility: "public",
            offset: (0.006, 0.007),
        },
        Station {
            prefix: "Energiezähler",
            description: "Strom- und Wärmezähler eines städtischen Gebäudes",
            sensor: "meter",
            streams: vec![
                stream("Strom", "electricity", OM_MEASUREMENT),
                stream("Wärme", "heat", OM_MEASUREMENT),
            ],
            visibility: "internal",
            offset: (-0.006, -0.005),
        },
        Station {
            prefix: "Photovoltaikanlage",
            description: "Photovoltaikanlage auf dem Dach eines städtischen Gebäudes",
            sensor: "meter",
            streams: vec![stream("Erzeugung", "pv", OM_MEASUREMENT)],
            visibility: "internal",
            offset: (-0.0055, -0.0045),
        },
        Station {
            prefix: "Klimastation",
            description: "Station für Temperatur, Luftfeuchte und Luftqualität",
            sensor: "climate",
            streams: vec![
                stream("Temperatur", "temperature", OM_MEASUREMENT),
                stream("Luftfeuchte", "humidity", OM_MEASUREMENT),
                stream("PM10", "pm10", OM_MEASUREMENT),
                stream("NO2", "no2", OM_MEASUREMENT),
            ],
            visibility: "public",
            offset: (0.002, 0.009),
        },
    ]
}

fn sensors() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            "counter",
            "Zählschleife/Radar-Kombisensor",
            "Induktionsschleifen und Radar für Kfz, Infrarot für Rad- und Fußverkehr",
        ),
        (
            "gate",
            "Schrankenzähler",
            "Zählt Ein- und Ausfahrten an den Schranken",
        ),
        (
            "lightctl",
            "Segmentcontroller",
            "Schaltet und misst einen Beleuchtungsabschnitt",
        ),
        (
            "meter",
            "Smart Meter",
            "Fernauslesbarer Strom- und Wärmezähler",
        ),
        (
            "climate",
            "Umweltmessstation",
            "Temperatur, Feuchte, PM10 (optisch), NO2 (elektrochemisch)",
        ),
    ]
}

/// Per-district scale: the inner city is busier.
fn district_scale(number: i64) -> f64 {
    match number {
        1..=3 => 1.6,
        8 => 1.2,
        _ => 0.8 + (number % 4) as f64 * 0.1,
    }
}

fn seeder_actor() -> Actor {
    Actor::new(
        Principal::Token(TokenPrincipal {
            id: 0,
            name: "demo".into(),
            scopes: vec!["admin".parse().expect("admin is a scope")],
        }),
        "demo",
    )
}

async fn created_id(env: &Env, actor: &Actor, set: &str, body: Value) -> Result<i64> {
    let w = service::post(env, actor, set, body.to_string().as_bytes()).await?;
    match w.reply {
        Reply::Json { body, .. } => Ok(body["@iot.id"].as_i64().unwrap_or(0)),
        _ => Err(kern::Error::internal("create answered no entity")),
    }
}

/// Creates the demo Things and their history.
pub async fn seed(env: &Env) -> Result<()> {
    let actor = seeder_actor();
    let mut ops = std::collections::HashMap::new();
    for (key, name, desc) in observed_properties() {
        let id = created_id(
            env,
            &actor,
            "/ObservedProperties",
            json!({ "name": name, "description": desc,
                    "definition": format!("https://demo.stadtkern.example/def/{key}") }),
        )
        .await?;
        ops.insert(key, id);
    }
    let mut sens = std::collections::HashMap::new();
    for (key, name, desc) in sensors() {
        let id = created_id(
            env,
            &actor,
            "/Sensors",
            json!({ "name": name, "description": desc, "encodingType": "text/html",
                    "metadata": format!("https://demo.stadtkern.example/sensors/{key}") }),
        )
        .await?;
        sens.insert(key, id);
    }
    let now = env.now().timestamp_micros();
    let end = now - now.rem_euclid(STEP_MICROS);
    let start = end - HISTORY_DAYS * 86_400_000_000;
    // (thing, datastream, model, scale)
    let mut series: Vec<(i64, i64, &'static str, f64)> = Vec::new();
    for (dn, dname, _, lat, lon) in DISTRICTS {
        for (si, st) in stations().into_iter().enumerate() {
            // Car parks and climate stations in every second district only.
            if (st.prefix == "Parkhaus" || st.prefix == "Klimastation") && dn % 2 == 0 {
                continue;
            }
            // PV systems on the buildings of every second district.
            if st.prefix == "Photovoltaikanlage" && dn % 2 == 1 {
                continue;
            }
            let scale = district_scale(dn);
            let name = format!("{} {dname}", st.prefix);
            let mut streams = Vec::new();
            let mut models = Vec::new();
            for s in &st.streams {
                let sc = match s.model {
                    "parking" => 250.0 + 50.0 * dn as f64,
                    "light_power" => 900.0 + 40.0 * dn as f64,
                    "pv" => 20.0 + 5.0 * dn as f64,
                    "temperature" => {
                        if dn <= 3 {
                            1.2
                        } else {
                            0.0
                        }
                    }
                    "pm10" | "no2" => scale,
                    _ => scale,
                };
                models.push((s.model, sc));
                streams.push(json!({
                    "name": format!("{name}: {}", s.name),
                    "description": format!("{} – {}", s.name, st.description),
                    "observationType": s.kind,
                    "unitOfMeasurement": { "name": s.unit.0, "symbol": s.unit.1, "definition": s.unit.2 },
                    "visibility": st.visibility,
                    "properties": { "simulation": { "model": s.model, "scale": sc }, "district": dname },
                    "Sensor": { "@iot.id": sens[st.sensor] },
                    "ObservedProperty": { "@iot.id": ops[s.op] },
                }));
            }
            let jitter = (si as f64 * 0.0013, dn as f64 * 0.0007);
            let body = json!({
                "name": name,
                "description": st.description,
                "visibility": st.visibility,
                "properties": { "district": dname, "districtNumber": dn, "operator": "Stadt Dortmund (Demo)" },
                "Locations": [{
                    "name": format!("Standort {name}"),
                    "description": format!("Stadtbezirk {dname}"),
                    "encodingType": "application/geo+json",
                    "location": { "type": "Point", "coordinates": [
                        ((lon + st.offset.1 + jitter.1) * 1e6).round() / 1e6,
                        ((lat + st.offset.0 + jitter.0) * 1e6).round() / 1e6 ] }
                }],
                "Datastreams": streams,
            });
            let thing = created_id(env, &actor, "/Things", body).await?;
            let ds = service::get(
                env,
                &actor,
                &format!("/Things({thing})/Datastreams"),
                "$select=id&$orderby=id",
            )
            .await?;
            let Reply::Json { body: ds, .. } = ds else {
                continue;
            };
            let ids: Vec<i64> = ds["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|d| d["@iot.id"].as_i64()).collect())
                .unwrap_or_default();
            for (id, (model, sc)) in ids.into_iter().zip(models) {
                series.push((thing, id, model, sc));
            }
        }
    }
    // History: one transaction, one multi-row INSERT per 1,000 rows, the bulk path.
    let access = Access::of(&actor.principal);
    let mut w = Writer {
        tx: env.db.begin().await?,
        access: &access,
        principal: &actor.principal,
        now,
        changes: Vec::new(),
    };
    let mut feature_of = std::collections::HashMap::new();
    for (thing, ds, model, sc) in series {
        let foi = match feature_of.get(&thing) {
            Some(f) => *f,
            None => {
                let f = w.feature_from_location(thing, "").await?;
                feature_of.insert(thing, f);
                f
            }
        };
        let mut noise = Noise::new(ds as u64 * 7919);
        let rows: Vec<NewObs> = (0..)
            .map(|i| start + i * STEP_MICROS)
            .take_while(|t| *t < end)
            .map(|t| NewObs {
                foi: Some(foi),
                pt_start: t,
                pt_end: None,
                result_time: None,
                result: value(model, sc, t, &mut noise),
                quality: None,
                valid: None,
                parameters: None,
            })
            .collect();
        let refs: Vec<&NewObs> = rows.iter().collect();
        insert_rows(&mut w.tx, Kind::Datastream, ds, &refs).await?;
        widen_stream_times(&mut w.tx, Kind::Datastream, ds, &refs).await?;
    }
    w.tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_deterministic_and_plausible() {
        let t = crate::time::parse_instant("2026-11-18T07:45:00Z").unwrap();
        let a = value("cars", 1.0, t, &mut Noise::new(1));
        let b = value("cars", 1.0, t, &mut Noise::new(1));
        assert_eq!(a, b);
        let night = crate::time::parse_instant("2026-11-18T02:00:00Z").unwrap();
        assert!(
            a.as_f64().unwrap()
                > value("cars", 1.0, night, &mut Noise::new(1))
                    .as_f64()
                    .unwrap()
        );
        assert_eq!(
            value("light_on", 1.0, night, &mut Noise::new(1)),
            json!(true)
        );
        let noon = crate::time::parse_instant("2026-11-18T11:30:00Z").unwrap();
        assert_eq!(
            value("light_on", 1.0, noon, &mut Noise::new(1)),
            json!(false)
        );
    }
}
