//! Street lighting in the JSON API: circuits with their state now, poles, switching plans and
//! the sun's times, energy and CO2 per month, and residents' reports (public); schedules,
//! calendar overrides, inventory, faults and maintenance orders for staff (scope
//! `cityops:write`, or a signed-in staff member).

use super::{ApiJson, ApiQuery, ProblemDoc, path_id};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use cityops::lighting::{self, astro};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/lighting/circuits",
            get(circuit_list).post(circuit_create),
        )
        .route("/api/v1/lighting/poles", get(pole_list).post(pole_create))
        .route("/api/v1/lighting/luminaires", post(luminaire_create))
        .route(
            "/api/v1/lighting/schedules",
            get(schedule_list).post(schedule_create),
        )
        .route("/api/v1/lighting/schedules/{id}/plan", get(schedule_plan))
        .route(
            "/api/v1/lighting/schedules/{id}/overrides",
            post(override_create),
        )
        .route("/api/v1/lighting/overrides/{id}", delete(override_delete))
        .route("/api/v1/lighting/sun", get(sun))
        .route("/api/v1/lighting/energy", get(energy))
        .route("/api/v1/lighting/reports", post(report))
        .route("/api/v1/lighting/faults", get(fault_list))
        .route("/api/v1/lighting/faults/detect", post(detect))
        .route(
            "/api/v1/lighting/orders",
            get(order_list).post(order_create),
        )
        .route("/api/v1/lighting/orders/{id}/steps", post(order_step))
}

#[derive(OpenApi)]
#[openapi(
    paths(circuit_list, circuit_create, pole_list, pole_create, luminaire_create, schedule_list,
        schedule_create, schedule_plan, override_create, override_delete, sun, energy, report,
        fault_list, detect, order_list, order_create, order_step),
    components(schemas(CircuitDoc, NewCircuitDoc, PoleDoc, NewPoleDoc, NewLuminaireDoc, ScheduleDoc,
        NewScheduleDoc, NightDoc, NewOverrideDoc, SunDoc, EnergyDoc, ReportDoc, FaultDoc, OrderDoc,
        NewOrderDoc, OrderStepDoc, Created)),
    tags((name = "lighting", description = "Street lighting: inventory, switching on the astronomical clock, faults, maintenance orders, energy"))
)]
pub struct LightingApi;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The id of a created object.
#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

fn created(id: i64) -> (StatusCode, axum::Json<Created>) {
    (StatusCode::CREATED, axum::Json(Created { id }))
}

// ---- circuits ----

/// A lighting circuit with its inventory totals and its state now.
#[derive(Serialize, ToSchema)]
pub struct CircuitDoc {
    pub id: i64,
    #[schema(example = "Hohe Straße Nord")]
    pub name: String,
    pub district_number: Option<i64>,
    pub cabinet: String,
    pub latitude: f64,
    pub longitude: f64,
    pub poles: usize,
    pub luminaires: usize,
    /// Sum of the luminaires' rated power (W).
    pub rated_w: f64,
    pub schedule_id: Option<i64>,
    pub schedule: Option<String>,
    /// The level the schedule expects now, per cent of full power (0 = off).
    pub expected_level: Option<i64>,
    /// Switching on and off of the current or next night.
    pub switch_on: Option<String>,
    pub switch_off: Option<String>,
    /// The controller's latest readings.
    pub power_w: Option<f64>,
    pub switched_on: Option<bool>,
    pub observed_at: Option<String>,
    /// Maintenance orders not yet done.
    pub open_orders: usize,
}

fn circuit_doc(s: &lighting::Status) -> CircuitDoc {
    let c = &s.inventory.circuit;
    CircuitDoc {
        id: c.id,
        name: c.name.clone(),
        district_number: c.district_number,
        cabinet: c.cabinet.clone(),
        latitude: c.latitude,
        longitude: c.longitude,
        poles: s.inventory.poles,
        luminaires: s.inventory.luminaires,
        rated_w: s.inventory.rated_w,
        schedule_id: c.schedule_id,
        schedule: s.schedule_name.clone(),
        expected_level: s.expected_level,
        switch_on: s.tonight.map(|n| iso(n.on)),
        switch_off: s.tonight.map(|n| iso(n.off)),
        power_w: s.power_w,
        switched_on: s.switched_on,
        observed_at: s.observed_at.map(iso),
        open_orders: s.open_orders,
    }
}

