//! Service-catalog pages: search and A–Z list (`/leistungen`), one service with its office,
//! documents, fees and legal basis (`/leistungen/{id}`); for staff the catalog with import and
//! export (`/staff/leistungen`) and the form to add or change a service.
//!
//! Handlers are thin: `services::catalog` validates and checks rights.

use super::admin::{FormFields, problems_of};
use super::cityops::Staff;
use super::parse_id;
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use kern::Error;
use kern::error::Problem;
use minijinja::{Value, context};
use serde::Deserialize;
use services::catalog::{self, ServiceInput};
use services::payments::euro;
use std::collections::BTreeMap;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/leistungen", get(public_list))
        .route("/leistungen/{id}", get(public_one))
        .route("/staff/leistungen", get(staff_list).post(staff_create))
        .route("/staff/leistungen/neu", get(staff_new))
        .route("/staff/leistungen/import", post(staff_import))
        .route("/staff/leistungen/{id}", get(staff_edit).post(staff_update))
        .route("/staff/leistungen/{id}/loeschen", post(staff_delete))
}

const KEYS: &[(&str, &str)] = &[
    ("leika", "services-error-leika"),
    ("name", "services-error-name"),
    ("description", "services-error-description"),
    ("documents", "services-error-documents"),
    ("legal_basis", "services-error-legal"),
    ("fee_text", "services-error-fee-text"),
    ("fee_cents", "services-error-fee"),
    ("processing_time", "services-error-time"),
    ("keywords", "services-error-keywords"),
    ("duration_min", "services-error-duration"),
    ("in_person", "services-error-channel"),
    ("org_unit", "services-error-org-unit"),
    ("q", "services-error-query"),
];

fn summary(text: &str) -> String {
    let first = text
        .split_terminator(['.', '\n'])
        .next()
        .unwrap_or("")
        .trim();
    let mut s: String = first.chars().take(200).collect();
    if first.chars().count() > 200 {
        s.push('…');
    } else if !s.is_empty() {
        s.push('.');
    }
    s
}

