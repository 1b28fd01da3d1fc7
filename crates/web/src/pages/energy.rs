//! Building-energy pages: the public page with map, buildings' consumption and CO2 and the
//! city view of flexible loads and PV (`/energie`); the staff page with anomalies, meters,
//! forms for buildings and meters, and the emission factors (`/staff/energie`).

use super::admin::{FormFields, problems_of};
use super::cityops::Staff;
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use crate::map::{self, Marker};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Datelike;
use cityops::energy;
use cityops::lighting::astro;
use kern::error::Problem;
use minijinja::{Value, context};
use serde::Deserialize;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/energie", get(public_page))
        .route("/staff/energie", get(staff_page))
        .route("/staff/energie/gebaeude", post(building_create))
        .route("/staff/energie/zaehler", post(meter_create))
        .route("/staff/energie/faktoren", post(factors_set))
}

const KEYS: &[(&str, &str)] = &[
    ("name", "energy-error-name"),
    ("address", "energy-error-address"),
    ("latitude", "energy-error-point"),
    ("floor_area_m2", "energy-error-area"),
    ("use_type", "energy-error-use"),
    ("district", "energy-error-district"),
    ("building_id", "energy-error-building"),
    ("medium", "energy-error-medium"),
    ("flexible_kw", "energy-error-flexible"),
    ("datastream_id", "energy-error-datastream"),
    ("electricity", "energy-error-factor"),
    ("heat", "energy-error-factor"),
    ("gas", "energy-error-factor"),
    ("water", "energy-error-factor"),
    ("year", "energy-error-year"),
];

fn opt_f64(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    if s.is_empty() {
        None
    } else {
        s.parse().ok().or(Some(f64::NAN))
    }
}

fn f1(x: f64) -> String {
    format!("{x:.1}")
}

async fn district_names(state: &AppState) -> WebResult<BTreeMap<i64, String>> {
    Ok(platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.number, d.name))
        .collect())
}

#[derive(Deserialize)]
struct PublicQuery {
    year: Option<String>,
}

