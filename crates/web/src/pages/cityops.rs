//! Roadworks pages: the public list with feeds and the subscription form (`/baustellen`), and
//! the staff area (`/staff/baustellen`): permits, decisions, the coordination board, streets.
//! Parking: free spaces now (`/parken`) and the staff page with silent sensors (`/staff/parken`).
//!
//! Handlers are thin: the `cityops` crate validates and checks roles; the staff gate only
//! sends anonymous visitors to the login page first.

use super::admin::{FormFields, problems_of};
use super::parse_id;
use super::redirect_with_flash;
use crate::ctx::Ctx;
use crate::error::WebResult;
use crate::{AppState, WebError};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use cityops::roadworks::{self, Application, Roadworks, Step};
use cityops::subscriptions;
use kern::Error;
use kern::error::Problem;
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/baustellen", get(public_list))
        .route("/baustellen/abo", post(subscribe))
        .route("/baustellen/abo/bestaetigen/{token}", get(confirm))
        .route(
            "/baustellen/abo/abmelden/{token}",
            get(unsubscribe_form).post(unsubscribe),
        )
        .route("/staff/baustellen", get(staff_list).post(staff_create))
        .route("/staff/baustellen/neu", get(staff_new))
        .route("/staff/baustellen/koordination", get(staff_board))
        .route(
            "/staff/baustellen/strassen",
            get(staff_streets).post(staff_street_add),
        )
        .route(
            "/staff/baustellen/strassen/{id}/loeschen",
            post(staff_street_delete),
        )
        .route("/staff/baustellen/{id}", get(staff_detail))
        .route("/staff/baustellen/{id}/schritt", post(staff_step))
        .route("/parken", get(public_parking))
        .route("/verkehr", get(public_traffic))
        .route(
            "/staff/parken",
            get(staff_parking).post(staff_parking_create),
        )
}

/// The request context of someone who may manage roadworks; anonymous visitors go to the
/// login page first.
pub struct Staff(pub Ctx);

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if ctx.principal.is_anonymous() {
            let back = if parts.method == Method::GET {
                ctx.path.as_str()
            } else {
                "/staff/baustellen"
            };
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            return Err(Redirect::to(&format!("/login?next={next}")).into_response());
        }
        roadworks::require_staff(&ctx.principal).map_err(|_| {
            let msg = state.i18n.t(ctx.lang, "cityops-forbidden");
            WebError(Error::forbidden(msg)).into_response()
        })?;
        Ok(Staff(ctx))
    }
}

async fn district_names(state: &AppState) -> WebResult<BTreeMap<i64, String>> {
    Ok(platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.number, d.name))
        .collect())
}

fn district_options(names: &BTreeMap<i64, String>, selected: Option<i64>) -> Vec<Value> {
    names
        .iter()
        .map(|(n, name)| context! { value => n, label => name, selected => selected == Some(*n) })
        .collect()
}

/// The districts with shapes and markers as an SVG map (`key` names the map; `key-desc` says
/// where its list is).
async fn city_map(
    state: &AppState,
    ctx: &Ctx,
    shapes: &[crate::map::Shape],
    markers: &[crate::map::Marker],
    key: &str,
) -> WebResult<String> {
    let districts: Vec<(String, serde_json::Value)> = platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.name, d.geometry.0))
        .collect();
    Ok(crate::map::svg_with_shapes(
        &districts,
        shapes,
        markers,
        &state.i18n.t(ctx.lang, key),
        &state.i18n.t(ctx.lang, &format!("{key}-desc")),
    ))
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%d.%m.%Y").to_string()
}

// ---- public ----

