//! Building energy in the JSON API: buildings with consumption, per m² and CO2 per year, the
//! emission factors and the city view of flexible loads and PV (public, aggregated); meters,
//! new buildings and meters, factors and anomalies for staff (scope `cityops:write`, or a
//! signed-in staff member).

use super::{ApiJson, ApiQuery, ProblemDoc};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use cityops::energy::{self, Factors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/energy/buildings",
            get(building_list).post(building_create),
        )
        .route("/api/v1/energy/meters", get(meter_list).post(meter_create))
        .route("/api/v1/energy/anomalies", get(anomaly_list))
        .route("/api/v1/energy/factors", get(factors_get).put(factors_put))
        .route("/api/v1/energy/city", get(city))
}

#[derive(OpenApi)]
#[openapi(
    paths(building_list, building_create, meter_list, meter_create, anomaly_list, factors_get,
        factors_put, city),
    components(schemas(BuildingYearDoc, NewBuildingDoc, MeterDoc, NewMeterDoc, AnomalyDoc,
        FactorsDoc, CityDoc, DistrictDoc, HourDoc, EnergyCreated)),
    tags((name = "energy", description = "Energy of municipal buildings: consumption, CO2, anomalies, flexible loads and PV"))
)]
pub struct EnergyApi;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The id of a created object.
#[derive(Serialize, ToSchema)]
pub struct EnergyCreated {
    pub id: i64,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    /// Calendar year; the current one when omitted.
    pub year: Option<i32>,
}

/// A building with its consumption in a year.
#[derive(Serialize, ToSchema)]
pub struct BuildingYearDoc {
    pub id: i64,
    #[schema(example = "Gesamtschule Eving")]
    pub name: String,
    pub district_number: Option<i64>,
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    pub floor_area_m2: f64,
    pub use_type: String,
    pub year: i32,
    /// medium → twelve monthly sums (January first; kWh, water m³), null where not measured.
    pub months: BTreeMap<String, Vec<Option<f64>>>,
    /// medium → sum of the year.
    pub totals: BTreeMap<String, f64>,
    /// medium → sum per m² of floor area.
    pub per_m2: BTreeMap<String, f64>,
    pub co2_kg: f64,
    /// Avoided by the building's own PV production.
    pub co2_avoided_kg: f64,
    /// Twelve monthly balances, kg CO2.
    pub co2_months: Vec<f64>,
}

#[utoipa::path(get, path = "/api/v1/energy/buildings", tag = "energy",
    summary = "Municipal buildings with consumption per month and m² and their CO2 balance (public)",
    params(YearQuery),
    responses((status = 200, body = [BuildingYearDoc]), (status = 400, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn building_list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<YearQuery>,
) -> WebResult<axum::Json<Vec<BuildingYearDoc>>> {
    let year = q.year.unwrap_or_else(|| state.env.now().year());
    let rows = energy::year(&state.env, year).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| BuildingYearDoc {
                id: r.building.id,
                name: r.building.name,
                district_number: r.building.district_number,
                address: r.building.address,
                latitude: r.building.latitude,
                longitude: r.building.longitude,
                floor_area_m2: r.building.floor_area_m2,
                use_type: r.building.use_type,
                year: r.year,
                months: r
                    .months
                    .into_iter()
                    .map(|(k, v)| (k, v.into_iter().map(|x| x.map(r2)).collect()))
                    .collect(),
                totals: r.totals.into_iter().map(|(k, v)| (k, r2(v))).collect(),
                per_m2: r
                    .per_m2
                    .into_iter()
                    .map(|(k, v)| (k, (v * 1000.0).round() / 1000.0))
                    .collect(),
                co2_kg: r2(r.co2_kg),
                co2_avoided_kg: r2(r.co2_avoided_kg),
                co2_months: r.co2_months.into_iter().map(r2).collect(),
            })
            .collect(),
    ))
}

