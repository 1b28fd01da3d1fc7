//! Street lighting (Straßenbeleuchtung): the inventory of circuits (each with its controller),
//! poles and luminaires; dimming schedules on the astronomical clock with calendar overrides;
//! fault detection from controller telemetry; maintenance orders from faults, staff and
//! residents; energy, CO2 and the saving from dimming per circuit and month.
//!
//! Decisions:
//! - A circuit (Schaltkreis) is fed from one switch cabinet and switched by one controller;
//!   the controller's two SensorThings Datastreams are the circuit's electrical power (W) and
//!   its switch state (boolean). Poles belong to one circuit, luminaires to one pole; the
//!   rated power of a circuit is the sum of its luminaires' wattages.
//! - Switching times are computed at the city's coordinates (`[city]` latitude/longitude),
//!   dimming windows in local time (Europe/Berlin). See [`astro`].
//! - A calendar override replaces the dimming of one schedule for one night (a holiday with
//!   full light, a Christmas market dimmed later).
//! - Energy per month: measured from the power Datastream (mean power of each hour with data,
//!   summed, in kWh); planned from the schedule (rated power × burning hours, dimmed hours at
//!   the dimming level). The saving from dimming is the undimmed energy (rated power × burning
//!   hours) minus the measured energy, or minus the planned energy without telemetry. CO2 uses
//!   [`CO2_KG_PER_KWH`].
//! - A resident's e-mail address is kept only when they ask for feedback, and erased when the
//!   order is closed (after the feedback mail is queued).

pub mod astro;
pub mod demo;
pub mod faults;

