//! Building energy (Energiemanagement): meters of municipal buildings (electricity, heat, gas,
//! water) and PV systems; consumption per building, per square metre and per month; a
//! baseline per meter with anomaly alerts; the CO2 balance; and the city view of flexible
//! loads and PV production for the utility.
//!
//! Decisions:
//! - A meter's SensorThings Datastream carries the consumption (PV: production) per interval
//!   in kWh (water in m³); sums over hours and months come from the `$aggregate` extension.
//! - The baseline of a meter is, for each local weekday and hour, the median of the hourly
//!   sums of the [`BASELINE_WEEKS`] weeks before the last day.
//! - Anomaly rules (constants below), on the last 7 days unless stated: **night_load** — the
//!   mean of the night hours 0–5 h exceeds [`NIGHT_SHARE`] of the mean of working hours
//!   (Mon–Fri 8–18 h); **weekend_load** — the mean of Saturday and Sunday exceeds
//!   [`WEEKEND_SHARE`] of the mean of Monday to Friday; **jump** — an hour of the last 24 is
//!   more than [`JUMP_FACTOR`] × its baseline and at least [`JUMP_MIN_KWH`] above it;
//!   **silent** — no value for [`SILENT_HOURS`] hours. Night and weekend rules apply to
//!   electricity and water, whose base load should fall when a building is empty; heat and gas
//!   follow the weather and the heating curve, so only jumps and silence are judged for them.
//! - CO2 = consumption × emission factor of the medium (staff can change the factors);
//!   PV production counts as avoided grid electricity.
//! - The utility's view ("virtual control"): the sum of the flexible electrical loads
//!   registered per building, and PV production now (mean kW of the last full hour), by district
//!   and in total, with the last 24 hours of consumption and production.

