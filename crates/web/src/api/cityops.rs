//! Roadworks in the JSON API and the open feeds: the public list (`GET`), GeoJSON, iCalendar
//! and DATEX II v3; permits, decisions, conflicts and streets for staff (scope
//! `cityops:write`, or a signed-in staff member for reads).

use super::{ApiJson, ApiQuery, ProblemDoc, path_id};
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cityops::feeds::{self, Publisher};
use cityops::roadworks::{self, Application, Step};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cityops/roadworks", get(public_list).post(apply))
        .route("/api/v1/cityops/roadworks.geojson", get(geojson))
        .route("/api/v1/cityops/roadworks.ics", get(ical))
        .route("/api/v1/cityops/roadworks.datex.xml", get(datex))
        .route("/api/v1/cityops/roadworks/{id}", get(one).put(update))
        .route("/api/v1/cityops/roadworks/{id}/steps", post(step))
        .route("/api/v1/cityops/conflicts", get(board))
        .route("/api/v1/cityops/streets", get(streets).post(add_street))
        .route(
            "/api/v1/cityops/parking",
            get(parking_list).post(parking_create),
        )
        .route("/api/v1/cityops/rules", get(get_rules).put(put_rules))
        .route(
            "/api/v1/cityops/traffic/stations",
            get(traffic_stations).post(traffic_create),
        )
        .route(
            "/api/v1/cityops/traffic/stations/{id}/flows",
            get(traffic_flows),
        )
        .route("/api/v1/cityops/traffic/modal-split", get(traffic_split))
        .route(
            "/api/v1/cityops/traffic/measured.datex.xml",
            get(traffic_datex),
        )
        .route("/api/v1/cityops/parking/alerts", get(parking_alerts))
        .route(
            "/api/v1/cityops/parking/table.datex.xml",
            get(parking_table),
        )
        .route(
            "/api/v1/cityops/parking/status.datex.xml",
            get(parking_status),
        )
        .route(
            "/api/v1/cityops/parking/{id}/forecast",
            get(parking_forecast),
        )
}

#[derive(OpenApi)]
#[openapi(
    paths(public_list, geojson, ical, datex, apply, one, update, step, board, streets, add_street,
        get_rules, put_rules, parking_list, parking_create, parking_forecast, parking_alerts, parking_table, parking_status,
        traffic_stations, traffic_create, traffic_flows, traffic_split, traffic_datex),
    components(schemas(PublicWorks, ApplicationDoc, StepDoc, Permit, ConflictDoc, Applied, StreetDoc, NewStreet,
        ParkingDoc, NewParkingDoc, ForecastDoc, RulesDoc,
        SegmentDoc, StationDoc, FlowDoc, SplitDoc, NewStationDoc, StationStreamDoc)),
    tags((name = "cityops", description = "City operations: roadworks coordination, parking and traffic flow, with open feeds"))
)]
pub struct CityopsApi;

/// A roadworks as the public sees it (no contact data).
#[derive(Serialize, ToSchema)]
pub struct PublicWorks {
    pub id: i64,
    #[schema(example = "Fernwärmeleitung erneuern")]
    pub title: String,
    pub description: String,
    #[schema(example = "Hohe Straße")]
    pub street: String,
    pub district_number: Option<i64>,
    pub period_start: String,
    pub period_end: String,
    pub working_hours: String,
    /// `none`, `lane` or `full`.
    pub closure: String,
    pub applicant_org: String,
    /// `approved` or `extended`.
    pub status: String,
    /// `current` or `planned`.
    pub phase: String,
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub detour: Option<serde_json::Value>,
}

fn public(w: roadworks::PublicWorks) -> PublicWorks {
    PublicWorks {
        id: w.id,
        title: w.title,
        description: w.description,
        street: w.street,
        district_number: w.district_number,
        period_start: w.period_start.format("%Y-%m-%d").to_string(),
        period_end: w.period_end.format("%Y-%m-%d").to_string(),
        working_hours: w.working_hours,
        closure: w.closure,
        applicant_org: w.applicant_org,
        status: w.status,
        phase: w.phase,
        geometry: w.geometry,
        detour: w.detour,
    }
}

#[utoipa::path(get, path = "/api/v1/cityops/roadworks", tag = "cityops",
    summary = "Current and planned roadworks (public)",
    responses((status = 200, description = "Approved works that have not ended", body = [PublicWorks])),
    security(()))]