#[utoipa::path(get, path = "/api/v1/lighting/circuits", tag = "lighting",
    summary = "Lighting circuits with their state now (public)",
    responses((status = 200, body = [CircuitDoc])),
    security(()))]
async fn circuit_list(State(state): State<AppState>) -> WebResult<axum::Json<Vec<CircuitDoc>>> {
    let s = lighting::status(&state.env).await?;
    Ok(axum::Json(s.iter().map(circuit_doc).collect()))
}

/// A new circuit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCircuitDoc {
    pub name: String,
    #[serde(default)]
    pub district_number: Option<i64>,
    #[serde(default)]
    pub cabinet: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub controller_serial: String,
    /// SensorThings Datastream of the circuit's power (W).
    #[serde(default)]
    pub power_datastream_id: Option<i64>,
    /// SensorThings Datastream of the switch state (boolean).
    #[serde(default)]
    pub switch_datastream_id: Option<i64>,
    #[serde(default)]
    pub schedule_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/lighting/circuits", tag = "lighting",
    summary = "Add a circuit with its controller (staff)",
    request_body = NewCircuitDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, description = "Invalid input", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn circuit_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewCircuitDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::create_circuit(
        &state.env,
        &ctx.actor(),
        lighting::NewCircuit {
            name: b.name,
            district: b.district_number,
            cabinet: b.cabinet,
            latitude: Some(b.latitude),
            longitude: Some(b.longitude),
            controller_serial: b.controller_serial,
            power_datastream_id: b.power_datastream_id,
            switch_datastream_id: b.switch_datastream_id,
            schedule_id: b.schedule_id,
        },
    )
    .await?;
    Ok(created(id))
}

// ---- poles and luminaires ----

/// A pole with its luminaires' totals.
#[derive(Serialize, ToSchema)]
pub struct PoleDoc {
    pub id: i64,
    /// The number on the pole: quote it when reporting a dark light.
    #[schema(example = "HS-004")]
    pub number: String,
    pub circuit_id: i64,
    pub street: String,
    pub latitude: f64,
    pub longitude: f64,
    pub height_m: Option<f64>,
    pub installed_on: Option<String>,
    pub luminaires: usize,
    pub rated_w: f64,
    /// Lamp types of its luminaires.
    pub lamp_types: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/lighting/poles", tag = "lighting",
    summary = "Lighting poles with their numbers (public)",
    responses((status = 200, body = [PoleDoc])),
    security(()))]
async fn pole_list(State(state): State<AppState>) -> WebResult<axum::Json<Vec<PoleDoc>>> {
    let lums = lighting::luminaires(&state.env).await?;
    let poles = lighting::poles(&state.env).await?;
    Ok(axum::Json(
        poles
            .into_iter()
            .map(|p| {
                let mine: Vec<_> = lums.iter().filter(|l| l.pole_id == p.id).collect();
                let mut types: Vec<String> = mine.iter().map(|l| l.lamp_type.clone()).collect();
                types.sort();
                types.dedup();
                PoleDoc {
                    id: p.id,
                    number: p.number,
                    circuit_id: p.circuit_id,
                    street: p.street,
                    latitude: p.latitude,
                    longitude: p.longitude,
                    height_m: p.height_m,
                    installed_on: p.installed_on,
                    luminaires: mine.len(),
                    rated_w: mine.iter().map(|l| l.wattage).sum(),
                    lamp_types: types,
                }
            })
            .collect(),
    ))
}

/// A new pole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPoleDoc {
    pub number: String,
    pub circuit_id: i64,
    pub street: String,
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub height_m: Option<f64>,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub installed_on: String,
}