async fn public_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<PublicQuery>,
) -> WebResult<Response> {
    let now = state.env.now();
    let raw = q.year.unwrap_or_default();
    let year = if raw.trim().is_empty() {
        Some(now.year())
    } else {
        raw.trim().parse::<i32>().ok()
    };
    let names = district_names(&state).await?;
    let (rows, errors) = match year {
        Some(y) => match energy::year(&state.env, y).await {
            Ok(r) => (r, Vec::new()),
            Err(e) => (Vec::new(), problems_of(&state, ctx.lang, e, KEYS, None)?),
        },
        None => (
            Vec::new(),
            vec![Problem {
                field: Some("year".into()),
                message: state.i18n.t(ctx.lang, "energy-error-year"),
            }],
        ),
    };
    let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let buildings: Vec<Value> = rows
        .iter()
        .map(|r| {
            let b = &r.building;
            let consumed: f64 = r.totals.iter().filter(|(k, _)| k.as_str() != "pv" && k.as_str() != "water").map(|(_, v)| v).sum();
            context! {
                name => b.name, use_type => b.use_type, area => b.floor_area_m2.round() as i64,
                district => b.district_number.and_then(|d| names.get(&d).cloned()).unwrap_or_default(),
                electricity => f1(get(&r.totals, "electricity")), heat => f1(get(&r.totals, "heat") + get(&r.totals, "gas")),
                water => f1(get(&r.totals, "water")), pv => f1(get(&r.totals, "pv")),
                per_m2 => if b.floor_area_m2 > 0.0 { f1(consumed / b.floor_area_m2) } else { "–".into() },
                co2 => f1((r.co2_kg - r.co2_avoided_kg) / 1000.0),
            }
        })
        .collect();
    let markers: Vec<Marker> = rows
        .iter()
        .map(|r| Marker {
            latitude: r.building.latitude,
            longitude: r.building.longitude,
            label: r.building.name.clone(),
            kind: if r.totals.contains_key("pv") {
                "on"
            } else {
                "off"
            },
        })
        .collect();
    let districts: Vec<(String, serde_json::Value)> = platform::city::districts(&state.env)
        .await?
        .into_iter()
        .map(|d| (d.name, d.geometry.0))
        .collect();
    let svg = map::svg(
        &districts,
        &markers,
        &state.i18n.t(ctx.lang, "energy-map-title"),
        &state.i18n.t(ctx.lang, "energy-map-desc"),
    );
    let v = energy::city_view(&state.env).await?;
    let city = context! {
        at => astro::local_datetime(v.at),
        flexible => f1(v.flexible_kw), pv => f1(v.pv_kw), consumption => f1(v.consumption_kw),
        districts => v.districts.iter().map(|d| context! {
            district => d.district_number.and_then(|n| names.get(&n).cloned()).unwrap_or_default(),
            buildings => d.buildings, flexible => f1(d.flexible_kw), pv => f1(d.pv_kw), consumption => f1(d.consumption_kw),
        }).collect::<Vec<_>>(),
        hours => v.hours.iter().map(|(t, c, p)| context! {
            hour => astro::local_hm(*t), consumption => f1(*c), pv => f1(*p),
        }).collect::<Vec<_>>(),
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = state.page(
        &ctx,
        "energy/public.html",
        context! {
            map => svg, buildings => buildings, city => city, errors => errors,
            year => year.map(|y| y.to_string()).unwrap_or(raw),
        },
    )?;
    Ok((status, html).into_response())
}

#[derive(Deserialize)]
struct NewQuery {
    neu: Option<String>,
}

async fn staff_view(
    state: &AppState,
    ctx: &Ctx,
    which: &str,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let names = district_names(state).await?;
    let anomalies: Vec<Value> = energy::anomalies(&state.env, &ctx.principal)
        .await?
        .into_iter()
        .map(|a| {
            context! {
                building => a.building, meter => a.meter, medium => a.medium, rule => a.rule,
                detail => a.detail, at => a.at.map(astro::local_datetime),
            }
        })
        .collect();
    let buildings = energy::buildings(&state.env).await?;
    let meters: Vec<Value> = energy::meters(&state.env)
        .await?
        .into_iter()
        .map(|m| {
            let b = buildings
                .iter()
                .find(|b| b.id == m.building_id)
                .map(|b| b.name.clone());
            context! { building => b, name => m.name, medium => m.medium, ds => m.datastream_id,
            flexible => m.flexible_kw }
        })
        .collect();
    let f = energy::factors(&state.env).await?;
    state.page(
        ctx,
        "energy/staff.html",
        context! {
            anomalies => anomalies,
            meters => meters,
            buildings => buildings.iter().map(|b| context! { value => b.id, label => b.name }).collect::<Vec<_>>(),
            districts => names.iter().map(|(n, name)| context! { value => n, label => name }).collect::<Vec<_>>(),
            use_types => energy::USE_TYPES,
            media => energy::MEDIA,
            factors => context! { electricity => f.electricity, heat => f.heat, gas => f.gas, water => f.water },
            which => which,
            form => form,
            errors => errors,
        },
    )
}

async fn staff_page(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<NewQuery>,
) -> WebResult<Html<String>> {
    let which = match q.neu.as_deref() {
        Some("meter") => "meter",
        Some("factors") => "factors",
        _ => "building",
    };
    staff_view(&state, &ctx, which, context! {}, Vec::new()).await
}

fn form_of(f: &FormFields) -> Value {
    let m: BTreeMap<String, String> = [
        "name",
        "address",
        "latitude",
        "longitude",
        "floor_area_m2",
        "datastream_id",
        "flexible_kw",
        "electricity",
        "heat",
        "gas",
        "water",
    ]
    .iter()
    .map(|k| (k.to_string(), f.get(k).to_string()))
    .collect();
    Value::from_serialize(&m)
}

async fn result(
    state: &AppState,
    ctx: &Ctx,
    which: &str,
    f: &FormFields,
    r: kern::Result<()>,
    flash: &str,
) -> WebResult<Response> {
    match r {
        Ok(()) => Ok(redirect_with_flash(ctx, "/staff/energie", flash)),
        Err(e) => {
            let errors = problems_of(
                state,
                ctx.lang,
                e,
                KEYS,
                Some(("name", "energy-error-name-taken")),
            )?;
            let html = staff_view(state, ctx, which, form_of(f), errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn building_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let b = energy::NewBuilding {
        name: f.get("name").into(),
        district: f.get("district").trim().parse().ok(),
        address: f.get("address").into(),
        latitude: opt_f64(f.get("latitude")),
        longitude: opt_f64(f.get("longitude")),
        floor_area_m2: opt_f64(f.get("floor_area_m2")),
        use_type: f.get("use_type").into(),
    };
    let r = energy::create_building(&state.env, &ctx.actor(), b)
        .await
        .map(|_| ());
    result(&state, &ctx, "building", &f, r, "energy-flash-building").await
}

async fn meter_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let ds = f.get("datastream_id").trim();
    let m = energy::NewMeter {
        building_id: f.get("building_id").trim().parse().unwrap_or(-1),
        name: f.get("name").into(),
        medium: f.get("medium").into(),
        datastream_id: if ds.is_empty() {
            None
        } else {
            Some(ds.parse().unwrap_or(-1))
        },
        flexible_kw: opt_f64(f.get("flexible_kw")),
    };
    let r = energy::add_meter(&state.env, &ctx.actor(), m)
        .await
        .map(|_| ());
    result(&state, &ctx, "meter", &f, r, "energy-flash-meter").await
}

async fn factors_set(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let v = |k: &str| opt_f64(f.get(k)).unwrap_or(f64::NAN);
    let r = energy::set_factors(
        &state.env,
        &ctx.actor(),
        energy::Factors {
            electricity: v("electricity"),
            heat: v("heat"),
            gas: v("gas"),
            water: v("water"),
        },
    )
    .await;
    result(&state, &ctx, "factors", &f, r, "energy-flash-factors").await
}