async fn public_list(State(state): State<AppState>) -> WebResult<axum::Json<Vec<PublicWorks>>> {
    let works = roadworks::public_list(&state.env).await?;
    Ok(axum::Json(works.into_iter().map(public).collect()))
}

#[utoipa::path(get, path = "/api/v1/cityops/roadworks.geojson", tag = "cityops",
    summary = "Current and planned roadworks as GeoJSON (RFC 7946)",
    responses((status = 200, description = "A FeatureCollection", content_type = "application/geo+json", body = Object)),
    security(()))]
async fn geojson(State(state): State<AppState>) -> WebResult<Response> {
    let works = roadworks::public_list(&state.env).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/geo+json")],
        feeds::geojson(&works).to_string(),
    )
        .into_response())
}

fn host(state: &AppState) -> String {
    let url = state.env.config.public_url();
    url.split("://")
        .nth(1)
        .unwrap_or(&url)
        .split(['/', ':'])
        .next()
        .unwrap_or("localhost")
        .to_string()
}

#[utoipa::path(get, path = "/api/v1/cityops/roadworks.ics", tag = "cityops",
    summary = "Current and planned roadworks as an iCalendar feed (RFC 5545)",
    responses((status = 200, description = "A calendar of all-day events", content_type = "text/calendar", body = String)),
    security(()))]