use crate::roadworks::{projection, require_staff, require_staff_actor};
use astro::{Night, Rule};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use faults::{Expected, Fault, Telemetry};
use kern::{Error, Invalid, Principal, Result};
use platform::accounts::valid_email;
use platform::mail::{Mail, queue_tx};
use platform::{Actor, Env, audit};
use sensorthings::service::{self, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
pub use store::lighting::{Circuit, Luminaire, MaintenanceOrder, Override, Pole, Schedule};

/// kg CO2 per kWh of electricity: the German electricity mix (Umweltbundesamt, 2023).
pub const CO2_KG_PER_KWH: f64 = 0.380;
pub const LAMP_TYPES: [&str; 5] = ["led", "sodium", "mercury", "metal_halide", "fluorescent"];
pub const ORDER_STATES: [&str; 5] = ["open", "assigned", "in_progress", "done", "cancelled"];
pub const OVERRIDE_KINDS: [&str; 2] = ["holiday", "event"];

async fn sta(env: &Env, path: &str, query: &str) -> Result<Value> {
    match service::get(env, &crate::roadworks::sta_reader(), path, query).await? {
        Reply::Json { body, .. } => Ok(body),
        _ => Err(Error::internal("unexpected SensorThings reply")),
    }
}

async fn datastream_exists(env: &Env, ds: i64) -> bool {
    sta(env, &format!("Datastreams({ds})"), "$select=id")
        .await
        .is_ok()
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn opt_text(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

// ---- schedules ----

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewSchedule {
    pub name: String,
    /// `sunset` or `civil_dusk`.
    pub on_event: String,
    pub on_offset_min: i64,
    /// `sunrise` or `civil_dawn`.
    pub off_event: String,
    pub off_offset_min: i64,
    /// `HH:MM` local, empty for no dimming.
    pub dim_start: String,
    pub dim_end: String,
    pub dim_percent: Option<i64>,
}

fn check_dimming(inv: &mut Invalid, start: &str, end: &str, percent: Option<i64>) {
    let (s, e) = (start.trim(), end.trim());
    match (s.is_empty(), e.is_empty()) {
        (true, true) => {}
        (false, false) => {
            if astro::parse_hm(s).is_none() || astro::parse_hm(e).is_none() {
                inv.push(
                    "dim_start",
                    "Bitte geben Sie Beginn und Ende der Absenkung als Uhrzeit an (HH:MM).",
                );
            } else if s == e {
                inv.push(
                    "dim_start",
                    "Beginn und Ende der Absenkung dürfen nicht gleich sein.",
                );
            }
        }
        _ => inv.push(
            "dim_start",
            "Bitte geben Sie Beginn und Ende der Absenkung an, oder keines von beiden.",
        ),
    }
    match percent {
        Some(p) if (1..=100).contains(&p) => {}
        _ => inv.push(
            "dim_percent",
            "Die Lichtstärke bei Absenkung muss zwischen 1 und 100 Prozent liegen.",
        ),
    }
}

pub async fn create_schedule(env: &Env, actor: &Actor, s: NewSchedule) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let name = s.name.trim();
    if !(2..=120).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 120 Zeichen lang sein.");
    }
    if !astro::ON_EVENTS.contains(&s.on_event.as_str()) {
        inv.push(
            "on_event",
            "Bitte wählen Sie, ob bei Sonnenuntergang oder am Ende der bürgerlichen Dämmerung eingeschaltet wird.",
        );
    }
    if !astro::OFF_EVENTS.contains(&s.off_event.as_str()) {
        inv.push(
            "off_event",
            "Bitte wählen Sie, ob bei Sonnenaufgang oder zu Beginn der bürgerlichen Dämmerung ausgeschaltet wird.",
        );
    }
    if s.on_offset_min.abs() > 120 || s.off_offset_min.abs() > 120 {
        inv.push(
            "on_offset_min",
            "Der Versatz darf höchstens 120 Minuten betragen.",
        );
    }
    check_dimming(&mut inv, &s.dim_start, &s.dim_end, s.dim_percent);
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    if store::lighting::schedule_by_name(&mut tx, name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Einen Schaltplan „{name}“ gibt es schon."
        )));
    }
    let row = Schedule {
        id: 0,
        name: name.into(),
        on_event: s.on_event.clone(),
        on_offset_min: s.on_offset_min,
        off_event: s.off_event.clone(),
        off_offset_min: s.off_offset_min,
        dim_start: opt_text(&s.dim_start),
        dim_end: opt_text(&s.dim_end),
        dim_percent: s.dim_percent.unwrap_or(100),
        created_at: env.now(),
    };
    let id = store::lighting::insert_schedule(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.schedule.create",
        &format!("lighting_schedule:{id}"),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn schedules(env: &Env) -> Result<Vec<Schedule>> {
    store::lighting::schedules(&env.db).await
}

async fn schedule(env: &Env, id: i64) -> Result<Schedule> {
    schedules(env)
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| Error::not_found("Diesen Schaltplan gibt es nicht."))
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewOverride {
    pub schedule_id: i64,
    /// `YYYY-MM-DD`: the evening the override applies to.
    pub day: String,
    pub label: String,
    /// `holiday` or `event`.
    pub kind: String,
    pub dim_start: String,
    pub dim_end: String,
    /// 100 = full light all night.
    pub dim_percent: Option<i64>,
}

pub async fn add_override(env: &Env, actor: &Actor, o: NewOverride) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let day = parse_date(&o.day);
    if day.is_none() {
        inv.push("day", "Bitte geben Sie ein gültiges Datum an (JJJJ-MM-TT).");
    }
    let label = o.label.trim();
    if !(2..=200).contains(&label.chars().count()) {
        inv.push("label", "Die Bezeichnung muss 2 bis 200 Zeichen lang sein.");
    }
    if !OVERRIDE_KINDS.contains(&o.kind.as_str()) {
        inv.push("kind", "Bitte wählen Sie Feiertag oder Veranstaltung.");
    }
    check_dimming(&mut inv, &o.dim_start, &o.dim_end, o.dim_percent);
    let known = schedules(env).await?.iter().any(|s| s.id == o.schedule_id);
    if !known {
        inv.push("schedule_id", "Diesen Schaltplan gibt es nicht.");
    }
    inv.into_result()?;
    let day = day.map(|d| d.to_string()).unwrap_or_default();
    let mut tx = env.db.begin().await?;
    if store::lighting::override_on(&mut tx, o.schedule_id, &day)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Für den {day} gibt es in diesem Schaltplan schon eine Ausnahme."
        )));
    }
    let row = Override {
        id: 0,
        schedule_id: o.schedule_id,
        day: day.clone(),
        label: label.into(),
        kind: o.kind.clone(),
        dim_start: opt_text(&o.dim_start),
        dim_end: opt_text(&o.dim_end),
        dim_percent: o.dim_percent.unwrap_or(100),
        created_at: env.now(),
    };
    let id = store::lighting::insert_override(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.override.create",
        &format!("lighting_override:{id}"),
        json!({ "schedule_id": o.schedule_id, "day": day }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn delete_override(env: &Env, actor: &Actor, id: i64) -> Result<()> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    store::lighting::delete_override(&mut tx, id).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.override.delete",
        &format!("lighting_override:{id}"),
        json!({}),
    )
    .await?;
    tx.commit().await
}

pub async fn overrides(env: &Env) -> Result<Vec<Override>> {
    store::lighting::overrides(&env.db).await
}

/// The rule of `s` for the night of `day`, after its override if there is one.
pub fn rule_for(s: &Schedule, o: Option<&Override>) -> Rule {
    let (start, end, percent) = match o {
        Some(o) => (o.dim_start.as_deref(), o.dim_end.as_deref(), o.dim_percent),
        None => (s.dim_start.as_deref(), s.dim_end.as_deref(), s.dim_percent),
    };
    let dim = match (
        start.and_then(astro::parse_hm),
        end.and_then(astro::parse_hm),
    ) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Rule {
        on_event: s.on_event.clone(),
        on_offset_min: s.on_offset_min,
        off_event: s.off_event.clone(),
        off_offset_min: s.off_offset_min,
        dim,
        dim_percent: percent,
    }
}

/// One night of the plan with the override that shaped it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedNight {
    #[serde(flatten)]
    pub night: Night,
    pub override_label: Option<String>,
}

/// The nights of schedule `s` beginning on the evenings of `from` and the `days - 1` following.
pub fn plan_of(
    lat: f64,
    lon: f64,
    s: &Schedule,
    overrides: &[Override],
    from: NaiveDate,
    days: i64,
) -> Vec<PlannedNight> {
    (0..days)
        .filter_map(|i| {
            let day = from + Duration::days(i);
            let key = day.to_string();
            let o = overrides
                .iter()
                .find(|o| o.schedule_id == s.id && o.day == key);
            let night = astro::night(lat, lon, day, &rule_for(s, o))?;
            Some(PlannedNight {
                night,
                override_label: o.map(|o| o.label.clone()),
            })
        })
        .collect()
}