async fn public_page(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let works = roadworks::public_list(&state.env).await?;
    let rows: Vec<Value> = works
        .iter()
        .map(|w| {
            context! {
                id => w.id,
                title => w.title,
                description => w.description,
                street => w.street,
                district => w.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
                start => day(w.period_start),
                end => day(w.period_end),
                working_hours => w.working_hours,
                closure => w.closure,
                applicant => w.applicant_org,
                phase => w.phase,
                has_detour => w.detour.is_some(),
            }
        })
        .collect();
    let shapes: Vec<crate::map::Shape> = works
        .iter()
        .flat_map(|w| {
            let kind = if w.phase == "current" {
                "current"
            } else {
                "planned"
            };
            let mut v = vec![crate::map::Shape {
                geometry: w.geometry.clone(),
                label: format!("{} ({})", w.title, w.street),
                kind,
            }];
            if let Some(d) = &w.detour {
                v.push(crate::map::Shape {
                    geometry: d.clone(),
                    label: format!(
                        "{}: {}",
                        w.title,
                        state.i18n.t(ctx.lang, "cityops-has-detour")
                    ),
                    kind: "detour",
                });
            }
            v
        })
        .collect();
    let map = city_map(state, ctx, &shapes, &[], "cityops-map-roadworks").await?;
    let selected = form
        .get_attr("district")
        .ok()
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()));
    state.page(
        ctx,
        "cityops/roadworks.html",
        context! {
            map => map,
            works => rows,
            districts => district_options(&names, selected),
            form => form,
            errors => errors,
        },
    )
}

async fn public_list(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    public_page(&state, &ctx, context! { area => "district" }, Vec::new()).await
}

const SUB_KEYS: &[(&str, &str)] = &[
    ("email", "cityops-error-email"),
    ("area", "cityops-error-area"),
    ("district", "cityops-error-district"),
    ("latitude", "cityops-error-point"),
    ("radius_m", "cityops-error-radius"),
];

fn opt_f64(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    if s.is_empty() { None } else { s.parse().ok() }
}