/// A new building.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBuildingDoc {
    pub name: String,
    #[serde(default)]
    pub district_number: Option<i64>,
    #[serde(default)]
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Heated net floor area, above 0.
    pub floor_area_m2: f64,
    /// `administration`, `school`, `daycare`, `pool`, `sports`, `culture`, `fire_station` or `other`.
    pub use_type: String,
}

#[utoipa::path(post, path = "/api/v1/energy/buildings", tag = "energy",
    summary = "Add a municipal building (staff)",
    request_body = NewBuildingDoc,
    responses(
        (status = 201, body = EnergyCreated),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn building_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewBuildingDoc>,
) -> WebResult<(StatusCode, axum::Json<EnergyCreated>)> {
    let id = energy::create_building(
        &state.env,
        &ctx.actor(),
        energy::NewBuilding {
            name: b.name,
            district: b.district_number,
            address: b.address,
            latitude: Some(b.latitude),
            longitude: Some(b.longitude),
            floor_area_m2: Some(b.floor_area_m2),
            use_type: b.use_type,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(EnergyCreated { id })))
}

/// A meter of a building.
#[derive(Serialize, ToSchema)]
pub struct MeterDoc {
    pub id: i64,
    pub building_id: i64,
    pub name: String,
    /// `electricity`, `heat`, `gas`, `water` or `pv`.
    pub medium: String,
    pub datastream_id: Option<i64>,
    pub flexible_kw: Option<f64>,
}

#[utoipa::path(get, path = "/api/v1/energy/meters", tag = "energy",
    summary = "Meters with their Datastreams (staff)",
    responses(
        (status = 200, body = [MeterDoc]),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn meter_list(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<MeterDoc>>> {
    cityops::roadworks::require_staff(&ctx.principal)?;
    Ok(axum::Json(
        energy::meters(&state.env)
            .await?
            .into_iter()
            .map(|m| MeterDoc {
                id: m.id,
                building_id: m.building_id,
                name: m.name,
                medium: m.medium,
                datastream_id: m.datastream_id,
                flexible_kw: m.flexible_kw,
            })
            .collect(),
    ))
}

/// A new meter.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMeterDoc {
    pub building_id: i64,
    pub name: String,
    pub medium: String,
    /// SensorThings Datastream of the consumption per interval (kWh; water m³).
    #[serde(default)]
    pub datastream_id: Option<i64>,
    /// Electricity only: shiftable load in kW.
    #[serde(default)]
    pub flexible_kw: Option<f64>,
}

#[utoipa::path(post, path = "/api/v1/energy/meters", tag = "energy",
    summary = "Add a meter to a building (staff)",
    request_body = NewMeterDoc,
    responses(
        (status = 201, body = EnergyCreated),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn meter_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewMeterDoc>,
) -> WebResult<(StatusCode, axum::Json<EnergyCreated>)> {
    let id = energy::add_meter(
        &state.env,
        &ctx.actor(),
        energy::NewMeter {
            building_id: b.building_id,
            name: b.name,
            medium: b.medium,
            datastream_id: b.datastream_id,
            flexible_kw: b.flexible_kw,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(EnergyCreated { id })))
}

/// An anomaly of a meter.
#[derive(Serialize, ToSchema)]
pub struct AnomalyDoc {
    pub building_id: i64,
    pub building: String,
    pub meter_id: i64,
    pub meter: String,
    pub medium: String,
    /// `night_load`, `weekend_load`, `jump` or `silent`.
    pub rule: String,
    pub at: Option<String>,
    pub value: Option<f64>,
    /// The baseline or comparison value.
    pub reference: Option<f64>,
    pub detail: String,
}

#[utoipa::path(get, path = "/api/v1/energy/anomalies", tag = "energy",
    summary = "Anomalies against each meter's baseline (staff)",
    responses(
        (status = 200, body = [AnomalyDoc]),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn anomaly_list(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<AnomalyDoc>>> {
    let a = energy::anomalies(&state.env, &ctx.principal).await?;
    Ok(axum::Json(
        a.into_iter()
            .map(|a| AnomalyDoc {
                building_id: a.building_id,
                building: a.building,
                meter_id: a.meter_id,
                meter: a.meter,
                medium: a.medium,
                rule: a.rule.into(),
                at: a.at.map(iso),
                value: a.value.map(r2),
                reference: a.reference.map(r2),
                detail: a.detail,
            })
            .collect(),
    ))
}

/// Emission factors, kg CO2 per kWh (water per m³); PV counts as avoided electricity.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorsDoc {
    pub electricity: f64,
    pub heat: f64,
    pub gas: f64,
    pub water: f64,
}

#[utoipa::path(get, path = "/api/v1/energy/factors", tag = "energy",
    summary = "Emission factors in use (public)",
    responses((status = 200, body = FactorsDoc)),
    security(()))]