async fn ical(State(state): State<AppState>) -> WebResult<Response> {
    let works = roadworks::public_list(&state.env).await?;
    let body = feeds::ical(
        &works,
        state.env.now(),
        &host(&state),
        &state.env.config.city.name,
    );
    Ok((
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/cityops/roadworks.datex.xml", tag = "cityops",
    summary = "Current and planned roadworks as a DATEX II v3 SituationPublication",
    responses((status = 200, description = "d2:payload of xsi:type sit:SituationPublication", content_type = "application/xml", body = String)),
    security(()))]
async fn datex(State(state): State<AppState>) -> WebResult<Response> {
    let works = roadworks::public_list(&state.env).await?;
    let publisher = Publisher {
        country: "de".into(),
        national_identifier: state.env.config.city.name.clone(),
    };
    let body = feeds::datex_situations(
        &works,
        state.env.now(),
        &publisher,
        &roadworks::projection(&state.env),
    );
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

/// An application for a roadworks permit.
#[derive(Deserialize, ToSchema)]
#[schema(as = RoadworksApplication)]
#[serde(deny_unknown_fields)]
pub struct ApplicationDoc {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// A street of the city's directory (`GET /api/v1/cityops/streets`).
    pub street: String,
    /// GeoJSON LineString or Polygon, WGS 84.
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    /// GeoJSON LineString of the detour.
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub detour: Option<serde_json::Value>,
    /// First day, `YYYY-MM-DD`.
    #[schema(example = "2026-12-01")]
    pub period_start: String,
    /// Last day, `YYYY-MM-DD`.
    #[schema(example = "2026-12-20")]
    pub period_end: String,
    #[serde(default)]
    pub working_hours: String,
    /// `none`, `lane` or `full`.
    pub closure: String,
    pub applicant_org: String,
    pub contact_name: String,
    pub contact_email: String,
    #[serde(default)]
    pub contact_phone: String,
}

impl From<ApplicationDoc> for Application {
    fn from(a: ApplicationDoc) -> Self {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Application {
            title: a.title,
            description: a.description,
            street: a.street,
            geometry: text(&a.geometry),
            detour: a
                .detour
                .filter(|d| !d.is_null())
                .map(|d| text(&d))
                .unwrap_or_default(),
            period_start: a.period_start,
            period_end: a.period_end,
            working_hours: a.working_hours,
            closure: a.closure,
            applicant_org: a.applicant_org,
            contact_name: a.contact_name,
            contact_email: a.contact_email,
            contact_phone: a.contact_phone,
        }
    }
}

/// A conflict with another works.
#[derive(Serialize, ToSchema)]
pub struct ConflictDoc {
    pub id: i64,
    /// `overlap`, `protection`, `detour_closure` or `shared_detour`.
    pub kind: String,
    pub works_id: i64,
    pub other_id: i64,
    pub detail: String,
}

fn conflict(c: roadworks::Conflict) -> ConflictDoc {
    ConflictDoc {
        id: c.id,
        kind: c.kind,
        works_id: c.works_id,
        other_id: c.other_id,
        detail: c.detail,
    }
}

/// The stored application and the conflicts found.
#[derive(Serialize, ToSchema)]
pub struct Applied {
    pub id: i64,
    pub conflicts: Vec<ConflictDoc>,
}

/// A permit with everything staff see.
#[derive(Serialize, ToSchema)]
pub struct Permit {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub street: String,
    pub district_number: Option<i64>,
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    #[schema(value_type = Option<Object>)]
    pub detour: Option<serde_json::Value>,
    pub period_start: String,
    pub period_end: String,
    pub working_hours: String,
    pub closure: String,
    pub applicant_org: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
    /// `applied`, `approved`, `rejected`, `extended` or `closed`.
    pub status: String,
    pub decision_note: String,
    pub closed_at: Option<String>,
    pub conflicts: Vec<ConflictDoc>,
}

fn permit(w: roadworks::Roadworks, conflicts: Vec<roadworks::Conflict>) -> Permit {
    Permit {
        id: w.id,
        title: w.title,
        description: w.description,
        street: w.street_name,
        district_number: w.district_number,
        geometry: serde_json::from_str(&w.geometry).unwrap_or_default(),
        detour: w.detour.and_then(|d| serde_json::from_str(&d).ok()),
        period_start: w.period_start.format("%Y-%m-%d").to_string(),
        period_end: w.period_end.format("%Y-%m-%d").to_string(),
        working_hours: w.working_hours,
        closure: w.closure,
        applicant_org: w.applicant_org,
        contact_name: w.contact_name,
        contact_email: w.contact_email,
        contact_phone: w.contact_phone,
        status: w.status,
        decision_note: w.decision_note,
        closed_at: w.closed_at.map(|t| t.to_rfc3339()),
        conflicts: conflicts.into_iter().map(conflict).collect(),
    }
}

#[utoipa::path(post, path = "/api/v1/cityops/roadworks", tag = "cityops",
    summary = "Apply for a roadworks permit (conflicts are detected at once)",
    request_body = ApplicationDoc,
    responses(
        (status = 201, description = "Stored as `applied`", body = Applied),
        (status = 400, description = "Invalid input; `errors` lists the fields", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "No credentials", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Scope `cityops:write` missing", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<ApplicationDoc>,
) -> WebResult<(StatusCode, axum::Json<Applied>)> {
    let (id, conflicts) = roadworks::apply(&state.env, &ctx.actor(), body.into()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Applied {
            id,
            conflicts: conflicts.into_iter().map(conflict).collect(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/cityops/roadworks/{id}", tag = "cityops",
    summary = "One permit with contact data and conflicts (staff)",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = Permit),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<axum::Json<Permit>> {
    let id = path_id(&id, "Baustelle")?;
    let w = roadworks::get(&state.env, &ctx.principal, id).await?;
    let c = roadworks::conflicts_of(&state.env, &ctx.principal, id).await?;
    Ok(axum::Json(permit(w, c)))
}

#[utoipa::path(put, path = "/api/v1/cityops/roadworks/{id}", tag = "cityops",
    summary = "Change an application or a running permit (conflicts are detected again)",
    params(("id" = i64, Path)),
    request_body = ApplicationDoc,
    responses(
        (status = 200, body = Permit),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Closed or rejected", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApplicationDoc>,
) -> WebResult<axum::Json<Permit>> {
    let id = path_id(&id, "Baustelle")?;
    let c = roadworks::update(&state.env, &ctx.actor(), id, body.into()).await?;
    let w = roadworks::get(&state.env, &ctx.principal, id).await?;
    Ok(axum::Json(permit(w, c)))
}

/// A step: `{"action":"approve","note":""}`, `{"action":"reject","note":"…"}`,
/// `{"action":"extend","period_end":"YYYY-MM-DD"}` or `{"action":"close"}`.
#[derive(Deserialize, ToSchema)]
#[schema(as = RoadworksStep)]
pub struct StepDoc {
    /// `approve`, `reject`, `extend` or `close`.
    pub action: String,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub period_end: String,
}

#[utoipa::path(post, path = "/api/v1/cityops/roadworks/{id}/steps", tag = "cityops",
    summary = "Approve, reject, extend or close a permit",
    params(("id" = i64, Path)),
    request_body = StepDoc,
    responses(
        (status = 200, body = Permit),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in the current state", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn step(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StepDoc>,
) -> WebResult<axum::Json<Permit>> {
    let id = path_id(&id, "Baustelle")?;
    let s = match body.action.as_str() {
        "approve" => Step::Approve { note: body.note },
        "reject" => Step::Reject { note: body.note },
        "extend" => Step::Extend {
            period_end: body.period_end,
        },
        "close" => Step::Close,
        _ => {
            return Err(kern::Error::invalid(
                "action",
                "Erlaubt sind approve, reject, extend und close.",
            )
            .into());
        }
    };
    let w = roadworks::step(&state.env, &ctx.actor(), id, s).await?;
    let c = roadworks::conflicts_of(&state.env, &ctx.principal, id).await?;
    Ok(axum::Json(permit(w, c)))
}

#[derive(Deserialize, IntoParams)]
pub struct BoardQuery {
    /// District number.
    pub district: Option<i64>,
    /// First day of the window, `YYYY-MM-DD`.
    pub from: Option<String>,
    /// Last day of the window, `YYYY-MM-DD`.
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/cityops/conflicts", tag = "cityops",
    summary = "The coordination board: conflicts by district and period (staff)",
    params(BoardQuery),
    responses(
        (status = 200, body = [ConflictDoc]),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn board(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<BoardQuery>,
) -> WebResult<axum::Json<Vec<ConflictDoc>>> {
    let day = |s: &Option<String>| -> WebResult<Option<chrono::DateTime<chrono::Utc>>> {
        match s {
            None => Ok(None),
            Some(s) => roadworks::parse_day(s).map(Some).ok_or_else(|| {
                kern::Error::invalid("from", "Daten bitte als JJJJ-MM-TT angeben.").into()
            }),
        }
    };
    let (from, to) = (day(&q.from)?, day(&q.to)?);
    let entries = roadworks::board(&state.env, &ctx.principal, q.district, from, to).await?;
    Ok(axum::Json(
        entries.into_iter().map(|b| conflict(b.conflict)).collect(),
    ))
}

/// A street of the directory.
#[derive(Serialize, ToSchema)]
pub struct StreetDoc {
    pub id: i64,
    #[schema(example = "Hohe Straße")]
    pub name: String,
    pub district_number: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/cityops/streets", tag = "cityops",
    summary = "The street directory (public)",
    responses((status = 200, body = [StreetDoc])),
    security(()))]
async fn streets(State(state): State<AppState>) -> WebResult<axum::Json<Vec<StreetDoc>>> {
    let s = roadworks::streets(&state.env).await?;
    Ok(axum::Json(
        s.into_iter()
            .map(|s| StreetDoc {
                id: s.id,
                name: s.name,
                district_number: s.district_number,
            })
            .collect(),
    ))
}

/// A new street.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStreet {
    pub name: String,
    #[serde(default)]
    pub district_number: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/cityops/streets", tag = "cityops",
    summary = "Add a street to the directory (staff)",
    request_body = NewStreet,
    responses(
        (status = 201, body = StreetDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Already in the directory", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn add_street(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(body): ApiJson<NewStreet>,
) -> WebResult<(StatusCode, axum::Json<StreetDoc>)> {
    let id =
        roadworks::add_street(&state.env, &ctx.actor(), &body.name, body.district_number).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(StreetDoc {
            id,
            name: body.name.trim().to_string(),
            district_number: body.district_number,
        }),
    ))
}

// ---- parking ----

/// A car park or on-street zone with its free spaces now.
#[derive(Serialize, ToSchema)]
pub struct ParkingDoc {
    pub id: i64,
    #[schema(example = "Parkhaus Innenstadt-West")]
    pub name: String,
    /// `car_park` or `on_street`.
    pub kind: String,
    pub district_number: Option<i64>,
    pub latitude: f64,
    pub longitude: f64,
    pub capacity: i64,
    pub tariffs: String,
    pub opening_hours: String,
    pub datastream_id: Option<i64>,
    /// Capacity minus the latest occupied count; null without a fresh value.
    pub free: Option<i64>,
    pub occupied: Option<f64>,
    pub observed_at: Option<String>,
    /// The sensor reported nothing for longer than the alert threshold.
    pub silent: bool,
}

fn parking_doc(s: cityops::parking::Status) -> ParkingDoc {
    let p = s.parking;
    ParkingDoc {
        id: p.id,
        name: p.name,
        kind: p.kind,
        district_number: p.district_number,
        latitude: p.latitude,
        longitude: p.longitude,
        capacity: p.capacity,
        tariffs: p.tariffs,
        opening_hours: p.opening_hours,
        datastream_id: p.datastream_id,
        free: s.free,
        occupied: s.occupied,
        observed_at: s
            .observed_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        silent: s.silent,
    }
}

#[utoipa::path(get, path = "/api/v1/cityops/parking", tag = "cityops",
    summary = "Free parking spaces now (public)",
    responses((status = 200, body = [ParkingDoc])),
    security(()))]
async fn parking_list(State(state): State<AppState>) -> WebResult<axum::Json<Vec<ParkingDoc>>> {
    let s = cityops::parking::status(&state.env).await?;
    Ok(axum::Json(s.into_iter().map(parking_doc).collect()))
}

/// A new car park or zone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewParkingDoc {
    pub name: String,
    /// `car_park` or `on_street`.
    pub kind: String,
    #[serde(default)]
    pub district_number: Option<i64>,
    pub latitude: f64,
    pub longitude: f64,
    /// Number of spaces, at least 0.
    pub capacity: i64,
    #[serde(default)]
    pub tariffs: String,
    #[serde(default)]
    pub opening_hours: String,
    /// A SensorThings Datastream whose results are the occupied spaces.
    #[serde(default)]
    pub datastream_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/cityops/parking", tag = "cityops",
    summary = "Add a car park or on-street zone (staff)",
    request_body = NewParkingDoc,
    responses(
        (status = 201, body = Applied),
        (status = 400, description = "Invalid input (for example a negative capacity)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn parking_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewParkingDoc>,
) -> WebResult<(StatusCode, axum::Json<Applied>)> {
    let id = cityops::parking::create(
        &state.env,
        &ctx.actor(),
        cityops::parking::NewParking {
            name: b.name,
            kind: b.kind,
            district: b.district_number,
            latitude: Some(b.latitude),
            longitude: Some(b.longitude),
            capacity: Some(b.capacity),
            tariffs: b.tariffs,
            opening_hours: b.opening_hours,
            datastream_id: b.datastream_id,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Applied {
            id,
            conflicts: Vec::new(),
        }),
    ))
}

/// The forecast of occupied spaces: 7 rows (Monday first) of 24 hourly values (UTC).
#[derive(Serialize, ToSchema)]
pub struct ForecastDoc {
    pub parking_id: i64,
    pub weeks: i64,
    pub occupied: Vec<Vec<Option<f64>>>,
}

#[utoipa::path(get, path = "/api/v1/cityops/parking/{id}/forecast", tag = "cityops",
    summary = "Occupancy forecast by weekday and hour (mean over the past weeks)",
    params(("id" = i64, Path)),
    responses((status = 200, body = ForecastDoc), (status = 404, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn parking_forecast(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> WebResult<axum::Json<ForecastDoc>> {
    let id = path_id(&id, "Parkplatz")?;
    let occupied = cityops::parking::forecast(&state.env, id).await?;
    Ok(axum::Json(ForecastDoc {
        parking_id: id,
        weeks: cityops::parking::FORECAST_WEEKS,
        occupied,
    }))
}

#[utoipa::path(get, path = "/api/v1/cityops/parking/alerts", tag = "cityops",
    summary = "Car parks whose sensor went silent (staff)",
    responses((status = 200, body = [ParkingDoc]), (status = 403, body = ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn parking_alerts(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<axum::Json<Vec<ParkingDoc>>> {
    let s = cityops::parking::alerts(&state.env, &ctx.principal).await?;
    Ok(axum::Json(s.into_iter().map(parking_doc).collect()))
}

fn publisher(state: &AppState) -> Publisher {
    Publisher {
        country: "de".into(),
        national_identifier: state.env.config.city.name.clone(),
    }
}

#[utoipa::path(get, path = "/api/v1/cityops/parking/table.datex.xml", tag = "cityops",
    summary = "Parking sites as a DATEX II v3 ParkingTablePublication (static)",
    responses((status = 200, content_type = "application/xml", body = String)),
    security(()))]
async fn parking_table(State(state): State<AppState>) -> WebResult<Response> {
    let list = cityops::parking::list(&state.env).await?;
    let body = feeds::datex_parking_table(&list, state.env.now(), &publisher(&state));
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/v1/cityops/parking/status.datex.xml", tag = "cityops",
    summary = "Occupancy as a DATEX II v3 ParkingStatusPublication (dynamic)",
    responses((status = 200, content_type = "application/xml", body = String)),
    security(()))]
async fn parking_status(State(state): State<AppState>) -> WebResult<Response> {
    let s = cityops::parking::status(&state.env).await?;
    let body = feeds::datex_parking_status(&s, state.env.now(), &publisher(&state));
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

/// The thresholds of conflict detection.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesDoc {
    /// Two sites closer than this (metres) touch.
    #[schema(example = 10.0)]
    pub buffer_m: f64,
    /// Days after closed works in which the same section must not be dug again.
    #[schema(example = 1095)]
    pub protection_days: i64,
    /// Metres two detours must share to count as the same detour.
    #[schema(example = 50.0)]
    pub min_shared_detour_m: f64,
}

#[utoipa::path(get, path = "/api/v1/cityops/rules", tag = "cityops",
    summary = "The conflict-detection thresholds (staff)",
    responses((status = 200, body = RulesDoc), (status = 403, body = ProblemDoc, content_type = "application/problem+json")),
    security(("bearer" = [])))]
async fn get_rules(State(state): State<AppState>, ctx: Ctx) -> WebResult<axum::Json<RulesDoc>> {
    roadworks::require_staff(&ctx.principal)?;
    let r = roadworks::rules(&state.env).await?;
    Ok(axum::Json(RulesDoc {
        buffer_m: r.buffer_m,
        protection_days: r.protection_days,
        min_shared_detour_m: r.min_shared_detour_m,
    }))
}

#[utoipa::path(put, path = "/api/v1/cityops/rules", tag = "cityops",
    summary = "Change the conflict-detection thresholds (staff; applied on the next change of a permit)",
    request_body = RulesDoc,
    responses(
        (status = 200, body = RulesDoc),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn put_rules(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<RulesDoc>,
) -> WebResult<axum::Json<RulesDoc>> {
    roadworks::set_rules(
        &state.env,
        &ctx.actor(),
        roadworks::Rules {
            buffer_m: b.buffer_m,
            protection_days: b.protection_days,
            min_shared_detour_m: b.min_shared_detour_m,
        },
    )
    .await?;
    Ok(axum::Json(b))
}

// ---- traffic ----

/// One direction of a road segment in the last complete quarter hour.
#[derive(Serialize, ToSchema)]
pub struct SegmentDoc {
    /// `inbound` or `outbound`.
    pub direction: String,
    pub interval_start: Option<String>,
    /// Motor vehicles per hour.
    pub car_flow_veh_h: Option<f64>,
    pub speed_kmh: Option<f64>,
    /// Level of service `A`–`F`.
    pub los: Option<String>,
    pub congested: bool,
}

/// A counting station and the state of its segment.
#[derive(Serialize, ToSchema)]
pub struct StationDoc {
    pub id: i64,
    pub name: String,
    pub district_number: Option<i64>,
    pub segment: String,
    pub free_flow_kmh: f64,
    pub capacity_veh_h: f64,
    pub directions: Vec<SegmentDoc>,
}

fn station_doc(s: cityops::traffic::StationState) -> StationDoc {
    StationDoc {
        id: s.station.id,
        name: s.station.name,
        district_number: s.station.district_number,
        segment: s.station.segment,
        free_flow_kmh: s.station.free_flow_kmh,
        capacity_veh_h: s.station.capacity_veh_h,
        directions: s
            .directions
            .into_iter()
            .map(|d| SegmentDoc {
                direction: d.direction,
                interval_start: d
                    .interval_start
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                car_flow_veh_h: d.car_flow_veh_h,
                speed_kmh: d.speed_kmh,
                los: d.los.map(|c| c.to_string()),
                congested: d.congested,
            })
            .collect(),
    }
}

#[utoipa::path(get, path = "/api/v1/cityops/traffic/stations", tag = "cityops",
    summary = "Counting stations with level of service per direction (public)",
    responses((status = 200, body = [StationDoc])),
    security(()))]
async fn traffic_stations(State(state): State<AppState>) -> WebResult<axum::Json<Vec<StationDoc>>> {
    let s = cityops::traffic::states(&state.env).await?;
    Ok(axum::Json(s.into_iter().map(station_doc).collect()))
}

/// A 15-minute count.
#[derive(Serialize, ToSchema)]
pub struct FlowDoc {
    pub start: String,
    /// `car`, `bicycle` or `pedestrian`.
    pub mode: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub count: f64,
}

#[utoipa::path(get, path = "/api/v1/cityops/traffic/stations/{id}/flows", tag = "cityops",
    summary = "15-minute counts of a station over the last 24 hours (public)",
    params(("id" = i64, Path)),
    responses((status = 200, body = [FlowDoc]), (status = 404, body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
async fn traffic_flows(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> WebResult<axum::Json<Vec<FlowDoc>>> {
    let id = path_id(&id, "Zählstelle")?;
    let from = state.env.now() - chrono::Duration::hours(24);
    let f = cityops::traffic::flows(&state.env, id, from).await?;
    Ok(axum::Json(
        f.into_iter()
            .map(|f| FlowDoc {
                start: f.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                mode: f.mode,
                direction: f.direction,
                count: f.count,
            })
            .collect(),
    ))
}

/// Counts per mode in a district and month.
#[derive(Serialize, ToSchema)]
pub struct SplitDoc {
    pub district_number: Option<i64>,
    #[schema(example = "2026-11")]
    pub month: String,
    pub car: f64,
    pub bicycle: f64,
    pub pedestrian: f64,
    /// Shares in per cent.
    pub car_share: f64,
    pub bicycle_share: f64,
    pub pedestrian_share: f64,
}

#[utoipa::path(get, path = "/api/v1/cityops/traffic/modal-split", tag = "cityops",
    summary = "Modal split by district and month over the last 90 days (public)",
    responses((status = 200, body = [SplitDoc])),
    security(()))]
async fn traffic_split(State(state): State<AppState>) -> WebResult<axum::Json<Vec<SplitDoc>>> {
    let rows = cityops::traffic::modal_split(&state.env, 90).await?;
    Ok(axum::Json(
        rows.into_iter()
            .map(|r| SplitDoc {
                car_share: r.share("car"),
                bicycle_share: r.share("bicycle"),
                pedestrian_share: r.share("pedestrian"),
                district_number: r.district_number,
                month: r.month,
                car: r.car,
                bicycle: r.bicycle,
                pedestrian: r.pedestrian,
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/cityops/traffic/measured.datex.xml", tag = "cityops",
    summary = "Traffic flows as a DATEX II v3 MeasuredDataPublication",
    responses((status = 200, content_type = "application/xml", body = String)),
    security(()))]
async fn traffic_datex(State(state): State<AppState>) -> WebResult<Response> {
    let s = cityops::traffic::states(&state.env).await?;
    let body = cityops::traffic::datex_measured(&s, state.env.now(), &publisher(&state));
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response())
}

/// A new counting station.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStationDoc {
    pub name: String,
    #[serde(default)]
    pub district_number: Option<i64>,
    #[serde(default)]
    pub segment: String,
    pub free_flow_kmh: f64,
    pub capacity_veh_h: f64,
    #[serde(default)]
    pub speed_datastream_id: Option<i64>,
    pub streams: Vec<StationStreamDoc>,
}

/// A count Datastream of a station.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StationStreamDoc {
    /// `car`, `bicycle` or `pedestrian`.
    pub mode: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    pub datastream_id: i64,
}

#[utoipa::path(post, path = "/api/v1/cityops/traffic/stations", tag = "cityops",
    summary = "Register a counting station (staff)",
    request_body = NewStationDoc,
    responses(
        (status = 201, body = Applied),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
async fn traffic_create(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(b): ApiJson<NewStationDoc>,
) -> WebResult<(StatusCode, axum::Json<Applied>)> {
    let id = cityops::traffic::create(
        &state.env,
        &ctx.actor(),
        cityops::traffic::NewStation {
            name: b.name,
            district: b.district_number,
            segment: b.segment,
            free_flow_kmh: b.free_flow_kmh,
            capacity_veh_h: b.capacity_veh_h,
            speed_datastream_id: b.speed_datastream_id,
            streams: b
                .streams
                .into_iter()
                .map(|s| (s.mode, s.direction, s.datastream_id))
                .collect(),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Applied {
            id,
            conflicts: Vec::new(),
        }),
    ))
}
