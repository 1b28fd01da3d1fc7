//! Street-lighting pages: the public page with map, list and the form to report a dark light
//! (`/licht`), energy and CO2 per month (`/licht/energie`); the staff pages for faults and
//! maintenance orders (`/staff/licht`), the inventory (`/staff/licht/inventar`) and the
//! schedules with calendar overrides (`/staff/licht/schaltplaene`).
//!
//! Handlers are thin: `cityops::lighting` validates and checks roles.

use super::admin::{FormFields, problems_of};
use super::cityops::Staff;
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use crate::map::{self, Marker};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use cityops::lighting::{self, astro};
use kern::error::Problem;
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/licht", get(public_page))
        .route("/licht/melden", post(report))
        .route("/licht/energie", get(energy_page))
        .route("/staff/licht", get(staff_page))
        .route("/staff/licht/pruefen", post(detect))
        .route("/staff/licht/auftraege", post(order_create))
        .route("/staff/licht/auftraege/{id}", post(order_step))
        .route("/staff/licht/inventar", get(inventory_page))
        .route("/staff/licht/schaltkreise", post(circuit_create))
        .route("/staff/licht/masten", post(pole_create))
        .route("/staff/licht/leuchten", post(luminaire_create))
        .route(
            "/staff/licht/schaltplaene",
            get(schedules_page).post(schedule_create),
        )
        .route("/staff/licht/ausnahmen", post(override_create))
        .route(
            "/staff/licht/ausnahmen/{id}/loeschen",
            post(override_delete),
        )
}

const KEYS: &[(&str, &str)] = &[
    ("name", "lighting-error-name"),
    ("latitude", "lighting-error-point"),
    ("district", "lighting-error-district"),
    ("cabinet", "lighting-error-cabinet"),
    ("power_datastream_id", "lighting-error-datastream"),
    ("switch_datastream_id", "lighting-error-datastream"),
    ("schedule_id", "lighting-error-schedule"),
    ("circuit_id", "lighting-error-circuit"),
    ("pole_id", "lighting-error-pole"),
    ("number", "lighting-error-number"),
    ("street", "lighting-error-street"),
    ("height_m", "lighting-error-height"),
    ("installed_on", "lighting-error-installed"),
    ("lamp_type", "lighting-error-lamp-type"),
    ("wattage", "lighting-error-wattage"),
    ("on_event", "lighting-error-on-event"),
    ("off_event", "lighting-error-off-event"),
    ("on_offset_min", "lighting-error-offset"),
    ("dim_start", "lighting-error-dim-window"),
    ("dim_percent", "lighting-error-dim-percent"),
    ("day", "lighting-error-day"),
    ("label", "lighting-error-label"),
    ("kind", "lighting-error-kind"),
    ("pole_number", "lighting-error-pole-number"),
    ("location", "lighting-error-location"),
    ("description", "lighting-error-description"),
    ("email", "lighting-error-email"),
    ("assignee", "lighting-error-assignee"),
    ("state", "lighting-error-state"),
];

fn int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

/// An optional id field: empty is none, anything unparsable an id that exists nowhere.
fn opt_id(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        None
    } else {
        Some(int(s).unwrap_or(-1))
    }
}

fn opt_f64(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    if s.is_empty() {
        None
    } else {
        s.parse().ok().or(Some(f64::NAN))
    }
}

async fn district_names(state: &AppState) -> WebResult<BTreeMap<i64, String>> {
    Ok(platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.number, d.name))
        .collect())
}

fn district_options(names: &BTreeMap<i64, String>) -> Vec<Value> {
    names
        .iter()
        .map(|(n, name)| context! { value => n, label => name })
        .collect()
}

fn level_kind(level: Option<i64>) -> &'static str {
    match level {
        Some(0) => "off",
        Some(100) => "on",
        Some(_) => "dimmed",
        None => "unknown",
    }
}

fn circuit_rows(status: &[lighting::Status], names: &BTreeMap<i64, String>) -> Vec<Value> {
    status
        .iter()
        .map(|s| {
            let c = &s.inventory.circuit;
            context! {
                id => c.id,
                name => c.name,
                district => c.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
                cabinet => c.cabinet,
                serial => c.controller_serial,
                poles => s.inventory.poles,
                luminaires => s.inventory.luminaires,
                rated_w => s.inventory.rated_w.round() as i64,
                lamp_types => s.inventory.lamp_types.iter().map(|(k, v)| context! { kind => k, count => v }).collect::<Vec<_>>(),
                schedule => s.schedule_name,
                state => level_kind(s.expected_level),
                level => s.expected_level,
                on => s.tonight.map(|n| astro::local_hm(n.on)),
                off => s.tonight.map(|n| astro::local_hm(n.off)),
                power => s.power_w.map(|p| p.round() as i64),
                switched_on => s.switched_on,
                observed => s.observed_at.map(astro::local_datetime),
                power_ds => c.power_datastream_id,
                switch_ds => c.switch_datastream_id,
                faults => s.faults.iter().map(|f| context! { kind => f.kind, detail => f.detail }).collect::<Vec<_>>(),
                open_orders => s.open_orders,
            }
        })
        .collect()
}