async fn factors_get(State(state): State<AppState>) -> WebResult<axum::Json<FactorsDoc>> {
    let f = energy::factors(&state.env).await?;
    Ok(axum::Json(FactorsDoc {
        electricity: f.electricity,
        heat: f.heat,
        gas: f.gas,
        water: f.water,
    }))
}

#[utoipa::path(put, path = "/api/v1/energy/factors", tag = "energy",
    summary = "Change the emission factors (staff)",
    request_body = FactorsDoc,
    responses(
        (status = 200, body = FactorsDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn factors_put(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<FactorsDoc>,
) -> WebResult<axum::Json<FactorsDoc>> {
    energy::set_factors(
        &state.env,
        &ctx.actor(),
        Factors {
            electricity: b.electricity,
            heat: b.heat,
            gas: b.gas,
            water: b.water,
        },
    )
    .await?;
    Ok(axum::Json(b))
}

/// A district in the city view.
#[derive(Serialize, ToSchema)]
pub struct DistrictDoc {
    pub district_number: Option<i64>,
    pub buildings: usize,
    pub flexible_kw: f64,
    pub pv_kw: f64,
    pub consumption_kw: f64,
}

/// One hour of the city view.
#[derive(Serialize, ToSchema)]
pub struct HourDoc {
    pub hour: String,
    pub consumption_kwh: f64,
    pub pv_kwh: f64,
}

/// Flexible loads and PV of the municipal buildings, for the utility.
#[derive(Serialize, ToSchema)]
pub struct CityDoc {
    /// Start of the current hour; "now" figures are the mean kW of the hour before.
    pub at: String,
    pub flexible_kw: f64,
    pub pv_kw: f64,
    pub consumption_kw: f64,
    pub districts: Vec<DistrictDoc>,
    pub hours: Vec<HourDoc>,
}

#[utoipa::path(get, path = "/api/v1/energy/city", tag = "energy",
    summary = "Flexible loads and PV production by district, with the last 24 hours (public, aggregated)",
    responses((status = 200, body = CityDoc)),
    security(()))]
async fn city(State(state): State<AppState>) -> WebResult<axum::Json<CityDoc>> {
    let v = energy::city_view(&state.env).await?;
    Ok(axum::Json(CityDoc {
        at: iso(v.at),
        flexible_kw: r2(v.flexible_kw),
        pv_kw: r2(v.pv_kw),
        consumption_kw: r2(v.consumption_kw),
        districts: v
            .districts
            .into_iter()
            .map(|d| DistrictDoc {
                district_number: d.district_number,
                buildings: d.buildings,
                flexible_kw: r2(d.flexible_kw),
                pv_kw: r2(d.pv_kw),
                consumption_kw: r2(d.consumption_kw),
            })
            .collect(),
        hours: v
            .hours
            .into_iter()
            .map(|(t, c, p)| HourDoc {
                hour: iso(t),
                consumption_kwh: r2(c),
                pv_kwh: r2(p),
            })
            .collect(),
    }))
}