#[utoipa::path(post, path = "/api/v1/lighting/poles", tag = "lighting",
    summary = "Add a pole to a circuit (staff)",
    request_body = NewPoleDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn pole_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewPoleDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::add_pole(
        &state.env,
        &ctx.actor(),
        lighting::NewPole {
            number: b.number,
            circuit_id: b.circuit_id,
            street: b.street,
            latitude: Some(b.latitude),
            longitude: Some(b.longitude),
            height_m: b.height_m,
            installed_on: b.installed_on,
        },
    )
    .await?;
    Ok(created(id))
}

/// A new luminaire on a pole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLuminaireDoc {
    pub pole_id: i64,
    /// `led`, `sodium`, `mercury`, `metal_halide` or `fluorescent`.
    pub lamp_type: String,
    /// Rated power (W), above 0.
    pub wattage: f64,
    #[serde(default)]
    pub installed_on: String,
}

#[utoipa::path(post, path = "/api/v1/lighting/luminaires", tag = "lighting",
    summary = "Add a luminaire to a pole (staff)",
    request_body = NewLuminaireDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn luminaire_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewLuminaireDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::add_luminaire(
        &state.env,
        &ctx.actor(),
        lighting::NewLuminaire {
            pole_id: b.pole_id,
            lamp_type: b.lamp_type,
            wattage: Some(b.wattage),
            installed_on: b.installed_on,
        },
    )
    .await?;
    Ok(created(id))
}

// ---- schedules ----

/// A dimming schedule on the astronomical clock.
#[derive(Serialize, ToSchema)]
pub struct ScheduleDoc {
    pub id: i64,
    pub name: String,
    /// `sunset` or `civil_dusk`.
    pub on_event: String,
    pub on_offset_min: i64,
    /// `sunrise` or `civil_dawn`.
    pub off_event: String,
    pub off_offset_min: i64,
    /// Local time (Europe/Berlin) `HH:MM`.
    pub dim_start: Option<String>,
    pub dim_end: Option<String>,
    pub dim_percent: i64,
}

#[utoipa::path(get, path = "/api/v1/lighting/schedules", tag = "lighting",
    summary = "Dimming schedules (public)",
    responses((status = 200, body = [ScheduleDoc])),
    security(()))]
async fn schedule_list(State(state): State<AppState>) -> WebResult<axum::Json<Vec<ScheduleDoc>>> {
    Ok(axum::Json(
        lighting::schedules(&state.env)
            .await?
            .into_iter()
            .map(|s| ScheduleDoc {
                id: s.id,
                name: s.name,
                on_event: s.on_event,
                on_offset_min: s.on_offset_min,
                off_event: s.off_event,
                off_offset_min: s.off_offset_min,
                dim_start: s.dim_start,
                dim_end: s.dim_end,
                dim_percent: s.dim_percent,
            })
            .collect(),
    ))
}

/// A new schedule.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewScheduleDoc {
    pub name: String,
    pub on_event: String,
    #[serde(default)]
    pub on_offset_min: i64,
    pub off_event: String,
    #[serde(default)]
    pub off_offset_min: i64,
    /// `HH:MM` local; omit both for no dimming.
    #[serde(default)]
    pub dim_start: String,
    #[serde(default)]
    pub dim_end: String,
    /// 1–100; 100 = no dimming.
    #[serde(default = "full")]
    pub dim_percent: i64,
}

fn full() -> i64 {
    100
}

#[utoipa::path(post, path = "/api/v1/lighting/schedules", tag = "lighting",
    summary = "Add a dimming schedule (staff)",
    request_body = NewScheduleDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn schedule_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewScheduleDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::create_schedule(
        &state.env,
        &ctx.actor(),
        lighting::NewSchedule {
            name: b.name,
            on_event: b.on_event,
            on_offset_min: b.on_offset_min,
            off_event: b.off_event,
            off_offset_min: b.off_offset_min,
            dim_start: b.dim_start,
            dim_end: b.dim_end,
            dim_percent: Some(b.dim_percent),
        },
    )
    .await?;
    Ok(created(id))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlanQuery {
    /// First evening `YYYY-MM-DD`; today when omitted.
    pub from: Option<String>,
    /// Number of nights, 1–366 (default 7).
    pub days: Option<i64>,
}