/// The plan of a schedule at the city's coordinates (at most 366 nights).
pub async fn plan(
    env: &Env,
    schedule_id: i64,
    from: NaiveDate,
    days: i64,
) -> Result<Vec<PlannedNight>> {
    if !(1..=366).contains(&days) {
        return Err(Error::invalid("days", "Es sind 1 bis 366 Nächte möglich."));
    }
    let s = schedule(env, schedule_id).await?;
    let o = overrides(env).await?;
    let c = &env.config.city;
    Ok(plan_of(c.latitude, c.longitude, &s, &o, from, days))
}

/// What a schedule expects at `now`: the level of the night that contains `now` (or 0), and
/// whether `now` is near a change of level.
pub fn expected_at(
    lat: f64,
    lon: f64,
    s: &Schedule,
    overrides: &[Override],
    now: DateTime<Utc>,
) -> Expected {
    let today = astro::local_day(now);
    let nights = plan_of(lat, lon, s, overrides, today - Duration::days(1), 2);
    let level = nights
        .iter()
        .map(|n| n.night.level_at(now))
        .max()
        .unwrap_or(0);
    let times: Vec<_> = nights.iter().flat_map(|n| n.night.switch_times()).collect();
    Expected {
        level,
        near_switch: faults::near_any(now, &times),
    }
}

// ---- inventory ----

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewCircuit {
    pub name: String,
    pub district: Option<i64>,
    pub cabinet: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub controller_serial: String,
    pub power_datastream_id: Option<i64>,
    pub switch_datastream_id: Option<i64>,
    pub schedule_id: Option<i64>,
}

fn check_point(env: &Env, inv: &mut Invalid, lat: Option<f64>, lon: Option<f64>) -> (f64, f64) {
    match (lon, lat) {
        (Some(x), Some(y))
            if x.is_finite()
                && y.is_finite()
                && projection(env).in_city_box(geo::Coord { x, y }) =>
        {
            (y, x)
        }
        _ => {
            inv.push(
                "latitude",
                "Bitte geben Sie eine Lage im Stadtgebiet an (Breite und Länge).",
            );
            (0.0, 0.0)
        }
    }
}