fn card(s: &catalog::Service) -> Value {
    context! {
        id => s.id, name => s.name, summary => summary(&s.description),
        unit => s.org_unit.as_ref().map(|u| u.name.clone()),
        online => s.online, in_person => s.in_person,
    }
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn public_list(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<SearchQuery>,
) -> WebResult<Response> {
    let query = q.q.unwrap_or_default();
    let mut errors = Vec::new();
    let mut results = Vec::new();
    if !query.trim().is_empty() {
        match catalog::search(&state.env, &query, 50).await {
            Ok(hits) => results = hits.iter().map(|h| card(&h.service)).collect(),
            Err(e) => errors = problems_of(&state, ctx.lang, e, KEYS, None)?,
        }
    }
    let mut letters: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in catalog::list(&state.env).await? {
        let l = s
            .name
            .chars()
            .next()
            .map(|c| c.to_uppercase().collect::<String>())
            .unwrap_or_default()
            .replace('Ä', "A")
            .replace('Ö', "O")
            .replace('Ü', "U");
        letters.entry(l).or_default().push(card(&s));
    }
    let letters: Vec<Value> = letters
        .into_iter()
        .map(|(l, v)| context! { letter => l, services => v })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = state.page(
        &ctx,
        "services/list.html",
        context! {
            q => query, searched => !query.trim().is_empty() && errors.is_empty(),
            results => results, letters => letters, errors => errors,
        },
    )?;
    Ok((status, html).into_response())
}

async fn public_one(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let s = catalog::get(&state.env, parse_id(&id)?).await?;
    let may_edit = catalog::may_edit(&ctx.principal, s.org_unit_id);
    state.page(
        &ctx,
        "services/one.html",
        context! {
            s => context! {
                id => s.id, leika => s.leika, name => s.name,
                paragraphs => s.description.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
                documents => s.documents, fee_text => s.fee_text,
                fee => s.fee_cents.map(euro), legal => s.legal_basis,
                time => s.processing_time, online => s.online, in_person => s.in_person,
                unit => s.org_unit.as_ref().map(|u| context! {
                    name => u.name, address => u.address, email => u.email, phone => u.phone,
                    hours => u.opening_hours, access => u.accessibility,
                }),
            },
            may_edit => may_edit,
            has_form => services::cases::form_of(&state.env, s.id).await?.is_some(),
        },
    )
}

// ---- staff ----

async fn staff_list_view(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let rows: Vec<Value> = catalog::list(&state.env)
        .await?
        .iter()
        .map(|s| {
            context! {
                id => s.id, name => s.name, leika => s.leika,
                unit => s.org_unit.as_ref().map(|u| u.name.clone()),
                may_edit => catalog::may_edit(&ctx.principal, s.org_unit_id),
            }
        })
        .collect();
    state.page(
        ctx,
        "services/staff_list.html",
        context! { services => rows, errors => errors },
    )
}

async fn staff_list(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Html<String>> {
    staff_list_view(&state, &ctx, Vec::new()).await
}

async fn staff_import(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    mut multipart: Multipart,
) -> WebResult<Response> {
    let mut file: Option<Vec<u8>> = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        if field.name() == Some("file") {
            match field.bytes().await {
                Ok(b) => file = Some(b.to_vec()),
                Err(_) => {
                    return Err(WebError(Error::TooLarge(
                        "Die Datei konnte nicht gelesen werden (zu groß?).".into(),
                    )));
                }
            }
        }
    }
    let r = match file.filter(|f| !f.is_empty()) {
        None => Err(Error::invalid("file", "Bitte wählen Sie eine Datei aus.")),
        Some(bytes) => {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
            if first == Some(b'{') {
                catalog::import_json(&state.env, &ctx.actor(), &bytes).await
            } else {
                catalog::import_xzufi(&state.env, &ctx.actor(), &bytes).await
            }
        }
    };
    match r {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/staff/leistungen",
            "services-flash-imported",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, KEYS, None)?;
            let html = staff_list_view(&state, &ctx, errors).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// "37,00", "37.5", "37 €" → cents; empty → none; anything else → a value the domain refuses.
fn cents(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches('€').trim().replace('.', ",");
    if s.is_empty() {
        return None;
    }
    let (whole, frac) = s.split_once(',').unwrap_or((&s, ""));
    let w: i64 = whole.trim().parse().ok()?;
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        2 => frac.parse().ok()?,
        _ => return Some(-1),
    };
    w.checked_mul(100).and_then(|x| x.checked_add(f))
}

fn input_of(f: &FormFields) -> (ServiceInput, Vec<Problem>) {
    let mut bad = Vec::new();
    let fee = f.get("fee_euro");
    let fee_cents = match cents(fee) {
        Some(c) => Some(c),
        None if fee.trim().is_empty() => None,
        None => Some(-1),
    };
    let duration = f.get("duration_min").trim();
    let duration_min = if duration.is_empty() {
        None
    } else {
        match duration.parse() {
            Ok(d) => Some(d),
            Err(_) => {
                bad.push(Problem {
                    field: Some("duration_min".into()),
                    message: "Die Termindauer ist eine ganze Zahl von Minuten.".into(),
                });
                None
            }
        }
    };
    let unit = f.get("org_unit").trim();
    (
        ServiceInput {
            leika: f.get("leika").trim().into(),
            name: f.get("name").into(),
            description: f.get("description").into(),
            documents: lines(f.get("documents")),
            fee_text: f.get("fee_text").into(),
            fee_cents,
            legal_basis: lines(f.get("legal_basis")),
            processing_time: f.get("processing_time").into(),
            online: f.has("online"),
            in_person: f.has("in_person"),
            org_unit: (!unit.is_empty()).then(|| unit.to_string()),
            keywords: f.get("keywords").into(),
            duration_min,
        },
        bad,
    )
}

fn form_value(s: &ServiceInput, fee_raw: Option<&str>) -> Value {
    context! {
        leika => s.leika, name => s.name, description => s.description,
        documents => s.documents.join("\n"), fee_text => s.fee_text,
        fee_euro => fee_raw.map(String::from).unwrap_or_else(|| s.fee_cents.map(|c| format!("{},{:02}", c / 100, c % 100)).unwrap_or_default()),
        legal_basis => s.legal_basis.join("\n"), processing_time => s.processing_time,
        online => s.online, in_person => s.in_person, org_unit => s.org_unit.clone().unwrap_or_default(),
        keywords => s.keywords, duration_min => s.duration_min.map(|d| d.to_string()).unwrap_or_default(),
    }
}

async fn form_page(
    state: &AppState,
    ctx: &Ctx,
    id: Option<i64>,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let units: Vec<Value> = platform::city::org_units(&state.env)
        .await?
        .into_iter()
        .map(|u| context! { value => u.key, label => u.name })
        .collect();
    state.page(
        ctx,
        "services/staff_form.html",
        context! { id => id, form => form, units => units, errors => errors },
    )
}

async fn staff_new(State(state): State<AppState>, Staff(ctx): Staff) -> WebResult<Html<String>> {
    let blank = ServiceInput {
        in_person: true,
        duration_min: Some(15),
        ..Default::default()
    };
    form_page(&state, &ctx, None, form_value(&blank, None), Vec::new()).await
}

async fn staff_edit(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let s = catalog::get(&state.env, parse_id(&id)?).await?;
    if !catalog::may_edit(&ctx.principal, s.org_unit_id) {
        return Err(WebError(Error::forbidden(
            "Leistungen dieser Organisationseinheit dürfen Sie nicht bearbeiten.",
        )));
    }
    let input = ServiceInput {
        leika: s.leika,
        name: s.name,
        description: s.description,
        documents: s.documents,
        fee_text: s.fee_text,
        fee_cents: s.fee_cents,
        legal_basis: s.legal_basis,
        processing_time: s.processing_time,
        online: s.online,
        in_person: s.in_person,
        org_unit: s.org_unit.map(|u| u.key),
        keywords: s.keywords,
        duration_min: Some(s.duration_min),
    };
    form_page(
        &state,
        &ctx,
        Some(s.id),
        form_value(&input, None),
        Vec::new(),
    )
    .await
}

async fn save(state: &AppState, ctx: &Ctx, id: Option<i64>, body: &[u8]) -> WebResult<Response> {
    let f = FormFields::parse(body);
    let (input, mut bad) = input_of(&f);
    let r = if bad.is_empty() {
        match id {
            None => catalog::create(&state.env, &ctx.actor(), input.clone()).await,
            Some(id) => catalog::update(&state.env, &ctx.actor(), id, input.clone())
                .await
                .map(|_| id),
        }
    } else {
        Err(Error::invalid("", ""))
    };
    match r {
        Ok(id) => Ok(redirect_with_flash(
            ctx,
            &format!("/leistungen/{id}"),
            "services-flash-saved",
        )),
        Err(e) => {
            if bad.is_empty() {
                bad = problems_of(state, ctx.lang, e, KEYS, None)?;
            }
            let html = form_page(
                state,
                ctx,
                id,
                form_value(&input, Some(f.get("fee_euro"))),
                bad,
            )
            .await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}

async fn staff_create(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    save(&state, &ctx, None, &body).await
}

async fn staff_update(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let id = parse_id(&id)?;
    save(&state, &ctx, Some(id), &body).await
}

async fn staff_delete(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
) -> WebResult<Response> {
    catalog::delete(&state.env, &ctx.actor(), parse_id(&id)?).await?;
    Ok(redirect_with_flash(
        &ctx,
        "/staff/leistungen",
        "services-flash-deleted",
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn euro_amounts() {
        assert_eq!(super::cents("37,00"), Some(3700));
        assert_eq!(super::cents("37.5 €"), Some(3750));
        assert_eq!(super::cents("12"), Some(1200));
        assert_eq!(super::cents(""), None);
        assert_eq!(super::cents("1,234"), Some(-1));
        assert_eq!(super::cents("abc"), None);
    }
}