/// One night of a plan (times in UTC).
#[derive(Serialize, ToSchema)]
pub struct NightDoc {
    /// The evening's local date.
    pub day: String,
    pub switch_on: String,
    pub switch_off: String,
    pub dim_from: Option<String>,
    pub dim_to: Option<String>,
    pub dim_percent: i64,
    pub burn_hours: f64,
    /// The calendar override of this night.
    pub override_label: Option<String>,
}

fn parse_from(s: &Option<String>, now: DateTime<Utc>) -> WebResult<NaiveDate> {
    match s {
        None => Ok(astro::local_day(now)),
        Some(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
            kern::Error::invalid("from", "Bitte geben Sie das Datum als JJJJ-MM-TT an.").into()
        }),
    }
}

#[utoipa::path(get, path = "/api/v1/lighting/schedules/{id}/plan", tag = "lighting",
    summary = "Switching and dimming times of a schedule, night by night (public)",
    params(("id" = i64, Path), PlanQuery),
    responses(
        (status = 200, body = [NightDoc]),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(()))]
async fn schedule_plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> WebResult<axum::Json<Vec<NightDoc>>> {
    let id = path_id(&id, "Schaltplan")?;
    let from = parse_from(&q.from, state.env.now())?;
    let plan = lighting::plan(&state.env, id, from, q.days.unwrap_or(7)).await?;
    Ok(axum::Json(
        plan.into_iter()
            .map(|p| NightDoc {
                day: p.night.day.to_string(),
                switch_on: iso(p.night.on),
                switch_off: iso(p.night.off),
                dim_from: p.night.dim_from.map(iso),
                dim_to: p.night.dim_to.map(iso),
                dim_percent: p.night.dim_percent,
                burn_hours: (p.night.burn_hours() * 100.0).round() / 100.0,
                override_label: p.override_label,
            })
            .collect(),
    ))
}

/// A calendar override for one night of a schedule.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverrideDoc {
    /// The evening `YYYY-MM-DD`.
    pub day: String,
    pub label: String,
    /// `holiday` or `event`.
    pub kind: String,
    #[serde(default)]
    pub dim_start: String,
    #[serde(default)]
    pub dim_end: String,
    /// 100 = full light all night.
    #[serde(default = "full")]
    pub dim_percent: i64,
}

#[utoipa::path(post, path = "/api/v1/lighting/schedules/{id}/overrides", tag = "lighting",
    summary = "Add a calendar override (holiday, event) to a schedule (staff)",
    params(("id" = i64, Path)),
    request_body = NewOverrideDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The night has an override already", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn override_create(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<NewOverrideDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let schedule_id = path_id(&id, "Schaltplan")?;
    let id = lighting::add_override(
        &state.env,
        &ctx.actor(),
        lighting::NewOverride {
            schedule_id,
            day: b.day,
            label: b.label,
            kind: b.kind,
            dim_start: b.dim_start,
            dim_end: b.dim_end,
            dim_percent: Some(b.dim_percent),
        },
    )
    .await?;
    Ok(created(id))
}