async fn subscribe(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let req = subscriptions::Request {
        email: f.get("email").trim().to_string(),
        area: f.get("area").to_string(),
        district: f.get("district").trim().parse().ok(),
        latitude: opt_f64(f.get("latitude")),
        longitude: opt_f64(f.get("longitude")),
        radius_m: opt_f64(f.get("radius_m")),
    };
    match subscriptions::subscribe(&state.env, &ctx.actor(), req).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/baustellen",
            "cityops-flash-subscribed",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, SUB_KEYS, None)?;
            let form = context! {
                email => f.get("email"),
                area => f.get("area"),
                district => f.get("district"),
                latitude => f.get("latitude"),
                longitude => f.get("longitude"),
                radius_m => f.get("radius_m"),
            };
            let html = public_page(&state, &ctx, form, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> WebResult<Html<String>> {
    subscriptions::confirm(&state.env, &ctx.actor(), &token).await?;
    state.page(
        &ctx,
        "cityops/subscription.html",
        context! { step => "confirmed" },
    )
}

async fn unsubscribe_form(
    ctx: Ctx,
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> WebResult<Html<String>> {
    state.page(
        &ctx,
        "cityops/subscription.html",
        context! { step => "ask", token => token },
    )
}

async fn unsubscribe(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(token): Path<String>,
) -> WebResult<Html<String>> {
    subscriptions::unsubscribe(&state.env, &ctx.actor(), &token).await?;
    state.page(
        &ctx,
        "cityops/subscription.html",
        context! { step => "done" },
    )
}

// ---- staff ----

fn works_row(w: &Roadworks, names: &BTreeMap<i64, String>, conflicts: usize) -> Value {
    context! {
        id => w.id,
        title => w.title,
        street => w.street_name,
        district => w.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
        start => day(w.period_start),
        end => day(w.period_end),
        closure => w.closure,
        status => w.status,
        applicant => w.applicant_org,
        conflicts => conflicts,
    }
}

async fn staff_list(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Html<String>> {
    let names = district_names(&state).await?;
    let works = roadworks::list(&state.env, &ctx.principal, &[]).await?;
    let all = roadworks::board(&state.env, &ctx.principal, None, None, None).await?;
    let rows: Vec<Value> = works
        .iter()
        .map(|w| {
            let n = all
                .iter()
                .filter(|b| b.conflict.works_id == w.id || b.conflict.other_id == w.id)
                .count();
            works_row(w, &names, n)
        })
        .collect();
    state.page(&ctx, "cityops/staff_list.html", context! { works => rows })
}

const APP_KEYS: &[(&str, &str)] = &[
    ("title", "cityops-error-title"),
    ("description", "cityops-error-description"),
    ("street", "cityops-error-street"),
    ("geometry", "cityops-error-geometry"),
    ("detour", "cityops-error-detour"),
    ("period_start", "cityops-error-start"),
    ("period_end", "cityops-error-end"),
    ("working_hours", "cityops-error-hours"),
    ("closure", "cityops-error-closure"),
    ("applicant_org", "cityops-error-applicant"),
    ("contact_name", "cityops-error-contact-name"),
    ("contact_email", "cityops-error-email"),
    ("contact_phone", "cityops-error-phone"),
];

async fn new_page(
    state: &AppState,
    ctx: &Ctx,
    a: &Application,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let streets = roadworks::streets(&state.env).await?;
    let closures: Vec<Value> = roadworks::CLOSURES
        .iter()
        .map(|c| context! { value => c, checked => a.closure == *c })
        .collect();
    state.page(
        ctx,
        "cityops/staff_new.html",
        context! { form => a, streets => streets, closures => closures, errors => errors },
    )
}

async fn staff_new(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Html<String>> {
    let a = Application {
        closure: "none".into(),
        ..Application::default()
    };
    new_page(&state, &ctx, &a, Vec::new()).await
}

async fn staff_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let a = Application {
        title: f.get("title").into(),
        description: f.get("description").into(),
        street: f.get("street").into(),
        geometry: f.get("geometry").into(),
        detour: f.get("detour").into(),
        period_start: f.get("period_start").into(),
        period_end: f.get("period_end").into(),
        working_hours: f.get("working_hours").into(),
        closure: f.get("closure").into(),
        applicant_org: f.get("applicant_org").into(),
        contact_name: f.get("contact_name").into(),
        contact_email: f.get("contact_email").into(),
        contact_phone: f.get("contact_phone").into(),
    };
    match roadworks::apply(&state.env, &ctx.actor(), a.clone()).await {
        Ok((id, _)) => Ok(redirect_with_flash(
            &ctx,
            &format!("/staff/baustellen/{id}"),
            "cityops-flash-applied",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, APP_KEYS, None)?;
            let html = new_page(&state, &ctx, &a, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn detail_page(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let w = roadworks::get(&state.env, &ctx.principal, id).await?;
    let names = district_names(state).await?;
    let conflicts: Vec<Value> = roadworks::conflicts_of(&state.env, &ctx.principal, id)
        .await?
        .into_iter()
        .map(|c| {
            let other = if c.works_id == id {
                c.other_id
            } else {
                c.works_id
            };
            context! { kind => c.kind, other => other, detail => c.detail }
        })
        .collect();
    state.page(
        ctx,
        "cityops/staff_detail.html",
        context! {
            w => w,
            row => works_row(&w, &names, conflicts.len()),
            conflicts => conflicts,
            errors => errors,
        },
    )
}

async fn staff_detail(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let id = parse_id(&id)?;
    detail_page(&state, &ctx, id, Vec::new()).await
}

const STEP_KEYS: &[(&str, &str)] = &[
    ("note", "cityops-error-note"),
    ("period_end", "cityops-error-end"),
];

async fn staff_step(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    let f = FormFields::parse(&body);
    let step = match f.get("action") {
        "approve" => Step::Approve {
            note: f.get("note").into(),
        },
        "reject" => Step::Reject {
            note: f.get("note").into(),
        },
        "extend" => Step::Extend {
            period_end: f.get("period_end").into(),
        },
        "close" => Step::Close,
        _ => {
            return Err(WebError(Error::invalid(
                "action",
                "Unbekannter Bearbeitungsschritt.",
            )));
        }
    };
    match roadworks::step(&state.env, &ctx.actor(), id, step).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            &format!("/staff/baustellen/{id}"),
            "cityops-flash-step",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                STEP_KEYS,
                Some(("action", "cityops-error-step")),
            )?;
            let html = detail_page(&state, &ctx, id, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

#[derive(Deserialize)]
struct BoardQuery {
    district: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn staff_board(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<BoardQuery>,
) -> WebResult<Html<String>> {
    let names = district_names(&state).await?;
    let district = q.district.as_deref().and_then(|d| d.parse().ok());
    let from = q.from.as_deref().and_then(roadworks::parse_day);
    let to = q.to.as_deref().and_then(roadworks::parse_day);
    let entries = roadworks::board(&state.env, &ctx.principal, district, from, to).await?;
    let rows: Vec<Value> = entries
        .iter()
        .map(|b| {
            context! {
                kind => b.conflict.kind,
                detail => b.conflict.detail,
                works => works_row(&b.works, &names, 0),
                other => works_row(&b.other, &names, 0),
            }
        })
        .collect();
    let rules = roadworks::rules(&state.env).await?;
    state.page(
        &ctx,
        "cityops/staff_board.html",
        context! {
            entries => rows,
            districts => district_options(&names, district),
            from => q.from.unwrap_or_default(),
            to => q.to.unwrap_or_default(),
            rules => rules,
        },
    )
}

async fn streets_page(
    state: &AppState,
    ctx: &Ctx,
    name: &str,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let streets: Vec<Value> = roadworks::streets(&state.env)
        .await?
        .into_iter()
        .map(|s| {
            context! {
                id => s.id,
                name => s.name,
                district => s.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
            }
        })
        .collect();
    state.page(
        ctx,
        "cityops/staff_streets.html",
        context! {
            streets => streets,
            districts => district_options(&names, None),
            name => name,
            errors => errors,
        },
    )
}

async fn staff_streets(
    State(state): State<AppState>,
    Staff(ctx): Staff,
) -> WebResult<Html<String>> {
    streets_page(&state, &ctx, "", Vec::new()).await
}

async fn staff_street_add(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let district = f.get("district").trim().parse().ok();
    match roadworks::add_street(&state.env, &ctx.actor(), f.get("name"), district).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/baustellen/strassen",
            "cityops-flash-street-added",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                &[
                    ("name", "cityops-error-street-name"),
                    ("district", "cityops-error-district"),
                ],
                Some(("name", "cityops-error-street-taken")),
            )?;
            let html = streets_page(&state, &ctx, f.get("name"), errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn staff_street_delete(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    match roadworks::delete_street(&state.env, &ctx.actor(), id).await {
        Ok(()) => Ok(redirect_with_flash(
            &ctx,
            "/staff/baustellen/strassen",
            "cityops-flash-street-deleted",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                &[],
                Some(("name", "cityops-error-street-in-use")),
            )?;
            let html = streets_page(&state, &ctx, "", errors).await?;
            Ok((StatusCode::CONFLICT, html).into_response())
        }
    }
}

// ---- parking ----

fn parking_rows(status: &[cityops::parking::Status], names: &BTreeMap<i64, String>) -> Vec<Value> {
    status
        .iter()
        .map(|s| {
            let p = &s.parking;
            context! {
                id => p.id,
                name => p.name,
                kind => p.kind,
                district => p.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
                capacity => p.capacity,
                free => s.free,
                has_sensor => p.datastream_id.is_some(),
                datastream => p.datastream_id,
                silent => s.silent,
                observed => s.observed_at.map(|t| t.format("%d.%m.%Y %H:%M UTC").to_string()),
                tariffs => p.tariffs,
                opening_hours => p.opening_hours,
            }
        })
        .collect()
}

pub(super) async fn public_parking(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<Html<String>> {
    let names = district_names(&state).await?;
    let status = cityops::parking::status(&state.env).await?;
    let markers: Vec<crate::map::Marker> = status
        .iter()
        .map(|s| crate::map::Marker {
            latitude: s.parking.latitude,
            longitude: s.parking.longitude,
            label: match s.free {
                Some(f) => format!("{}: {f}", s.parking.name),
                None => s.parking.name.clone(),
            },
            kind: match s.free {
                Some(0) => "fault",
                Some(_) => "on",
                None => "off",
            },
        })
        .collect();
    let map = city_map(&state, &ctx, &[], &markers, "cityops-map-parking").await?;
    state.page(
        &ctx,
        "cityops/parking.html",
        context! { map => map, sites => parking_rows(&status, &names) },
    )
}

async fn parking_staff_page(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let status = cityops::parking::status(&state.env).await?;
    let alerts = cityops::parking::alerts(&state.env, &ctx.principal).await?;
    state.page(
        ctx,
        "cityops/staff_parking.html",
        context! {
            sites => parking_rows(&status, &names),
            alerts => parking_rows(&alerts, &names),
            silent_minutes => cityops::parking::SILENT_MINUTES,
            districts => district_options(&names, None),
            form => form,
            errors => errors,
        },
    )
}

pub(super) async fn staff_parking(
    State(state): State<AppState>,
    Staff(ctx): Staff,
) -> WebResult<Html<String>> {
    parking_staff_page(&state, &ctx, context! { kind => "car_park" }, Vec::new()).await
}

const PARKING_KEYS: &[(&str, &str)] = &[
    ("name", "cityops-error-parking-name"),
    ("kind", "cityops-error-parking-kind"),
    ("capacity", "cityops-error-capacity"),
    ("latitude", "cityops-error-point"),
    ("district", "cityops-error-district"),
    ("tariffs", "cityops-error-tariffs"),
    ("datastream_id", "cityops-error-datastream"),
];

pub(super) async fn staff_parking_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let int = |s: &str| -> Option<i64> { s.trim().parse().ok() };
    let capacity = f.get("capacity").trim();
    let mut errors = Vec::new();
    let capacity_value = if capacity.is_empty() {
        None
    } else {
        match capacity.parse::<i64>() {
            Ok(c) => Some(c),
            Err(_) => {
                errors.push(Problem {
                    field: Some("capacity".into()),
                    message: state.i18n.t(ctx.lang, "cityops-error-capacity"),
                });
                None
            }
        }
    };
    let ds = f.get("datastream_id").trim();
    let req = cityops::parking::NewParking {
        name: f.get("name").into(),
        kind: f.get("kind").into(),
        district: int(f.get("district")),
        latitude: opt_f64(f.get("latitude")),
        longitude: opt_f64(f.get("longitude")),
        capacity: capacity_value,
        tariffs: f.get("tariffs").into(),
        opening_hours: f.get("opening_hours").into(),
        datastream_id: if ds.is_empty() {
            None
        } else {
            Some(int(ds).unwrap_or(-1))
        },
    };
    if errors.is_empty() {
        match cityops::parking::create(&state.env, &ctx.actor(), req).await {
            Ok(_) => {
                return Ok(redirect_with_flash(
                    &ctx,
                    "/staff/parken",
                    "cityops-flash-parking-added",
                ));
            }
            Err(e) => {
                errors = problems_of(
                    &state,
                    ctx.lang,
                    e,
                    PARKING_KEYS,
                    Some(("name", "cityops-error-parking-taken")),
                )?
            }
        }
    }
    let form = context! {
        name => f.get("name"), kind => f.get("kind"), latitude => f.get("latitude"),
        longitude => f.get("longitude"), capacity => f.get("capacity"), tariffs => f.get("tariffs"),
        opening_hours => f.get("opening_hours"), datastream_id => f.get("datastream_id"),
    };
    let html = parking_staff_page(&state, &ctx, form, errors).await?;
    Ok((StatusCode::BAD_REQUEST, html).into_response())
}

// ---- traffic ----

pub(super) async fn public_traffic(
    State(state): State<AppState>,
    ctx: Ctx,
) -> WebResult<Html<String>> {
    let names = district_names(&state).await?;
    let states = cityops::traffic::states(&state.env).await?;
    let mut segments = Vec::new();
    for s in &states {
        for d in &s.directions {
            segments.push(context! {
                station => s.station.name,
                segment => s.station.segment,
                district => s.station.district_number.and_then(|n| names.get(&n).cloned()).unwrap_or_default(),
                direction => d.direction,
                flow => d.car_flow_veh_h.map(|f| f.round() as i64),
                los => d.los.map(|c| c.to_string()),
                congested => d.congested,
                interval => d.interval_start.map(|t| t.format("%d.%m.%Y %H:%M UTC").to_string()),
            });
        }
    }
    let split: Vec<Value> = cityops::traffic::modal_split(&state.env, 90)
        .await?
        .into_iter()
        .map(|r| {
            context! {
                district => r.district_number.and_then(|n| names.get(&n).cloned()).unwrap_or_default(),
                month => r.month,
                car => format!("{:.1}", r.share("car")),
                bicycle => format!("{:.1}", r.share("bicycle")),
                pedestrian => format!("{:.1}", r.share("pedestrian")),
                total => (r.car + r.bicycle + r.pedestrian).round() as i64,
            }
        })
        .collect();
    let places = cityops::traffic::locations(&state.env).await?;
    let markers: Vec<crate::map::Marker> = states
        .iter()
        .filter_map(|s| {
            let (lat, lon) = places.get(&s.station.id)?;
            let congested = s.directions.iter().any(|d| d.congested);
            Some(crate::map::Marker {
                latitude: *lat,
                longitude: *lon,
                label: format!("{}: {}", s.station.name, s.station.segment),
                kind: if congested { "fault" } else { "on" },
            })
        })
        .collect();
    let map = city_map(&state, &ctx, &[], &markers, "cityops-map-traffic").await?;
    state.page(
        &ctx,
        "cityops/traffic.html",
        context! { map => map, segments => segments, split => split },
    )
}