pub async fn create_circuit(env: &Env, actor: &Actor, c: NewCircuit) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let name = c.name.trim();
    if !(2..=200).contains(&name.chars().count()) {
        inv.push("name", "Der Name muss 2 bis 200 Zeichen lang sein.");
    }
    if c.cabinet.trim().chars().count() > 200 || c.controller_serial.trim().chars().count() > 100 {
        inv.push("cabinet", "Schaltschrank oder Seriennummer sind zu lang.");
    }
    let (lat, lon) = check_point(env, &mut inv, c.latitude, c.longitude);
    if let Some(d) = c.district {
        let known = platform::city::districts(env).await?;
        if !known.iter().any(|k| k.number == d) {
            inv.push("district", "Diesen Stadtbezirk gibt es nicht.");
        }
    }
    for (field, ds) in [
        ("power_datastream_id", c.power_datastream_id),
        ("switch_datastream_id", c.switch_datastream_id),
    ] {
        if let Some(ds) = ds
            && !datastream_exists(env, ds).await
        {
            inv.push(field, "Diesen Datenstrom gibt es nicht.");
        }
    }
    if let Some(s) = c.schedule_id
        && !schedules(env).await?.iter().any(|x| x.id == s)
    {
        inv.push("schedule_id", "Diesen Schaltplan gibt es nicht.");
    }
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    if store::lighting::circuit_by_name(&mut tx, name)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Einen Schaltkreis „{name}“ gibt es schon."
        )));
    }
    let row = Circuit {
        id: 0,
        name: name.into(),
        district_number: c.district,
        cabinet: c.cabinet.trim().into(),
        latitude: lat,
        longitude: lon,
        controller_serial: c.controller_serial.trim().into(),
        power_datastream_id: c.power_datastream_id,
        switch_datastream_id: c.switch_datastream_id,
        schedule_id: c.schedule_id,
        created_at: env.now(),
    };
    let id = store::lighting::insert_circuit(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.circuit.create",
        &format!("lighting_circuit:{id}"),
        json!({ "name": name }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewPole {
    pub number: String,
    pub circuit_id: i64,
    pub street: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub height_m: Option<f64>,
    /// `YYYY-MM-DD` or empty.
    pub installed_on: String,
}

fn check_installed(inv: &mut Invalid, s: &str, now: DateTime<Utc>) -> Option<String> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    match parse_date(s) {
        Some(d) if d <= now.date_naive() && d.year() >= 1900 => Some(d.to_string()),
        Some(_) => {
            inv.push(
                "installed_on",
                "Das Einbaudatum darf nicht in der Zukunft liegen.",
            );
            None
        }
        None => {
            inv.push(
                "installed_on",
                "Bitte geben Sie das Einbaudatum als JJJJ-MM-TT an.",
            );
            None
        }
    }
}

pub async fn add_pole(env: &Env, actor: &Actor, p: NewPole) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let number = p.number.trim();
    if number.is_empty() || number.chars().count() > 40 {
        inv.push("number", "Die Mastnummer muss 1 bis 40 Zeichen lang sein.");
    }
    if !circuits(env).await?.iter().any(|c| c.id == p.circuit_id) {
        inv.push("circuit_id", "Diesen Schaltkreis gibt es nicht.");
    }
    let street = p.street.trim();
    if !(2..=200).contains(&street.chars().count()) {
        inv.push(
            "street",
            "Bitte geben Sie die Straße an (2 bis 200 Zeichen).",
        );
    }
    let (lat, lon) = check_point(env, &mut inv, p.latitude, p.longitude);
    if let Some(h) = p.height_m
        && !(h.is_finite() && h > 0.0 && h <= 40.0)
    {
        inv.push(
            "height_m",
            "Die Masthöhe muss zwischen 0 und 40 Metern liegen.",
        );
    }
    let installed = check_installed(&mut inv, &p.installed_on, env.now());
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    if store::lighting::pole_by_number(&mut tx, number)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "Den Mast „{number}“ gibt es schon."
        )));
    }
    let row = Pole {
        id: 0,
        number: number.into(),
        circuit_id: p.circuit_id,
        street: street.into(),
        latitude: lat,
        longitude: lon,
        height_m: p.height_m,
        installed_on: installed,
        created_at: env.now(),
    };
    let id = store::lighting::insert_pole(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.pole.create",
        &format!("lighting_pole:{id}"),
        json!({ "number": number, "circuit_id": p.circuit_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewLuminaire {
    pub pole_id: i64,
    /// One of [`LAMP_TYPES`].
    pub lamp_type: String,
    pub wattage: Option<f64>,
    pub installed_on: String,
}

pub async fn add_luminaire(env: &Env, actor: &Actor, l: NewLuminaire) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    if !poles(env).await?.iter().any(|p| p.id == l.pole_id) {
        inv.push("pole_id", "Diesen Mast gibt es nicht.");
    }
    if !LAMP_TYPES.contains(&l.lamp_type.as_str()) {
        inv.push("lamp_type", "Bitte wählen Sie eine Leuchtmittelart.");
    }
    match l.wattage {
        Some(w) if w.is_finite() && w > 0.0 && w <= 2000.0 => {}
        _ => inv.push(
            "wattage",
            "Die Leistung muss größer als 0 und höchstens 2000 Watt sein.",
        ),
    }
    let installed = check_installed(&mut inv, &l.installed_on, env.now());
    inv.into_result()?;
    let mut tx = env.db.begin().await?;
    let row = Luminaire {
        id: 0,
        pole_id: l.pole_id,
        lamp_type: l.lamp_type.clone(),
        wattage: l.wattage.unwrap_or(0.0),
        installed_on: installed,
        created_at: env.now(),
    };
    let id = store::lighting::insert_luminaire(&mut tx, &row).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.luminaire.create",
        &format!("lighting_luminaire:{id}"),
        json!({ "pole_id": l.pole_id, "wattage": row.wattage }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn circuits(env: &Env) -> Result<Vec<Circuit>> {
    store::lighting::circuits(&env.db).await
}

pub async fn poles(env: &Env) -> Result<Vec<Pole>> {
    store::lighting::poles(&env.db).await
}

pub async fn luminaires(env: &Env) -> Result<Vec<Luminaire>> {
    store::lighting::luminaires(&env.db).await
}

/// A circuit with the totals of its inventory.
#[derive(Debug, Clone, Serialize)]
pub struct CircuitInventory {
    pub circuit: Circuit,
    pub poles: usize,
    pub luminaires: usize,
    /// Sum of the luminaires' wattages.
    pub rated_w: f64,
    /// Number of luminaires per lamp type.
    pub lamp_types: BTreeMap<String, usize>,
}

pub async fn inventory(env: &Env) -> Result<Vec<CircuitInventory>> {
    let poles = poles(env).await?;
    let lums = luminaires(env).await?;
    Ok(circuits(env)
        .await?
        .into_iter()
        .map(|c| {
            let ps: Vec<i64> = poles
                .iter()
                .filter(|p| p.circuit_id == c.id)
                .map(|p| p.id)
                .collect();
            let ls: Vec<&Luminaire> = lums.iter().filter(|l| ps.contains(&l.pole_id)).collect();
            let mut lamp_types = BTreeMap::new();
            for l in &ls {
                *lamp_types.entry(l.lamp_type.clone()).or_insert(0) += 1;
            }
            CircuitInventory {
                poles: ps.len(),
                luminaires: ls.len(),
                rated_w: ls.iter().map(|l| l.wattage).sum(),
                lamp_types,
                circuit: c,
            }
        })
        .collect())
}

// ---- telemetry, status and faults ----

fn start_time(v: &Value) -> Option<DateTime<Utc>> {
    let first = v.as_str()?.split('/').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn latest(env: &Env, ds: i64) -> Result<Option<(Value, DateTime<Utc>)>> {
    let body = sta(
        env,
        &format!("Datastreams({ds})/Observations"),
        "$orderby=phenomenonTime desc&$top=1&$select=result,phenomenonTime",
    )
    .await?;
    Ok(body["value"]
        .get(0)
        .and_then(|o| start_time(&o["phenomenonTime"]).map(|t| (o["result"].clone(), t))))
}

/// A switch reading: a boolean, or a number (non-zero = on), or "on"/"off".
fn switch_value(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "on" | "an" | "true" | "1" => Some(true),
            "off" | "aus" | "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

pub async fn telemetry(env: &Env, c: &Circuit) -> Result<Telemetry> {
    let mut t = Telemetry::default();
    if let Some(ds) = c.power_datastream_id {
        t.power_linked = true;
        t.power = latest(env, ds)
            .await?
            .and_then(|(v, at)| v.as_f64().map(|p| (p, at)));
    }
    if let Some(ds) = c.switch_datastream_id {
        t.switch_linked = true;
        t.switched_on = latest(env, ds)
            .await?
            .and_then(|(v, at)| switch_value(&v).map(|o| (o, at)));
    }
    Ok(t)
}

/// A circuit now: what the schedule expects, what the controller reports, the faults.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub inventory: CircuitInventory,
    pub schedule_name: Option<String>,
    /// Expected level in per cent (0 = off); none without a schedule.
    pub expected_level: Option<i64>,
    /// Tonight's (or the current night's) switching times.
    pub tonight: Option<Night>,
    pub power_w: Option<f64>,
    pub switched_on: Option<bool>,
    pub observed_at: Option<DateTime<Utc>>,
    pub faults: Vec<Fault>,
    /// Open maintenance orders of the circuit.
    pub open_orders: usize,
}

pub async fn status(env: &Env) -> Result<Vec<Status>> {
    let now = env.now();
    let scheds = schedules(env).await?;
    let ovs = overrides(env).await?;
    let orders = store::lighting::orders(&env.db).await?;
    let (lat, lon) = (env.config.city.latitude, env.config.city.longitude);
    let mut out = Vec::new();
    for inv in inventory(env).await? {
        let c = &inv.circuit;
        let sched = c
            .schedule_id
            .and_then(|id| scheds.iter().find(|s| s.id == id));
        let expected = sched.map(|s| expected_at(lat, lon, s, &ovs, now));
        let tonight = sched.and_then(|s| {
            let today = astro::local_day(now);
            plan_of(lat, lon, s, &ovs, today - Duration::days(1), 2)
                .into_iter()
                .map(|p| p.night)
                .find(|n| n.off > now)
        });
        let tel = telemetry(env, c).await?;
        let faults = match expected {
            Some(e) => faults::assess(now, e, inv.rated_w, &tel),
            // Without a schedule only silence can be judged.
            None => faults::assess(
                now,
                Expected {
                    level: 0,
                    near_switch: true,
                },
                inv.rated_w,
                &tel,
            ),
        };
        let open_orders = orders
            .iter()
            .filter(|o| {
                o.circuit_id == Some(c.id) && !matches!(o.state.as_str(), "done" | "cancelled")
            })
            .count();
        out.push(Status {
            schedule_name: sched.map(|s| s.name.clone()),
            expected_level: expected.map(|e| e.level),
            tonight,
            power_w: tel.power.map(|p| p.0),
            switched_on: tel.switched_on.map(|s| s.0),
            observed_at: tel.power.map(|p| p.1).or(tel.switched_on.map(|s| s.1)),
            faults,
            open_orders,
            inventory: inv,
        });
    }
    Ok(out)
}

/// Circuits with faults now (staff).
pub async fn faults(env: &Env, who: &Principal) -> Result<Vec<Status>> {
    require_staff(who)?;
    Ok(status(env)
        .await?
        .into_iter()
        .filter(|s| !s.faults.is_empty())
        .collect())
}

/// Turns every current fault into a maintenance order unless the circuit already has an open
/// order of that kind; returns the ids of the new orders.
pub async fn detect(env: &Env, actor: &Actor) -> Result<Vec<i64>> {
    require_staff_actor(actor)?;
    let found = status(env).await?;
    let now = env.now();
    let mut tx = env.db.begin().await?;
    let mut created = Vec::new();
    for s in &found {
        for f in &s.faults {
            let cid = s.inventory.circuit.id;
            if !store::lighting::open_orders_of(&mut tx, cid, f.kind)
                .await?
                .is_empty()
            {
                continue;
            }
            let o = MaintenanceOrder {
                id: 0,
                circuit_id: Some(cid),
                pole_id: None,
                source: "telemetry".into(),
                kind: f.kind.into(),
                description: f.detail.clone(),
                state: "open".into(),
                assignee: String::new(),
                reporter_email: None,
                created_at: now,
                updated_at: now,
                closed_at: None,
            };
            let id = store::lighting::insert_order(&mut tx, &o).await?;
            audit::record_tx(
                env,
                &mut tx,
                actor,
                "lighting.order.detect",
                &format!("lighting_order:{id}"),
                json!({ "circuit_id": cid, "kind": f.kind }),
            )
            .await?;
            created.push(id);
        }
    }
    tx.commit().await?;
    Ok(created)
}

// ---- maintenance orders ----

/// A resident's report of a dark (or otherwise faulty) street light.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    /// The number on the pole, if the resident can read it.
    pub pole_number: String,
    /// Where the light is (street and house number), if there is no pole number.
    pub location: String,
    pub description: String,
    /// Only for feedback when the order is closed.
    pub email: String,
}

/// Files a resident's report as a maintenance order (anyone may report).
pub async fn report(env: &Env, actor: &Actor, r: Report) -> Result<i64> {
    let mut inv = Invalid::new();
    let number = r.pole_number.trim();
    let location = r.location.trim();
    let mut pole = None;
    if !number.is_empty() {
        let mut tx = env.db.begin().await?;
        pole = store::lighting::pole_by_number(&mut tx, number).await?;
        tx.commit().await?;
        if pole.is_none() {
            inv.push(
                "pole_number",
                "Diese Mastnummer kennen wir nicht. Bitte prüfen Sie die Nummer oder beschreiben Sie den Ort.",
            );
        }
    } else if location.chars().count() < 5 {
        inv.push(
            "location",
            "Bitte geben Sie die Mastnummer an oder beschreiben Sie den Ort (Straße und Hausnummer).",
        );
    }
    if location.chars().count() > 300 {
        inv.push(
            "location",
            "Die Ortsangabe ist zu lang (höchstens 300 Zeichen).",
        );
    }
    let description = r.description.trim();
    if description.chars().count() > 2000 {
        inv.push(
            "description",
            "Die Beschreibung ist zu lang (höchstens 2000 Zeichen).",
        );
    }
    let email = r.email.trim();
    if !email.is_empty() && !valid_email(email) {
        inv.push(
            "email",
            "Bitte geben Sie eine gültige E-Mail-Adresse an oder lassen Sie das Feld leer.",
        );
    }
    inv.into_result()?;
    let now = env.now();
    let mut text = String::from("Meldung aus der Bürgerschaft: Leuchte dunkel oder defekt.");
    if let Some(p) = &pole {
        text.push_str(&format!(" Mast {} ({}).", p.number, p.street));
    }
    if !location.is_empty() {
        text.push_str(&format!(" Ort: {location}."));
    }
    if !description.is_empty() {
        text.push_str(&format!(" {description}"));
    }
    let o = MaintenanceOrder {
        id: 0,
        circuit_id: pole.as_ref().map(|p| p.circuit_id),
        pole_id: pole.as_ref().map(|p| p.id),
        source: "resident".into(),
        kind: "resident_report".into(),
        description: text,
        state: "open".into(),
        assignee: String::new(),
        reporter_email: opt_text(email),
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let mut tx = env.db.begin().await?;
    let id = store::lighting::insert_order(&mut tx, &o).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.order.report",
        &format!("lighting_order:{id}"),
        json!({ "pole_id": o.pole_id, "feedback": o.reporter_email.is_some() }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A maintenance order entered by staff.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NewOrder {
    pub circuit_id: Option<i64>,
    pub pole_id: Option<i64>,
    pub description: String,
    pub assignee: String,
}

pub async fn create_order(env: &Env, actor: &Actor, n: NewOrder) -> Result<i64> {
    require_staff_actor(actor)?;
    let mut inv = Invalid::new();
    let description = n.description.trim();
    if !(5..=2000).contains(&description.chars().count()) {
        inv.push(
            "description",
            "Bitte beschreiben Sie den Auftrag (5 bis 2000 Zeichen).",
        );
    }
    let poles = poles(env).await?;
    let mut circuit_id = n.circuit_id;
    if let Some(p) = n.pole_id {
        match poles.iter().find(|x| x.id == p) {
            Some(pole) => circuit_id = circuit_id.or(Some(pole.circuit_id)),
            None => inv.push("pole_id", "Diesen Mast gibt es nicht."),
        }
    }
    if let Some(c) = n.circuit_id
        && !circuits(env).await?.iter().any(|x| x.id == c)
    {
        inv.push("circuit_id", "Diesen Schaltkreis gibt es nicht.");
    }
    if circuit_id.is_none() && n.pole_id.is_none() {
        inv.push(
            "circuit_id",
            "Bitte wählen Sie den Schaltkreis oder den Mast des Auftrags.",
        );
    }
    if n.assignee.trim().chars().count() > 200 {
        inv.push("assignee", "Der Name der Zuständigen ist zu lang.");
    }
    inv.into_result()?;
    let now = env.now();
    let assignee = n.assignee.trim().to_string();
    let o = MaintenanceOrder {
        id: 0,
        circuit_id,
        pole_id: n.pole_id,
        source: "staff".into(),
        kind: "other".into(),
        description: description.into(),
        state: if assignee.is_empty() {
            "open"
        } else {
            "assigned"
        }
        .into(),
        assignee,
        reporter_email: None,
        created_at: now,
        updated_at: now,
        closed_at: None,
    };
    let mut tx = env.db.begin().await?;
    let id = store::lighting::insert_order(&mut tx, &o).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.order.create",
        &format!("lighting_order:{id}"),
        json!({ "circuit_id": circuit_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Whether an order may go from `from` to `to`.
pub fn transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("open", "assigned" | "in_progress" | "done" | "cancelled")
            | (
                "assigned",
                "in_progress" | "done" | "cancelled" | "assigned"
            )
            | ("in_progress", "done" | "cancelled" | "assigned")
    )
}

/// A change of an order's state (and assignee).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Step {
    pub state: String,
    /// Keeps the assignee when empty.
    pub assignee: String,
}

pub async fn step_order(env: &Env, actor: &Actor, id: i64, s: Step) -> Result<MaintenanceOrder> {
    require_staff_actor(actor)?;
    let mut tx = env.db.begin().await?;
    let mut o = store::lighting::order(&mut tx, id)
        .await?
        .ok_or_else(|| Error::not_found("Diesen Wartungsauftrag gibt es nicht."))?;
    if !ORDER_STATES.contains(&s.state.as_str()) {
        return Err(Error::invalid("state", "Diesen Status gibt es nicht."));
    }
    if !transition_allowed(&o.state, &s.state) {
        return Err(Error::Conflict(format!(
            "Ein Auftrag im Status „{}“ kann nicht in den Status „{}“ wechseln.",
            state_label_de(&o.state),
            state_label_de(&s.state)
        )));
    }
    let assignee = s.assignee.trim();
    if assignee.chars().count() > 200 {
        return Err(Error::invalid(
            "assignee",
            "Der Name der Zuständigen ist zu lang.",
        ));
    }
    if !assignee.is_empty() {
        o.assignee = assignee.into();
    }
    if s.state == "assigned" && o.assignee.is_empty() {
        return Err(Error::invalid(
            "assignee",
            "Bitte geben Sie an, wem der Auftrag zugewiesen wird.",
        ));
    }
    let now = env.now();
    let from = o.state.clone();
    o.state = s.state.clone();
    o.updated_at = now;
    let closing = matches!(o.state.as_str(), "done" | "cancelled");
    if closing {
        o.closed_at = Some(now);
        if let Some(to) = o.reporter_email.take() {
            let text = if o.state == "done" {
                format!(
                    "Guten Tag,\n\nvielen Dank für Ihre Meldung einer defekten Straßenleuchte (Auftrag {id}). \
                     Der Schaden ist behoben.\n\nIhre E-Mail-Adresse haben wir mit dieser Nachricht gelöscht.\n\n{}",
                    env.config.city.name
                )
            } else {
                format!(
                    "Guten Tag,\n\nvielen Dank für Ihre Meldung einer Straßenleuchte (Auftrag {id}). \
                     Wir haben die Meldung geprüft; ein Auftrag ist nicht nötig oder wird bereits an anderer Stelle bearbeitet.\n\n\
                     Ihre E-Mail-Adresse haben wir mit dieser Nachricht gelöscht.\n\n{}",
                    env.config.city.name
                )
            };
            queue_tx(
                env,
                &mut tx,
                &Mail {
                    to,
                    subject: format!("Ihre Meldung zur Straßenbeleuchtung (Auftrag {id})"),
                    text,
                },
            )
            .await?;
        }
    }
    store::lighting::update_order(&mut tx, &o).await?;
    audit::record_tx(
        env,
        &mut tx,
        actor,
        "lighting.order.step",
        &format!("lighting_order:{id}"),
        json!({ "from": from, "to": o.state }),
    )
    .await?;
    tx.commit().await?;
    Ok(o)
}

pub fn state_label_de(s: &str) -> &'static str {
    match s {
        "open" => "offen",
        "assigned" => "zugewiesen",
        "in_progress" => "in Arbeit",
        "done" => "erledigt",
        "cancelled" => "verworfen",
        _ => "unbekannt",
    }
}

/// All maintenance orders, newest first (staff).
pub async fn orders(env: &Env, who: &Principal) -> Result<Vec<MaintenanceOrder>> {
    require_staff(who)?;
    store::lighting::orders(&env.db).await
}

// ---- energy ----

/// Energy and CO2 of a circuit in one month.
#[derive(Debug, Clone, Serialize)]
pub struct CircuitEnergy {
    pub circuit_id: i64,
    pub name: String,
    pub month: String,
    pub rated_w: f64,
    pub burn_hours: f64,
    pub dim_hours: f64,
    /// Rated power × burning hours.
    pub undimmed_kwh: f64,
    /// From the schedule: full hours at rated power, dimmed hours at the dimming level.
    pub planned_kwh: f64,
    /// From the power Datastream; none without telemetry in the month.
    pub measured_kwh: Option<f64>,
    /// Hours with at least one power reading.
    pub measured_hours: usize,
    /// Undimmed minus measured (or planned without telemetry).
    pub saving_kwh: f64,
    pub co2_kg: f64,
    pub co2_saving_kg: f64,
}

/// Parses `YYYY-MM` into the local first day of the month and of the next month.
pub fn month_bounds(month: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::parse_from_str(&format!("{}-01", month.trim()), "%Y-%m-%d").ok()?;
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)?
    };
    Some((first, next))
}

/// The energy figures from the nights of a month and the hourly mean powers measured.
pub fn energy_of(
    rated_w: f64,
    nights: &[Night],
    hourly_w: &[f64],
) -> (f64, f64, f64, f64, Option<f64>) {
    let burn: f64 = nights.iter().map(|n| n.burn_hours()).sum();
    let dim: f64 = nights.iter().map(|n| n.dim_hours()).sum();
    let dimmed_share: f64 = nights
        .iter()
        .map(|n| n.dim_hours() * (1.0 - n.dim_percent as f64 / 100.0))
        .sum();
    let undimmed = rated_w * burn / 1000.0;
    let planned = rated_w * (burn - dimmed_share) / 1000.0;
    let measured = (!hourly_w.is_empty()).then(|| hourly_w.iter().sum::<f64>() / 1000.0);
    (burn, dim, undimmed, planned, measured)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Energy, CO2 and the saving from dimming of every circuit in `month` (`YYYY-MM`).
pub async fn energy(env: &Env, month: &str) -> Result<Vec<CircuitEnergy>> {
    let Some((first, next)) = month_bounds(month) else {
        return Err(Error::invalid(
            "month",
            "Bitte geben Sie den Monat als JJJJ-MM an.",
        ));
    };
    let scheds = schedules(env).await?;
    let ovs = overrides(env).await?;
    let (lat, lon) = (env.config.city.latitude, env.config.city.longitude);
    let from = astro::local_to_utc(first, chrono::NaiveTime::MIN);
    let to = astro::local_to_utc(next, chrono::NaiveTime::MIN);
    let days = (next - first).num_days();
    let mut out = Vec::new();
    for inv in inventory(env).await? {
        let c = &inv.circuit;
        let nights: Vec<Night> = c
            .schedule_id
            .and_then(|id| scheds.iter().find(|s| s.id == id))
            .map(|s| {
                plan_of(lat, lon, s, &ovs, first, days)
                    .into_iter()
                    .map(|p| p.night)
                    .collect()
            })
            .unwrap_or_default();
        let mut hourly = Vec::new();
        if let Some(ds) = c.power_datastream_id {
            let q = format!(
                "interval=PT1H&fn=avg&$filter=phenomenonTime ge {} and phenomenonTime lt {}",
                from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            let body = sta(
                env,
                &format!("Datastreams({ds})/Observations/$aggregate"),
                &q,
            )
            .await?;
            hourly = body["value"]
                .as_array()
                .map(|a| a.iter().filter_map(|b| b["avg"].as_f64()).collect())
                .unwrap_or_default();
        }
        let (burn, dim, undimmed, planned, measured) = energy_of(inv.rated_w, &nights, &hourly);
        let used = measured.unwrap_or(planned);
        let saving = (undimmed - used).max(0.0);
        out.push(CircuitEnergy {
            circuit_id: c.id,
            name: c.name.clone(),
            month: first.format("%Y-%m").to_string(),
            rated_w: inv.rated_w,
            burn_hours: round2(burn),
            dim_hours: round2(dim),
            undimmed_kwh: round2(undimmed),
            planned_kwh: round2(planned),
            measured_kwh: measured.map(round2),
            measured_hours: hourly.len(),
            saving_kwh: round2(saving),
            co2_kg: round2(used * CO2_KG_PER_KWH),
            co2_saving_kg: round2(saving * CO2_KG_PER_KWH),
        });
    }
    Ok(out)
}

/// The current month `YYYY-MM` (local).
pub fn this_month(now: DateTime<Utc>) -> String {
    astro::local_day(now).format("%Y-%m").to_string()
}

/// Midnight (local) of a day, for callers building periods.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    astro::local_to_utc(day, chrono::NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn order_transitions_follow_the_workflow() {
        assert!(transition_allowed("open", "assigned"));
        assert!(transition_allowed("assigned", "in_progress"));
        assert!(transition_allowed("in_progress", "done"));
        assert!(!transition_allowed("done", "open"));
        assert!(!transition_allowed("cancelled", "in_progress"));
        assert!(!transition_allowed("open", "open"));
    }

    #[test]
    fn switch_readings_accept_booleans_numbers_and_words() {
        assert_eq!(switch_value(&json!(true)), Some(true));
        assert_eq!(switch_value(&json!(0)), Some(false));
        assert_eq!(switch_value(&json!("AUS")), Some(false));
        assert_eq!(switch_value(&json!("vielleicht")), None);
    }

    #[test]
    fn month_bounds_cover_december_and_reject_nonsense() {
        let (a, b) = month_bounds("2026-12").unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("2026-12-01".into(), "2027-01-01".into())
        );
        assert!(month_bounds("2026-13").is_none());
        assert!(month_bounds("Dezember").is_none());
    }

    #[test]
    fn energy_counts_dimmed_hours_at_their_level() {
        let t = |h: i64| Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::hours(h);
        // 16 h burning, 6 h of them at 50 %: 1000 W → 16 kWh undimmed, 13 kWh planned.
        let n = Night {
            day: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            on: t(16),
            off: t(32),
            dim_from: Some(t(22)),
            dim_to: Some(t(28)),
            dim_percent: 50,
        };
        let (burn, dim, undimmed, planned, measured) = energy_of(1000.0, &[n], &[]);
        assert_eq!((burn, dim), (16.0, 6.0));
        assert!((undimmed - 16.0).abs() < 1e-9);
        assert!((planned - 13.0).abs() < 1e-9);
        assert_eq!(measured, None);
        let (.., measured) = energy_of(1000.0, &[n], &[1000.0, 500.0, 500.0]);
        assert_eq!(measured, Some(2.0));
    }
}