#[utoipa::path(delete, path = "/api/v1/lighting/overrides/{id}", tag = "lighting",
    summary = "Remove a calendar override (staff)",
    params(("id" = i64, Path)),
    responses(
        (status = 204),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn override_delete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<StatusCode> {
    let id = path_id(&id, "Kalenderausnahme")?;
    lighting::delete_override(&state.env, &ctx.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sun's events of one day at the city's coordinates (UTC).
#[derive(Serialize, ToSchema)]
pub struct SunDoc {
    pub date: String,
    pub civil_dawn: String,
    pub sunrise: String,
    pub sunset: String,
    pub civil_dusk: String,
}

#[utoipa::path(get, path = "/api/v1/lighting/sun", tag = "lighting",
    summary = "Sunrise, sunset and civil twilight at the city's coordinates (public)",
    params(PlanQuery),
    responses(
        (status = 200, body = [SunDoc]),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(()))]
async fn sun(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PlanQuery>,
) -> WebResult<axum::Json<Vec<SunDoc>>> {
    let from = parse_from(&q.from, state.env.now())?;
    let days = q.days.unwrap_or(1);
    if !(1..=366).contains(&days) {
        return Err(kern::Error::invalid("days", "Es sind 1 bis 366 Tage möglich.").into());
    }
    let c = &state.env.config.city;
    Ok(axum::Json(
        (0..days)
            .filter_map(|i| {
                let d = from + chrono::Duration::days(i);
                let s = astro::sun_times(c.latitude, c.longitude, d)?;
                Some(SunDoc {
                    date: d.to_string(),
                    civil_dawn: iso(s.civil_dawn),
                    sunrise: iso(s.sunrise),
                    sunset: iso(s.sunset),
                    civil_dusk: iso(s.civil_dusk),
                })
            })
            .collect(),
    ))
}

// ---- energy ----

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// `YYYY-MM`; the current month when omitted.
    pub month: Option<String>,
}

/// Energy and CO2 of a circuit in a month.
#[derive(Serialize, ToSchema)]
pub struct EnergyDoc {
    pub circuit_id: i64,
    pub name: String,
    pub month: String,
    pub rated_w: f64,
    pub burn_hours: f64,
    pub dim_hours: f64,
    pub undimmed_kwh: f64,
    pub planned_kwh: f64,
    /// From the controller's power readings; null without readings.
    pub measured_kwh: Option<f64>,
    pub measured_hours: usize,
    /// Saving from dimming: undimmed minus measured (or planned).
    pub saving_kwh: f64,
    pub co2_kg: f64,
    pub co2_saving_kg: f64,
}

#[utoipa::path(get, path = "/api/v1/lighting/energy", tag = "lighting",
    summary = "Energy, CO2 and the saving from dimming per circuit and month (public)",
    params(MonthQuery),
    responses(
        (status = 200, body = [EnergyDoc]),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(()))]
async fn energy(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> WebResult<axum::Json<Vec<EnergyDoc>>> {
    let month = q
        .month
        .unwrap_or_else(|| lighting::this_month(state.env.now()));
    Ok(axum::Json(
        lighting::energy(&state.env, &month)
            .await?
            .into_iter()
            .map(|e| EnergyDoc {
                circuit_id: e.circuit_id,
                name: e.name,
                month: e.month,
                rated_w: e.rated_w,
                burn_hours: e.burn_hours,
                dim_hours: e.dim_hours,
                undimmed_kwh: e.undimmed_kwh,
                planned_kwh: e.planned_kwh,
                measured_kwh: e.measured_kwh,
                measured_hours: e.measured_hours,
                saving_kwh: e.saving_kwh,
                co2_kg: e.co2_kg,
                co2_saving_kg: e.co2_saving_kg,
            })
            .collect(),
    ))
}

// ---- reports, faults and orders ----

/// A resident's report of a dark or faulty street light.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportDoc {
    /// The number on the pole, if readable.
    #[serde(default)]
    pub pole_number: String,
    /// Street and house number, when there is no pole number.
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub description: String,
    /// Only for feedback; erased when the order is closed.
    #[serde(default)]
    pub email: String,
}

#[utoipa::path(post, path = "/api/v1/lighting/reports", tag = "lighting",
    summary = "Report a dark street light (public)",
    request_body = ReportDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(()))]
async fn report(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<ReportDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::report(
        &state.env,
        &ctx.actor(),
        lighting::Report {
            pole_number: b.pole_number,
            location: b.location,
            description: b.description,
            email: b.email,
        },
    )
    .await?;
    Ok(created(id))
}