async fn map_svg(state: &AppState, ctx: &Ctx, status: &[lighting::Status]) -> WebResult<String> {
    let districts: Vec<(String, serde_json::Value)> = platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.name, d.geometry.0))
        .collect();
    let markers: Vec<Marker> = status
        .iter()
        .map(|s| {
            let c = &s.inventory.circuit;
            let kind = if s.open_orders > 0 {
                "fault"
            } else {
                level_kind(s.expected_level)
            };
            Marker {
                latitude: c.latitude,
                longitude: c.longitude,
                label: format!(
                    "{}: {}",
                    c.name,
                    state.i18n.t(
                        ctx.lang,
                        &format!("lighting-state-{}", level_kind(s.expected_level))
                    )
                ),
                kind,
            }
        })
        .collect();
    Ok(map::svg(
        &districts,
        &markers,
        &state.i18n.t(ctx.lang, "lighting-map-title"),
        &state.i18n.t(ctx.lang, "lighting-map-desc"),
    ))
}

// ---- public ----

async fn public_view(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let status = lighting::status(&state.env).await?;
    let circuits = lighting::circuits(&state.env).await?;
    let poles: Vec<Value> = lighting::poles(&state.env)
        .await?
        .into_iter()
        .map(|p| {
            let circuit = circuits
                .iter()
                .find(|c| c.id == p.circuit_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            context! { number => p.number, street => p.street, circuit => circuit }
        })
        .collect();
    let today = astro::local_day(state.env.now());
    let c = &state.env.config.city;
    let sun = astro::sun_times(c.latitude, c.longitude, today).map(|s| {
        context! {
            dawn => astro::local_hm(s.civil_dawn), sunrise => astro::local_hm(s.sunrise),
            sunset => astro::local_hm(s.sunset), dusk => astro::local_hm(s.civil_dusk),
        }
    });
    state.page(
        ctx,
        "lighting/public.html",
        context! {
            map => map_svg(state, ctx, &status).await?,
            circuits => circuit_rows(&status, &names),
            poles => poles,
            sun => sun,
            today => today.format("%d.%m.%Y").to_string(),
            form => form,
            errors => errors,
        },
    )
}

async fn public_page(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    public_view(&state, &ctx, context! {}, Vec::new()).await
}

async fn report(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let r = lighting::Report {
        pole_number: f.get("pole_number").into(),
        location: f.get("location").into(),
        description: f.get("description").into(),
        email: f.get("email").into(),
    };
    match lighting::report(&state.env, &ctx.actor(), r).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/licht",
            "lighting-flash-reported",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, KEYS, None)?;
            let form = context! {
                pole_number => f.get("pole_number"), location => f.get("location"),
                description => f.get("description"), email => f.get("email"),
            };
            let html = public_view(&state, &ctx, form, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

#[derive(Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

async fn energy_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<MonthQuery>,
) -> WebResult<Response> {
    let month = q
        .month
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| lighting::this_month(state.env.now()));
    let (rows, errors) = match lighting::energy(&state.env, &month).await {
        Ok(r) => (r, Vec::new()),
        Err(e) => (
            Vec::new(),
            problems_of(
                &state,
                ctx.lang,
                e,
                &[("month", "lighting-error-month")],
                None,
            )?,
        ),
    };
    let total = |f: fn(&lighting::CircuitEnergy) -> f64| -> String {
        format!("{:.1}", rows.iter().map(f).sum::<f64>())
    };
    let totals = context! {
        planned => total(|e| e.planned_kwh),
        measured => total(|e| e.measured_kwh.unwrap_or(0.0)),
        undimmed => total(|e| e.undimmed_kwh),
        saving => total(|e| e.saving_kwh),
        co2 => total(|e| e.co2_kg),
        co2_saving => total(|e| e.co2_saving_kg),
    };
    let list: Vec<Value> = rows
        .iter()
        .map(|e| {
            context! {
                name => e.name, rated_w => e.rated_w.round() as i64,
                burn => format!("{:.1}", e.burn_hours), dim => format!("{:.1}", e.dim_hours),
                undimmed => format!("{:.1}", e.undimmed_kwh), planned => format!("{:.1}", e.planned_kwh),
                measured => e.measured_kwh.map(|m| format!("{m:.1}")), hours => e.measured_hours,
                saving => format!("{:.1}", e.saving_kwh), co2 => format!("{:.1}", e.co2_kg),
                co2_saving => format!("{:.1}", e.co2_saving_kg),
            }
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = state.page(
        &ctx,
        "lighting/energy.html",
        context! {
            month => month, rows => list, totals => totals, errors => errors,
            factor => lighting::CO2_KG_PER_KWH,
        },
    )?;
    Ok((status, html).into_response())
}

// ---- staff: faults and orders ----

async fn staff_view(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let faults = lighting::faults(&state.env, &ctx.principal).await?;
    let circuits = lighting::circuits(&state.env).await?;
    let poles = lighting::poles(&state.env).await?;
    let orders: Vec<Value> = lighting::orders(&state.env, &ctx.principal)
        .await?
        .into_iter()
        .map(|o| {
            let circuit = o
                .circuit_id
                .and_then(|id| circuits.iter().find(|c| c.id == id))
                .map(|c| c.name.clone());
            let pole = o
                .pole_id
                .and_then(|id| poles.iter().find(|p| p.id == id))
                .map(|p| p.number.clone());
            let closed = matches!(o.state.as_str(), "done" | "cancelled");
            let next: Vec<&str> = lighting::ORDER_STATES
                .iter()
                .copied()
                .filter(|s| lighting::transition_allowed(&o.state, s))
                .collect();
            context! {
                id => o.id, circuit => circuit, pole => pole, source => o.source, kind => o.kind,
                description => o.description, state => o.state, assignee => o.assignee,
                feedback => o.reporter_email.is_some(), closed => closed, next => next,
                created => astro::local_datetime(o.created_at),
                closed_at => o.closed_at.map(astro::local_datetime),
            }
        })
        .collect();
    let circuit_options: Vec<Value> = circuits
        .iter()
        .map(|c| context! { value => c.id, label => c.name })
        .collect();
    state.page(
        ctx,
        "lighting/staff.html",
        context! {
            faults => circuit_rows(&faults, &names),
            orders => orders,
            circuits => circuit_options,
            form => form,
            errors => errors,
        },
    )
}

async fn staff_page(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Html<String>> {
    staff_view(&state, &ctx, context! {}, Vec::new()).await
}

async fn detect(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Response> {
    let made = lighting::detect(&state.env, &ctx.actor()).await?;
    let key = if made.is_empty() {
        "lighting-flash-detect-none"
    } else {
        "lighting-flash-detect"
    };
    Ok(redirect_with_flash(&ctx, "/staff/licht", key))
}

async fn order_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let n = lighting::NewOrder {
        circuit_id: opt_id(f.get("circuit_id")),
        pole_id: None,
        description: f.get("description").into(),
        assignee: f.get("assignee").into(),
    };
    match lighting::create_order(&state.env, &ctx.actor(), n).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/licht",
            "lighting-flash-order",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, KEYS, None)?;
            let form =
                context! { description => f.get("description"), assignee => f.get("assignee") };
            let html = staff_view(&state, &ctx, form, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn order_step(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let id = crate::api::path_id(&id, "Wartungsauftrag")?;
    let f = FormFields::parse(&body);
    let s = lighting::Step {
        state: f.get("state").into(),
        assignee: f.get("assignee").into(),
    };
    match lighting::step_order(&state.env, &ctx.actor(), id, s).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/licht",
            "lighting-flash-step",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                KEYS,
                Some(("state", "lighting-error-transition")),
            )?;
            let html = staff_view(&state, &ctx, context! {}, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

// ---- staff: inventory ----

async fn inventory_view(
    state: &AppState,
    ctx: &Ctx,
    which: &str,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let status = lighting::status(&state.env).await?;
    let circuits = lighting::circuits(&state.env).await?;
    let poles: Vec<Value> = lighting::poles(&state.env)
        .await?
        .into_iter()
        .map(|p| {
            let circuit = circuits
                .iter()
                .find(|c| c.id == p.circuit_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            context! { id => p.id, number => p.number, street => p.street, circuit => circuit,
            height => p.height_m, installed => p.installed_on }
        })
        .collect();
    let schedules: Vec<Value> = lighting::schedules(&state.env)
        .await?
        .into_iter()
        .map(|s| context! { value => s.id, label => s.name })
        .collect();
    state.page(
        ctx,
        "lighting/staff_inventory.html",
        context! {
            circuits => circuit_rows(&status, &names),
            circuit_options => circuits.iter().map(|c| context! { value => c.id, label => c.name }).collect::<Vec<_>>(),
            poles => poles,
            schedules => schedules,
            districts => district_options(&names),
            lamp_types => lighting::LAMP_TYPES,
            which => which,
            form => form,
            errors => errors,
        },
    )
}

#[derive(Deserialize)]
struct NewQuery {
    neu: Option<String>,
}

/// Which form a page shows: one per page, so every field id is unique.
fn form_of(q: &NewQuery, allowed: &[&'static str]) -> &'static str {
    allowed
        .iter()
        .copied()
        .find(|a| q.neu.as_deref() == Some(*a))
        .unwrap_or(allowed[0])
}

async fn inventory_page(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<NewQuery>,
) -> WebResult<Html<String>> {
    let which = form_of(&q, &["circuit", "pole", "luminaire"]);
    inventory_view(&state, &ctx, which, context! {}, Vec::new()).await
}

async fn inventory_result(
    state: &AppState,
    ctx: &Ctx,
    which: &str,
    f: &FormFields,
    r: kern::Result<i64>,
    flash: &str,
    conflict: (&str, &str),
) -> WebResult<Response> {
    match r {
        Ok(_) => Ok(redirect_with_flash(ctx, "/staff/licht/inventar", flash)),
        Err(e) => {
            let errors = problems_of(state, ctx.lang, e, KEYS, Some(conflict))?;
            let form: BTreeMap<String, String> = [
                "name",
                "cabinet",
                "controller_serial",
                "latitude",
                "longitude",
                "power_datastream_id",
                "switch_datastream_id",
                "number",
                "street",
                "height_m",
                "installed_on",
                "wattage",
            ]
            .iter()
            .map(|k| (k.to_string(), f.get(k).to_string()))
            .collect();
            let html =
                inventory_view(state, ctx, which, Value::from_serialize(&form), errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn circuit_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let c = lighting::NewCircuit {
        name: f.get("name").into(),
        district: int(f.get("district")),
        cabinet: f.get("cabinet").into(),
        latitude: opt_f64(f.get("latitude")),
        longitude: opt_f64(f.get("longitude")),
        controller_serial: f.get("controller_serial").into(),
        power_datastream_id: opt_id(f.get("power_datastream_id")),
        switch_datastream_id: opt_id(f.get("switch_datastream_id")),
        schedule_id: opt_id(f.get("schedule_id")),
    };
    let r = lighting::create_circuit(&state.env, &ctx.actor(), c).await;
    inventory_result(
        &state,
        &ctx,
        "circuit",
        &f,
        r,
        "lighting-flash-circuit",
        ("name", "lighting-error-name-taken"),
    )
    .await
}

async fn pole_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let p = lighting::NewPole {
        number: f.get("number").into(),
        circuit_id: int(f.get("circuit_id")).unwrap_or(-1),
        street: f.get("street").into(),
        latitude: opt_f64(f.get("latitude")),
        longitude: opt_f64(f.get("longitude")),
        height_m: opt_f64(f.get("height_m")),
        installed_on: f.get("installed_on").into(),
    };
    let r = lighting::add_pole(&state.env, &ctx.actor(), p).await;
    inventory_result(
        &state,
        &ctx,
        "pole",
        &f,
        r,
        "lighting-flash-pole",
        ("number", "lighting-error-number-taken"),
    )
    .await
}

async fn luminaire_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let l = lighting::NewLuminaire {
        pole_id: int(f.get("pole_id")).unwrap_or(-1),
        lamp_type: f.get("lamp_type").into(),
        wattage: opt_f64(f.get("wattage")),
        installed_on: f.get("installed_on").into(),
    };
    let r = lighting::add_luminaire(&state.env, &ctx.actor(), l).await;
    inventory_result(
        &state,
        &ctx,
        "luminaire",
        &f,
        r,
        "lighting-flash-luminaire",
        ("pole_id", "lighting-error-pole"),
    )
    .await
}

// ---- staff: schedules ----

async fn schedules_view(
    state: &AppState,
    ctx: &Ctx,
    which: &str,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let today = astro::local_day(state.env.now());
    let overrides = lighting::overrides(&state.env).await?;
    let c = &state.env.config.city;
    let schedules = lighting::schedules(&state.env).await?;
    let list: Vec<Value> = schedules
        .iter()
        .map(|s| {
            let nights: Vec<Value> = lighting::plan_of(c.latitude, c.longitude, s, &overrides, today, 7)
                .into_iter()
                .map(|p| {
                    let n = p.night;
                    context! {
                        day => n.day.format("%d.%m.%Y").to_string(),
                        on => astro::local_hm(n.on), off => astro::local_hm(n.off),
                        dim_from => n.dim_from.map(astro::local_hm), dim_to => n.dim_to.map(astro::local_hm),
                        percent => n.dim_percent, label => p.override_label,
                        hours => format!("{:.1}", n.burn_hours()),
                    }
                })
                .collect();
            let ovs: Vec<Value> = overrides
                .iter()
                .filter(|o| o.schedule_id == s.id)
                .map(|o| context! { id => o.id, day => o.day, label => o.label, kind => o.kind,
                                    dim_start => o.dim_start, dim_end => o.dim_end, percent => o.dim_percent })
                .collect();
            context! {
                id => s.id, name => s.name, on_event => s.on_event, on_offset => s.on_offset_min,
                off_event => s.off_event, off_offset => s.off_offset_min, dim_start => s.dim_start,
                dim_end => s.dim_end, percent => s.dim_percent, nights => nights, overrides => ovs,
            }
        })
        .collect();
    state.page(
        ctx,
        "lighting/staff_schedules.html",
        context! {
            schedules => list,
            schedule_options => schedules.iter().map(|s| context! { value => s.id, label => s.name }).collect::<Vec<_>>(),
            which => which,
            form => form,
            errors => errors,
        },
    )
}

async fn schedules_page(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<NewQuery>,
) -> WebResult<Html<String>> {
    let which = form_of(&q, &["schedule", "override"]);
    let form = if which == "schedule" {
        context! { dim_start => "23:00", dim_end => "05:00", dim_percent => "60" }
    } else {
        context! { dim_percent => "100" }
    };
    schedules_view(&state, &ctx, which, form, Vec::new()).await
}

fn offset(s: &str) -> i64 {
    let s = s.trim();
    if s.is_empty() {
        0
    } else {
        // Not a number: out of range, so the domain names the field.
        s.parse().unwrap_or(i64::MAX / 2)
    }
}

async fn schedule_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let s = lighting::NewSchedule {
        name: f.get("name").into(),
        on_event: f.get("on_event").into(),
        on_offset_min: offset(f.get("on_offset_min")),
        off_event: f.get("off_event").into(),
        off_offset_min: offset(f.get("off_offset_min")),
        dim_start: f.get("dim_start").into(),
        dim_end: f.get("dim_end").into(),
        dim_percent: int(f.get("dim_percent")),
    };
    match lighting::create_schedule(&state.env, &ctx.actor(), s).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/licht/schaltplaene",
            "lighting-flash-schedule",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                KEYS,
                Some(("name", "lighting-error-name-taken")),
            )?;
            let form = context! {
                name => f.get("name"), on_event => f.get("on_event"), off_event => f.get("off_event"),
                on_offset_min => f.get("on_offset_min"), off_offset_min => f.get("off_offset_min"),
                dim_start => f.get("dim_start"), dim_end => f.get("dim_end"), dim_percent => f.get("dim_percent"),
            };
            let html = schedules_view(&state, &ctx, "schedule", form, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn override_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let o = lighting::NewOverride {
        schedule_id: int(f.get("schedule_id")).unwrap_or(-1),
        day: f.get("day").into(),
        label: f.get("label").into(),
        kind: f.get("kind").into(),
        dim_start: f.get("dim_start").into(),
        dim_end: f.get("dim_end").into(),
        dim_percent: int(f.get("dim_percent")),
    };
    match lighting::add_override(&state.env, &ctx.actor(), o).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/licht/schaltplaene",
            "lighting-flash-override",
        )),
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                KEYS,
                Some(("day", "lighting-error-day-taken")),
            )?;
            let form = context! {
                day => f.get("day"), label => f.get("label"), kind => f.get("kind"),
                dim_start => f.get("dim_start"), dim_end => f.get("dim_end"), dim_percent => f.get("dim_percent"),
            };
            let html = schedules_view(&state, &ctx, "override", form, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn override_delete(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let id = crate::api::path_id(&id, "Kalenderausnahme")?;
    lighting::delete_override(&state.env, &ctx.actor(), id).await?;
    Ok(redirect_with_flash(
        &ctx,
        "/staff/licht/schaltplaene",
        "lighting-flash-override-deleted",
    ))
}