use crate::roadworks::{projection, require_staff, require_staff_actor};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Timelike, Utc};
use chrono_tz::Europe::Berlin;
use kern::{Error, Invalid, Principal, Result};
use platform::{Actor, Env, audit};
use sensorthings::service::{self, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
pub use store::energy::{Building, Meter};

pub const MEDIA: [&str; 5] = ["electricity", "heat", "gas", "water", "pv"];
pub const USE_TYPES: [&str; 8] = [
    "administration",
    "school",
    "daycare",
    "pool",
    "sports",
    "culture",
    "fire_station",
    "other",
];
pub const BASELINE_WEEKS: i64 = 4;
pub const NIGHT_SHARE: f64 = 0.5;
pub const WEEKEND_SHARE: f64 = 0.6;
pub const JUMP_FACTOR: f64 = 1.5;
pub const JUMP_MIN_KWH: f64 = 2.0;
pub const SILENT_HOURS: i64 = 2;

async fn sta(env: &Env, path: &str, query: &str) -> Result<Value> {
    match service::get(env, &crate::roadworks::sta_reader(), path, query).await? {
        Reply::Json { body, .. } => Ok(body),
        _ => Err(Error::internal("unexpected SensorThings reply")),
    }
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn start_time(v: &Value) -> Option<DateTime<Utc>> {
    let first = v.as_str()?.split('/').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

// ---- emission factors ----

/// kg CO2 per kWh (water: per m³) by medium.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    pub electricity: f64,
    pub heat: f64,
    pub gas: f64,
    pub water: f64,
}

impl Default for Factors {
    /// German electricity mix (UBA 2023), district heating (typical supplier figure), natural
    /// gas (combustion, UBA), drinking water (supply and treatment).
    fn default() -> Self {
        Factors {
            electricity: 0.380,
            heat: 0.180,
            gas: 0.201,
            water: 0.35,
        }
    }
}

impl Factors {
    /// The factor of a medium; PV uses the electricity factor (as avoided emissions).
    pub fn of(&self, medium: &str) -> f64 {
        match medium {
            "electricity" | "pv" => self.electricity,
            "heat" => self.heat,
            "gas" => self.gas,
            "water" => self.water,
            _ => 0.0,
        }
    }
}

const FACTORS_KEY: &str = "energy.factors";

pub async fn factors(env: &Env) -> Result<Factors> {
    Ok(store::settings::get(&env.db, FACTORS_KEY)
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default())
}

pub async fn set_factors(env: &Env, actor: &Actor, f: Factors) -> Result<()> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    for (field, v) in [
        ("electricity", f.electricity),
        ("heat", f.heat),
        ("gas", f.gas),
        ("water", f.water),
    ] {
        if !(v.is_finite() && (0.0..=5.0).contains(&v)) {
            inv.push(
                field,
                "Der Faktor muss zwischen 0 und 5 kg CO₂ je Einheit liegen.",
            );
        }
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    store::settings::set_tx(
        &mut tx,
        FACTORS_KEY,
        &serde_json::to_string(&f).unwrap_or_default(),
    )
    .await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "energy.factors",
        "energy:factors",
        json!(f),
    )
    .await?;
    tx.commit().await
}

// ---- buildings and meters ----

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewBuilding {
    pub name: String,
    pub district: Option<i64>,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub floor_area_m2: Option<f64>,
    pub use_type: String,
}

pub async fn create_building(env: &Env, actor: &Actor, b: NewBuilding) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let name = b.name.trim();
    if !(2..=200).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 200 Zeichen lang sein.");
    }
    if b.address.trim().chars().count() > 300 {
        inv.push(
            "address",
            "Die Anschrift ist zu lang (höchstens 300 Zeichen).",
        );
    }
    let point = match (b.longitude, b.latitude) {
        (Some(x), Some(y))
            if x.is_finite()
                && y.is_finite()
                && projection(env).in_city_box(geo::Coord { x, y }) =>
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
    match b.floor_area_m2 {
        Some(a) if a.is_finite() && a > 0.0 && a <= 1_000_000.0 => {}
        _ => inv.push(
            "floor_area_m2",
            "Die Nettogrundfläche muss größer als 0 und höchstens 1.000.000 m² sein.",
        ),
    }
    if !USE_TYPES.contains(&b.use_type.as_str()) {
        inv.push("use_type", "Bitte wählen Sie die Nutzung des Gebäudes.");
    }
    if let Some(d) = b.district {
        let known = platform::city::districts(env).await?;
        if !known.iter().any(|k| k.number == d) {
            inv.push("district", "Diesen Stadtbezirk gibt es nicht.");
        }
    }
    inv.into_result()?;
    let (lat, lon) = point.unwrap_or_default();
    let mut tx = env.db.begin().await?;
    if store::energy::building_by_name(&mut tx, name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Ein Gebäude „{name}“ gibt es schon."
        )));
    }
    let row = Building {
        id: 0,
        name: name.into(),
        district_number: b.district,
        address: b.address.trim().into(),
        latitude: lat,
        longitude: lon,
        floor_area_m2: b.floor_area_m2.unwrap_or(0.0),
        use_type: b.use_type.clone(),
        created_at: env.now(),
    };
    let id = store::energy::insert_building(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "energy.building.create",
        &format!("energy_building:{id}"),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewMeter {
    pub building_id: i64,
    pub name: String,
    /// One of [`MEDIA`].
    pub medium: String,
    pub datastream_id: Option<i64>,
    pub flexible_kw: Option<f64>,
}

pub async fn add_meter(env: &Env, actor: &Actor, m: NewMeter) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    if !buildings(env).await?.iter().any(|b| b.id == m.building_id) {
        inv.push("building_id", "Dieses Gebäude gibt es nicht.");
    }
    let name = m.name.trim();
    if !(2..=200).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 200 Zeichen lang sein.");
    }
    if !MEDIA.contains(&m.medium.as_str()) {
        inv.push(
            "medium",
            "Bitte wählen Sie Strom, Wärme, Gas, Wasser oder Photovoltaik.",
        );
    }
    if let Some(f) = m.flexible_kw {
        if m.medium != "electricity" {
            inv.push(
                "flexible_kw",
                "Eine flexible Last gibt es nur bei Stromzählern.",
            );
        } else if !(f.is_finite() && (0.0..=100_000.0).contains(&f)) {
            inv.push(
                "flexible_kw",
                "Die flexible Last muss zwischen 0 und 100.000 kW liegen.",
            );
        }
    }
    if let Some(ds) = m.datastream_id
        && sta(env, &format!("Datastreams({ds})"), "$select=id")
            .await
            .is_err()
    {
        inv.push("datastream_id", "Diesen Datenstrom gibt es nicht.");
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    let row = Meter {
        id: 0,
        building_id: m.building_id,
        name: name.into(),
        medium: m.medium.clone(),
        datastream_id: m.datastream_id,
        flexible_kw: m.flexible_kw,
        created_at: env.now(),
    };
    let id = store::energy::insert_meter(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "energy.meter.create",
        &format!("energy_meter:{id}"),
        json!({ "building_id": m.building_id, "medium": m.medium }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn buildings(env: &Env) -> Result<Vec<Building>> {
    store::energy::buildings(&env.db).await
}

pub async fn meters(env: &Env) -> Result<Vec<Meter>> {
    store::energy::meters(&env.db).await
}

// ---- series ----

/// Sums of a Datastream per `interval` (`PT1H`, `P1M`) in `[from, to)`.
async fn sums(
    env: &Env,
    ds: i64,
    interval: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(DateTime<Utc>, f64)>> {
    let q = format!(
        "interval={interval}&fn=sum&$filter=phenomenonTime ge {} and phenomenonTime lt {}",
        iso(from),
        iso(to)
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

/// Local weekday (Monday = 0) and hour of an instant.
pub fn local_slot(t: DateTime<Utc>) -> (usize, usize) {
    let l = t.with_timezone(&Berlin);
    (
        l.weekday().num_days_from_monday() as usize,
        l.hour() as usize,
    )
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The baseline `[weekday][hour]`: the median of the hourly sums of each local weekday and hour.
pub fn baseline(hours: &[(DateTime<Utc>, f64)]) -> Vec<Vec<Option<f64>>> {
    let mut cells = vec![vec![Vec::new(); 24]; 7];
    for (t, v) in hours {
        let (d, h) = local_slot(*t);
        cells[d][h].push(*v);
    }
    cells
        .into_iter()
        .map(|row| row.into_iter().map(|mut c| median(&mut c)).collect())
        .collect()
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// `Some((night mean, working-hours mean))` when the night load is too high.
pub fn night_load(hours: &[(DateTime<Utc>, f64)]) -> Option<(f64, f64)> {
    let night = mean(
        hours
            .iter()
            .filter(|(t, _)| local_slot(*t).1 < 5)
            .map(|x| x.1),
    )?;
    let work = mean(
        hours
            .iter()
            .filter(|(t, _)| {
                let (d, h) = local_slot(*t);
                d < 5 && (8..18).contains(&h)
            })
            .map(|x| x.1),
    )?;
    (work > 0.0 && night > NIGHT_SHARE * work).then_some((night, work))
}

/// `Some((weekend mean, workday mean))` when the weekend load is too high.
pub fn weekend_load(hours: &[(DateTime<Utc>, f64)]) -> Option<(f64, f64)> {
    let weekend = mean(
        hours
            .iter()
            .filter(|(t, _)| local_slot(*t).0 >= 5)
            .map(|x| x.1),
    )?;
    let week = mean(
        hours
            .iter()
            .filter(|(t, _)| local_slot(*t).0 < 5)
            .map(|x| x.1),
    )?;
    (week > 0.0 && weekend > WEEKEND_SHARE * week).then_some((weekend, week))
}

/// Hours far above their baseline: `(hour, value, baseline)`.
pub fn jumps(
    hours: &[(DateTime<Utc>, f64)],
    base: &[Vec<Option<f64>>],
) -> Vec<(DateTime<Utc>, f64, f64)> {
    hours
        .iter()
        .filter_map(|(t, v)| {
            let (d, h) = local_slot(*t);
            let b = base.get(d)?.get(h).copied().flatten()?;
            (*v > JUMP_FACTOR * b && *v - b >= JUMP_MIN_KWH).then_some((*t, *v, b))
        })
        .collect()
}

/// An anomaly of a meter.
#[derive(Debug, Clone, Serialize)]
pub struct Anomaly {
    pub building_id: i64,
    pub building: String,
    pub meter_id: i64,
    pub meter: String,
    pub medium: String,
    /// `night_load`, `weekend_load`, `jump` or `silent`.
    pub rule: &'static str,
    pub at: Option<DateTime<Utc>>,
    pub value: Option<f64>,
    pub reference: Option<f64>,
    /// A German sentence for staff.
    pub detail: String,
}

/// One finding of [`assess`]: rule, hour, value, reference value, detail.
pub type Finding = (
    &'static str,
    Option<DateTime<Utc>>,
    Option<f64>,
    Option<f64>,
    String,
);

/// The anomalies of one meter's hourly sums at `now` (pure; see the module doc).
pub fn assess(hours: &[(DateTime<Utc>, f64)], now: DateTime<Utc>, medium: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let last = hours.iter().map(|h| h.0).max();
    if last.is_none_or(|t| now - (t + Duration::hours(1)) > Duration::hours(SILENT_HOURS)) {
        out.push((
            "silent",
            last,
            None,
            None,
            format!("Seit über {SILENT_HOURS} Stunden keine Messwerte."),
        ));
    }
    let week_start = now - Duration::days(7);
    let recent: Vec<_> = hours
        .iter()
        .copied()
        .filter(|h| h.0 >= week_start)
        .collect();
    let day_start = now - Duration::hours(24);
    let before: Vec<_> = hours
        .iter()
        .copied()
        .filter(|h| h.0 < day_start && h.0 >= day_start - Duration::weeks(BASELINE_WEEKS))
        .collect();
    if matches!(medium, "electricity" | "water") {
        if let Some((n, w)) = night_load(&recent) {
            out.push((
                "night_load",
                None,
                Some(n),
                Some(w),
                format!(
                    "Hohe Nachtlast: nachts (0–5 Uhr) im Mittel {n:.1} je Stunde, {:.0} % der Last zu Arbeitszeiten ({w:.1}).",
                    n / w * 100.0
                ),
            ));
        }
        if let Some((e, w)) = weekend_load(&recent) {
            out.push((
                "weekend_load",
                None,
                Some(e),
                Some(w),
                format!(
                    "Hohe Wochenendlast: am Wochenende im Mittel {e:.1} je Stunde, {:.0} % der Werktage ({w:.1}).",
                    e / w * 100.0
                ),
            ));
        }
    }
    if medium != "pv" {
        let base = baseline(&before);
        let last_day: Vec<_> = hours.iter().copied().filter(|h| h.0 >= day_start).collect();
        if let Some((t, v, b)) = jumps(&last_day, &base)
            .into_iter()
            .max_by(|a, b| (a.1 - a.2).total_cmp(&(b.1 - b.2)))
        {
            out.push((
                "jump",
                Some(t),
                Some(v),
                Some(b),
                format!(
                    "Sprung im Verbrauch: {v:.1} in einer Stunde, üblich sind {b:.1} (Median der letzten {BASELINE_WEEKS} Wochen)."
                ),
            ));
        }
    }
    out
}

/// Anomalies of every meter with a Datastream (staff).
pub async fn anomalies(env: &Env, who: &Principal) -> Result<Vec<Anomaly>> {
    require_staff(who)?;
    let now = env.now();
    let from = now - Duration::weeks(BASELINE_WEEKS) - Duration::days(1);
    let bs = buildings(env).await?;
    let mut out = Vec::new();
    for m in meters(env).await? {
        let Some(ds) = m.datastream_id else { continue };
        let Some(b) = bs.iter().find(|b| b.id == m.building_id) else {
            continue;
        };
        let hours = sums(env, ds, "PT1H", from, now + Duration::minutes(1)).await?;
        for (rule, at, value, reference, detail) in assess(&hours, now, &m.medium) {
            out.push(Anomaly {
                building_id: b.id,
                building: b.name.clone(),
                meter_id: m.id,
                meter: m.name.clone(),
                medium: m.medium.clone(),
                rule,
                at,
                value,
                reference,
                detail,
            });
        }
    }
    Ok(out)
}

// ---- consumption and CO2 ----

/// A building's consumption in one year: per medium and month, with totals.
#[derive(Debug, Clone, Serialize)]
pub struct BuildingYear {
    pub building: Building,
    pub year: i32,
    /// medium → twelve monthly sums (January first), null where nothing was measured.
    pub months: BTreeMap<String, Vec<Option<f64>>>,
    /// medium → sum of the year.
    pub totals: BTreeMap<String, f64>,
    /// medium → sum per m² of floor area.
    pub per_m2: BTreeMap<String, f64>,
    /// Emissions of the consumption, kg CO2.
    pub co2_kg: f64,
    /// Emissions avoided by the building's own PV production, kg CO2.
    pub co2_avoided_kg: f64,
    /// Twelve monthly balances (consumption minus avoided), kg CO2.
    pub co2_months: Vec<f64>,
}

fn month_index(t: DateTime<Utc>) -> usize {
    t.with_timezone(&Berlin).month0() as usize
}

/// Consumption, per m² and the CO2 balance of every building in `year` (local calendar).
pub async fn year(env: &Env, year: i32) -> Result<Vec<BuildingYear>> {
    if !(2000..=2100).contains(&year) {
        return Err(Error::invalid(
            "year",
            "Bitte geben Sie ein Jahr zwischen 2000 und 2100 an.",
        ));
    }
    let f = factors(env).await?;
    let from = crate::lighting::day_start(NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default());
    let to =
        crate::lighting::day_start(NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or_default());
    let ms = meters(env).await?;
    let mut out = Vec::new();
    for b in buildings(env).await? {
        let mut months: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        for m in ms.iter().filter(|m| m.building_id == b.id) {
            let Some(ds) = m.datastream_id else { continue };
            let row = months
                .entry(m.medium.clone())
                .or_insert_with(|| vec![None; 12]);
            // Hourly sums folded into local months: exact at the summer-time changes.
            for (t, v) in sums(env, ds, "PT1H", from, to).await? {
                let cell = &mut row[month_index(t)];
                *cell = Some(cell.unwrap_or(0.0) + v);
            }
        }
        let totals: BTreeMap<String, f64> = months
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().flatten().sum()))
            .collect();
        let per_m2 = totals
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if b.floor_area_m2 > 0.0 {
                        v / b.floor_area_m2
                    } else {
                        0.0
                    },
                )
            })
            .collect();
        let mut co2_months = vec![0.0; 12];
        let (mut co2, mut avoided) = (0.0, 0.0);
        for (medium, row) in &months {
            for (i, v) in row.iter().enumerate() {
                let kg = v.unwrap_or(0.0) * f.of(medium);
                if medium == "pv" {
                    avoided += kg;
                    co2_months[i] -= kg;
                } else {
                    co2 += kg;
                    co2_months[i] += kg;
                }
            }
        }
        out.push(BuildingYear {
            year,
            months,
            totals,
            per_m2,
            co2_kg: co2,
            co2_avoided_kg: avoided,
            co2_months,
            building: b,
        });
    }
    Ok(out)
}

// ---- the utility's view ----

#[derive(Debug, Clone, Serialize)]
pub struct DistrictFlex {
    pub district_number: Option<i64>,
    pub buildings: usize,
    /// Sum of the registered flexible electrical loads (kW).
    pub flexible_kw: f64,
    /// PV production in the last full hour (mean kW).
    pub pv_kw: f64,
    /// Electricity consumption in the last full hour (mean kW).
    pub consumption_kw: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CityView {
    pub at: DateTime<Utc>,
    pub districts: Vec<DistrictFlex>,
    pub flexible_kw: f64,
    pub pv_kw: f64,
    pub consumption_kw: f64,
    /// The last 24 full hours: (hour start, electricity consumption kWh, PV production kWh).
    pub hours: Vec<(DateTime<Utc>, f64, f64)>,
}

/// Flexible loads and PV production now, by district and in total, with the last 24 hours.
pub async fn city_view(env: &Env) -> Result<CityView> {
    let now = env.now();
    let this_hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let from = this_hour - Duration::hours(24);
    let last = this_hour - Duration::hours(1);
    let bs = buildings(env).await?;
    let mut by: BTreeMap<Option<i64>, DistrictFlex> = BTreeMap::new();
    let mut curve: BTreeMap<DateTime<Utc>, (f64, f64)> = (0..24)
        .map(|i| (from + Duration::hours(i), (0.0, 0.0)))
        .collect();
    for b in &bs {
        by.entry(b.district_number)
            .or_insert(DistrictFlex {
                district_number: b.district_number,
                buildings: 0,
                flexible_kw: 0.0,
                pv_kw: 0.0,
                consumption_kw: 0.0,
            })
            .buildings += 1;
    }
    for m in meters(env).await? {
        let Some(b) = bs.iter().find(|b| b.id == m.building_id) else {
            continue;
        };
        let Some(d) = by.get_mut(&b.district_number) else {
            continue;
        };
        if m.medium == "electricity" {
            d.flexible_kw += m.flexible_kw.unwrap_or(0.0);
        }
        if !matches!(m.medium.as_str(), "electricity" | "pv") {
            continue;
        }
        let Some(ds) = m.datastream_id else { continue };
        for (t, v) in sums(env, ds, "PT1H", from, this_hour).await? {
            if let Some(c) = curve.get_mut(&t) {
                if m.medium == "pv" {
                    c.1 += v;
                } else {
                    c.0 += v;
                }
            }
            if t == last {
                if m.medium == "pv" {
                    d.pv_kw += v;
                } else {
                    d.consumption_kw += v;
                }
            }
        }
    }
    let districts: Vec<DistrictFlex> = by.into_values().collect();
    Ok(CityView {
        at: this_hour,
        flexible_kw: districts.iter().map(|d| d.flexible_kw).sum(),
        pv_kw: districts.iter().map(|d| d.pv_kw).sum(),
        consumption_kw: districts.iter().map(|d| d.consumption_kw).sum(),
        districts,
        hours: curve.into_iter().map(|(t, (c, p))| (t, c, p)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Hourly values for `days` days from Monday 2 November 2026 00:00 local (23:00 UTC the
    /// day before), from a function of (weekday, local hour).
    fn series(days: i64, f: impl Fn(usize, usize) -> f64) -> Vec<(DateTime<Utc>, f64)> {
        let start = Utc.with_ymd_and_hms(2026, 11, 1, 23, 0, 0).unwrap();
        (0..days * 24)
            .map(|i| {
                let t = start + Duration::hours(i);
                let (d, h) = local_slot(t);
                (t, f(d, h))
            })
            .collect()
    }

    fn office(d: usize, h: usize) -> f64 {
        if d < 5 && (7..19).contains(&h) {
            10.0
        } else {
            2.0
        }
    }

    #[test]
    fn the_baseline_is_the_median_per_weekday_and_hour() {
        let mut s = series(21, office);
        // One outlier Monday 9:00 does not move the median.
        s[9].1 = 100.0;
        let b = baseline(&s);
        assert_eq!(b.len(), 7);
        assert!(b.iter().all(|r| r.len() == 24));
        assert_eq!(b[0][9], Some(10.0));
        assert_eq!(b[5][9], Some(2.0));
        assert_eq!(baseline(&[])[0][0], None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }

    #[test]
    fn night_and_weekend_load_are_found_only_when_the_base_load_stays_high() {
        let good = series(7, office);
        assert_eq!(night_load(&good), None);
        assert_eq!(weekend_load(&good), None);
        // Ventilation left running at night and at the weekend.
        let bad = series(7, |d, h| {
            if d < 5 && (7..19).contains(&h) {
                10.0
            } else {
                7.0
            }
        });
        let (n, w) = night_load(&bad).unwrap();
        assert_eq!((n, w), (7.0, 10.0));
        let (we, wd) = weekend_load(&bad).unwrap();
        assert_eq!(we, 7.0);
        assert!(wd > 8.0 && wd < 9.0);
    }

    #[test]
    fn a_jump_needs_both_the_factor_and_the_absolute_delta() {
        let history = series(28, office);
        let base = baseline(&history);
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(); // Monday 10:00 local
        assert_eq!(local_slot(t), (0, 10));
        assert_eq!(jumps(&[(t, 16.0)], &base), vec![(t, 16.0, 10.0)]);
        assert!(jumps(&[(t, 14.0)], &base).is_empty(), "below 1.5 ×");
        // At night the base is 2: 3.5 is 1.75 × but only 1.5 above.
        let n = Utc.with_ymd_and_hms(2026, 11, 30, 1, 0, 0).unwrap();
        assert!(jumps(&[(n, 3.5)], &base).is_empty());
        assert_eq!(jumps(&[(n, 4.5)], &base).len(), 1);
    }

    #[test]
    fn assess_applies_the_rules_by_medium_and_finds_silence() {
        let s = series(29, |d, h| {
            if d < 5 && (7..19).contains(&h) {
                10.0
            } else {
                7.0
            }
        });
        let now = s.last().unwrap().0 + Duration::minutes(70);
        let rules = |m| {
            assess(&s, now, m)
                .into_iter()
                .map(|r| r.0)
                .collect::<Vec<_>>()
        };
        assert_eq!(rules("electricity"), ["night_load", "weekend_load"]);
        assert!(rules("heat").is_empty(), "no night rule for heat");
        let later = now + Duration::hours(SILENT_HOURS + 1);
        assert_eq!(assess(&s, later, "heat")[0].0, "silent");
        assert_eq!(assess(&[], now, "gas")[0].0, "silent");
        let mut j = series(29, office);
        let last = j.len() - 3;
        j[last].1 += 40.0;
        let now = j.last().unwrap().0 + Duration::minutes(70);
        let r = assess(&j, now, "gas");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0, "jump");
    }

    #[test]
    fn factors_default_and_pv_counts_as_avoided_electricity() {
        let f = Factors::default();
        assert_eq!(f.of("pv"), f.electricity);
        assert_eq!(f.of("heat"), 0.180);
        assert_eq!(f.of("unknown"), 0.0);
    }
}