/// A circuit's current fault.
#[derive(Serialize, ToSchema)]
pub struct FaultDoc {
    pub circuit_id: i64,
    pub circuit: String,
    /// `day_burner`, `dark`, `power_deviation` or `silent`.
    pub kind: String,
    pub detail: String,
    pub expected_level: Option<i64>,
    pub power_w: Option<f64>,
    pub switched_on: Option<bool>,
    pub observed_at: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/lighting/faults", tag = "lighting",
    summary = "Current faults from controller telemetry (staff)",
    responses(
        (status = 200, body = [FaultDoc]),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn fault_list(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<FaultDoc>>> {
    let s = lighting::faults(&state.env, &ctx.principal).await?;
    Ok(axum::Json(
        s.iter()
            .flat_map(|s| {
                s.faults.iter().map(|f| FaultDoc {
                    circuit_id: s.inventory.circuit.id,
                    circuit: s.inventory.circuit.name.clone(),
                    kind: f.kind.into(),
                    detail: f.detail.clone(),
                    expected_level: s.expected_level,
                    power_w: s.power_w,
                    switched_on: s.switched_on,
                    observed_at: s.observed_at.map(iso),
                })
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/lighting/faults/detect", tag = "lighting",
    summary = "Turn current faults into maintenance orders (staff); returns the new orders",
    responses(
        (status = 200, body = [Created]),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn detect(State(state): State<AppState>, ctx: Ctx) -> WebResult<axum::Json<Vec<Created>>> {
    let ids = lighting::detect(&state.env, &ctx.actor()).await?;
    Ok(axum::Json(
        ids.into_iter().map(|id| Created { id }).collect(),
    ))
}

/// A maintenance order.
#[derive(Serialize, ToSchema)]
pub struct OrderDoc {
    pub id: i64,
    pub circuit_id: Option<i64>,
    pub pole_id: Option<i64>,
    /// `telemetry`, `resident` or `staff`.
    pub source: String,
    pub kind: String,
    pub description: String,
    /// `open`, `assigned`, `in_progress`, `done` or `cancelled`.
    pub state: String,
    pub assignee: String,
    /// Whether the reporter asked for feedback (the address itself is not shown).
    pub feedback_requested: bool,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

fn order_doc(o: lighting::MaintenanceOrder) -> OrderDoc {
    OrderDoc {
        id: o.id,
        circuit_id: o.circuit_id,
        pole_id: o.pole_id,
        source: o.source,
        kind: o.kind,
        description: o.description,
        state: o.state,
        assignee: o.assignee,
        feedback_requested: o.reporter_email.is_some(),
        created_at: iso(o.created_at),
        updated_at: iso(o.updated_at),
        closed_at: o.closed_at.map(iso),
    }
}

#[utoipa::path(get, path = "/api/v1/lighting/orders", tag = "lighting",
    summary = "Maintenance orders, newest first (staff)",
    responses(
        (status = 200, body = [OrderDoc]),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn order_list(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<OrderDoc>>> {
    let o = lighting::orders(&state.env, &ctx.principal).await?;
    Ok(axum::Json(o.into_iter().map(order_doc).collect()))
}

/// A maintenance order entered by staff.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderDoc {
    #[serde(default)]
    pub circuit_id: Option<i64>,
    #[serde(default)]
    pub pole_id: Option<i64>,
    pub description: String,
    #[serde(default)]
    pub assignee: String,
}

#[utoipa::path(post, path = "/api/v1/lighting/orders", tag = "lighting",
    summary = "Enter a maintenance order (staff)",
    request_body = NewOrderDoc,
    responses(
        (status = 201, body = Created),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn order_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewOrderDoc>,
) -> WebResult<(StatusCode, axum::Json<Created>)> {
    let id = lighting::create_order(
        &state.env,
        &ctx.actor(),
        lighting::NewOrder {
            circuit_id: b.circuit_id,
            pole_id: b.pole_id,
            description: b.description,
            assignee: b.assignee,
        },
    )
    .await?;
    Ok(created(id))
}

/// A change of an order's state.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderStepDoc {
    /// `assigned`, `in_progress`, `done` or `cancelled`.
    pub state: String,
    #[serde(default)]
    pub assignee: String,
}

#[utoipa::path(post, path = "/api/v1/lighting/orders/{id}/steps", tag = "lighting",
    summary = "Move a maintenance order on (staff); closing it sends the reporter's feedback",
    params(("id" = i64, Path)),
    request_body = OrderStepDoc,
    responses(
        (status = 200, body = OrderDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the current state", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn order_step(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<OrderStepDoc>,
) -> WebResult<axum::Json<OrderDoc>> {
    let id = path_id(&id, "Wartungsauftrag")?;
    let o = lighting::step_order(
        &state.env,
        &ctx.actor(),
        id,
        lighting::Step {
            state: b.state,
            assignee: b.assignee,
        },
    )
    .await?;
    Ok(axum::Json(order_doc(o)))
}
