//! Appointment pages: choose office, service and day, pick a free time and book (`/termine`);
//! manage a booking with reference and code, always in a POST body (`/termine/verwalten`); the
//! call display of a waiting room (`/termine/aufruf/{id}`); for staff the day view with
//! arrivals, calls, walk-in tickets and figures (`/staff/termine`). Signed-in staff of the
//! office who book through `/termine` book on a resident's behalf (recorded as such).

use super::admin::{FormFields, problems_of};
use super::cityops::Staff;
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use kern::Error;
use kern::error::Problem;
use minijinja::{Value, context};
use serde::Deserialize;
use services::appointments::{self as appt, local_day, local_hm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/termine", get(book_page))
        .route("/termine/buchen", post(book))
        .route("/termine/verwalten", get(manage_form).post(manage))
        .route("/termine/absagen", post(cancel))
        .route("/termine/verschieben", post(reschedule))
        .route("/termine/aufruf/{id}", get(display))
        .route("/static/aufruf.js", get(display_script))
        .route("/staff/termine", get(staff_day))
        .route("/staff/termine/{id}/schritt", post(staff_step))
        .route("/staff/termine/wartenummer", post(staff_ticket))
        .route("/staff/termine/aufrufen", post(staff_call))
        .route("/staff/termine/wartenummer/{id}", post(staff_ticket_finish))
}

const KEYS: &[(&str, &str)] = &[
    ("name", "appt-error-name"),
    ("email", "appt-error-email"),
    ("phone", "appt-error-phone"),
    ("start", "appt-error-start"),
    ("service_id", "appt-error-service"),
    ("day", "appt-error-day"),
    ("counter", "appt-error-counter"),
];

const SCRIPT: &str = include_str!("../../static/aufruf.js");

async fn display_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// Offered (office, service) pairs for the selection list: offices, catalog and offers are
/// each read once.
async fn choices(state: &AppState) -> WebResult<Vec<Value>> {
    let offices = appt::offices(&state.env).await?;
    let services = services::catalog::list(&state.env).await?;
    let offers = appt::offers(&state.env).await?;
    let mut out = Vec::new();
    for o in &offices {
        for x in offers.iter().filter(|x| x.office_id == o.id) {
            if let Some(s) = services.iter().find(|s| s.id == x.service_id) {
                out.push(context! {
                    value => format!("{}:{}", o.id, s.id),
                    label => format!("{} – {} ({} min)", s.name, o.name, x.duration_min),
                });
            }
        }
    }
    Ok(out)
}

fn pair(s: &str) -> Option<(i64, i64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

#[derive(Deserialize, Default)]
struct BookQuery {
    wahl: Option<String>,
    tag: Option<String>,
}

struct Chosen {
    wahl: String,
    day: String,
}

async fn slot_values(
    state: &AppState,
    office: i64,
    service: i64,
    day: &str,
) -> kern::Result<Vec<Value>> {
    Ok(appt::slots(&state.env, office, service, day)
        .await?
        .into_iter()
        .map(|s| {
            context! { value => s.start.to_rfc3339(), label => format!("{} – {}", local_hm(s.start), local_hm(s.end)), free => s.free }
        })
        .collect())
}

async fn book_view(
    state: &AppState,
    ctx: &Ctx,
    chosen: Chosen,
    form: Value,
    mut errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    let mut slots = Vec::new();
    let mut office = None;
    if let Some((o, s)) = pair(&chosen.wahl) {
        match slot_values(state, o, s, &chosen.day).await {
            Ok(v) => slots = v,
            Err(e) => errors.extend(problems_of(state, ctx.lang, e, KEYS, None)?),
        }
        office = appt::office(&state.env, o).await.ok().map(|o| {
            context! { name => o.name, address => o.address, display => format!("/termine/aufruf/{}", o.id) }
        });
    }
    state.page(
        ctx,
        "appointments/book.html",
        context! {
            choices => choices(state).await?, wahl => chosen.wahl, day => chosen.day,
            chosen => pair(&chosen.wahl).is_some(), slots => slots, office => office,
            form => form, errors => errors, signed_in => !ctx.principal.is_anonymous(),
        },
    )
}

async fn book_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<BookQuery>,
) -> WebResult<Html<String>> {
    let tomorrow = local_day(state.env.now() + Duration::days(1));
    let chosen = Chosen {
        wahl: q.wahl.unwrap_or_default(),
        day: q.tag.filter(|d| !d.trim().is_empty()).unwrap_or(tomorrow),
    };
    book_view(&state, &ctx, chosen, context! {}, Vec::new()).await
}

fn start_of(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

async fn book(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let (office_id, service_id) = pair(f.get("wahl")).unwrap_or((-1, -1));
    let b = appt::Booking {
        office_id,
        service_id,
        start: start_of(f.get("start")),
        name: f.get("name").into(),
        email: f.get("email").into(),
        phone: f.get("phone").into(),
    };
    match appt::book(&state.env, &ctx.actor(), b).await {
        Ok(booked) => {
            let a = &booked.appointment;
            let o = appt::office(&state.env, a.office_id).await?;
            let s = services::catalog::get(&state.env, a.service_id).await?;
            let html = state.page(
                &ctx,
                "appointments/booked.html",
                context! {
                    reference => a.reference, code => booked.code, day => local_day(a.starts_at),
                    time => local_hm(a.starts_at), office => o.name, address => o.address,
                    service => s.name, documents => s.documents, mailed => !a.email.is_empty(),
                    assisted => a.booked_by.is_some(),
                },
            )?;
            Ok(html.into_response())
        }
        Err(e) => {
            let status = if matches!(e, Error::Conflict(_)) {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            if matches!(e, Error::NotFound(_)) {
                return Err(WebError(e));
            }
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                KEYS,
                Some(("start", "appt-error-taken")),
            )?;
            let form = context! { name => f.get("name"), email => f.get("email"), phone => f.get("phone") };
            let chosen = Chosen {
                wahl: f.get("wahl").into(),
                day: f.get("tag").into(),
            };
            let html = book_view(&state, &ctx, chosen, form, errors).await?;
            Ok((status, html).into_response())
        }
    }
}

async fn manage_view(
    state: &AppState,
    ctx: &Ctx,
    reference: &str,
    code: &str,
    day: Option<&str>,
    errors: Vec<Problem>,
) -> WebResult<Response> {
    match appt::find(&state.env, &ctx.actor(), reference, code).await {
        Ok(a) => {
            let o = appt::office(&state.env, a.office_id).await?;
            let s = services::catalog::get(&state.env, a.service_id).await?;
            let day = day
                .map(str::to_string)
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| a.day.clone());
            let mut errors = errors;
            let slots = if a.state == "booked" {
                match slot_values(state, o.id, s.id, &day).await {
                    Ok(v) => v,
                    Err(e) => {
                        errors.extend(problems_of(state, ctx.lang, e, KEYS, None)?);
                        Vec::new()
                    }
                }
            } else {
                Vec::new()
            };
            let html = state.page(
                ctx,
                "appointments/manage.html",
                context! {
                    found => true, reference => a.reference, code => code.trim(),
                    state_key => format!("appt-state-{}", a.state), open => a.state == "booked",
                    when => format!("{} {}", a.day, local_hm(a.starts_at)), office => o.name,
                    address => o.address, service => s.name, day => day, slots => slots,
                    errors => errors,
                },
            )?;
            let status = if errors_empty(&html) {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            Ok((status, html).into_response())
        }
        Err(Error::NotFound(m)) => {
            let html = state.page(
                ctx,
                "appointments/manage.html",
                context! {
                    found => false, reference => reference,
                    errors => vec![Problem { field: Some("reference".into()), message: if ctx.lang == kern::i18n::Lang::De { m } else { state.i18n.t(ctx.lang, "appt-error-not-found") } }],
                },
            )?;
            Ok((StatusCode::NOT_FOUND, html).into_response())
        }
        Err(e) => Err(WebError(e)),
    }
}

fn errors_empty(html: &Html<String>) -> bool {
    !html.0.contains("error-summary-title")
}

async fn manage_form(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    state.page(
        &ctx,
        "appointments/manage.html",
        context! { found => false, reference => "", errors => Vec::<Problem>::new() },
    )
}

async fn manage(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    manage_view(
        &state,
        &ctx,
        f.get("reference"),
        f.get("code"),
        Some(f.get("tag")),
        Vec::new(),
    )
    .await
}

async fn cancel(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    match appt::cancel(&state.env, &ctx.actor(), f.get("reference"), f.get("code")).await {
        Ok(()) => Ok(redirect_with_flash(
            &ctx,
            "/termine/verwalten",
            "appt-flash-cancelled",
        )),
        Err(e @ Error::Conflict(_)) => {
            let errors = vec![Problem {
                field: None,
                message: e.to_string(),
            }];
            manage_view(
                &state,
                &ctx,
                f.get("reference"),
                f.get("code"),
                None,
                errors,
            )
            .await
        }
        Err(e) => manage_view_err(&state, &ctx, &f, e).await,
    }
}

async fn manage_view_err(
    state: &AppState,
    ctx: &Ctx,
    f: &FormFields,
    e: Error,
) -> WebResult<Response> {
    match e {
        Error::NotFound(_) => {
            manage_view(
                state,
                ctx,
                f.get("reference"),
                f.get("code"),
                None,
                Vec::new(),
            )
            .await
        }
        other => Err(WebError(other)),
    }
}

async fn reschedule(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let Some(start) = start_of(f.get("start")) else {
        let errors = vec![Problem {
            field: Some("start".into()),
            message: state.i18n.t(ctx.lang, "appt-error-start"),
        }];
        return manage_view(
            &state,
            &ctx,
            f.get("reference"),
            f.get("code"),
            Some(f.get("tag")),
            errors,
        )
        .await;
    };
    match appt::reschedule(
        &state.env,
        &ctx.actor(),
        f.get("reference"),
        f.get("code"),
        start,
    )
    .await
    {
        Ok(_) => {
            manage_view(
                &state,
                &ctx,
                f.get("reference"),
                f.get("code"),
                None,
                Vec::new(),
            )
            .await
        }
        Err(Error::NotFound(m)) => manage_view_err(&state, &ctx, &f, Error::NotFound(m)).await,
        Err(e) => {
            let errors = problems_of(
                &state,
                ctx.lang,
                e,
                KEYS,
                Some(("start", "appt-error-taken")),
            )?;
            manage_view(
                &state,
                &ctx,
                f.get("reference"),
                f.get("code"),
                Some(f.get("tag")),
                errors,
            )
            .await
        }
    }
}

async fn display(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> WebResult<Html<String>> {
    let id: i64 = id
        .parse()
        .map_err(|_| WebError(Error::not_found("Diesen Standort gibt es nicht.")))?;
    let o = appt::office(&state.env, id).await?;
    let calls: Vec<Value> = appt::display(&state.env, id, 8)
        .await?
        .into_iter()
        .map(|c| context! { label => c.label, counter => c.counter, at => local_hm(c.at) })
        .collect();
    state.page(
        &ctx,
        "appointments/display.html",
        context! { office => o.name, calls => calls },
    )
}

// ---- staff ----

#[derive(Deserialize, Default)]
struct DayQuery {
    standort: Option<String>,
    tag: Option<String>,
}

async fn staff_day(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Query(q): Query<DayQuery>,
) -> WebResult<Response> {
    let offices: Vec<_> = appt::offices(&state.env)
        .await?
        .into_iter()
        .filter(|o| appt::may_run_office(&ctx.principal, o))
        .collect();
    let today = local_day(state.env.now());
    let day = q
        .tag
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(today.clone());
    let office_id = q
        .standort
        .and_then(|s| s.parse::<i64>().ok())
        .or(offices.first().map(|o| o.id));
    let mut view = context! {};
    let mut errors = Vec::new();
    if let Some(id) = office_id {
        match appt::day(&state.env, &ctx.actor(), id, &day).await {
            Ok(d) => {
                let services = services::catalog::list(&state.env).await?;
                let sname = |sid: i64| {
                    services
                        .iter()
                        .find(|s| s.id == sid)
                        .map(|s| s.name.clone())
                        .unwrap_or_default()
                };
                let from = local_day(state.env.now() - Duration::days(30));
                let st = appt::stats(&state.env, &ctx.actor(), id, &from, &today).await?;
                view = context! {
                    office_id => d.office.id, office => d.office.name, counters => (1..=d.office.counters).collect::<Vec<_>>(),
                    appointments => d.appointments.iter().map(|a| context! {
                        id => a.id, time => local_hm(a.starts_at), reference => a.reference, name => a.name,
                        service => sname(a.service_id), counter => a.counter, state => a.state,
                        assisted => a.booked_by.is_some(), steps => next_steps(&a.state),
                    }).collect::<Vec<_>>(),
                    tickets => d.tickets.iter().map(|t| context! {
                        id => t.id, label => format!("A{:03}", t.number), state => t.state, counter => t.counter,
                        issued => local_hm(t.created_at),
                    }).collect::<Vec<_>>(),
                    stats => context! {
                        appointments => st.appointments, served => st.served, no_shows => st.no_shows,
                        rate => format!("{:.1}", st.no_show_rate * 100.0), tickets => st.tickets,
                        ticket_wait => st.ticket_wait_min.map(|x| format!("{x:.1}")),
                        appointment_wait => st.appointment_wait_min.map(|x| format!("{x:.1}")),
                        assisted => st.assisted, cancelled => st.cancelled,
                    },
                };
            }
            Err(e @ (Error::Forbidden(_) | Error::NotFound(_))) => return Err(WebError(e)),
            Err(e) => errors = problems_of(&state, ctx.lang, e, KEYS, None)?,
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let html = state.page(
        &ctx,
        "appointments/staff_day.html",
        context! {
            offices => offices.iter().map(|o| context! { value => o.id, label => o.name }).collect::<Vec<_>>(),
            selected => office_id, day => day, v => view, errors => errors,
        },
    )?;
    Ok((status, html).into_response())
}

/// The staff steps an appointment in a state can take.
fn next_steps(state: &str) -> &'static [&'static str] {
    match state {
        "booked" => &["arrived", "called", "no_show"],
        "arrived" => &["called"],
        "called" => &["served", "no_show"],
        _ => &[],
    }
}

fn back(f: &FormFields) -> String {
    format!(
        "/staff/termine?standort={}&tag={}",
        f.get("standort").trim().parse::<i64>().unwrap_or(0),
        url::form_urlencoded::byte_serialize(f.get("tag").as_bytes()).collect::<String>()
    )
}

async fn staff_step(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let id: i64 = id
        .parse()
        .map_err(|_| WebError(Error::not_found("Diesen Termin gibt es nicht.")))?;
    appt::step(&state.env, &ctx.actor(), id, f.get("to")).await?;
    Ok(redirect_with_flash(&ctx, &back(&f), "appt-flash-step"))
}

async fn staff_ticket(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let office: i64 = f.get("standort").trim().parse().unwrap_or(-1);
    appt::issue_ticket(&state.env, &ctx.actor(), office, None).await?;
    Ok(redirect_with_flash(&ctx, &back(&f), "appt-flash-ticket"))
}

async fn staff_call(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let office: i64 = f.get("standort").trim().parse().unwrap_or(-1);
    let counter: i64 = f.get("counter").trim().parse().unwrap_or(-1);
    let called = appt::call_next(&state.env, &ctx.actor(), office, counter).await?;
    let flash = if called.is_some() {
        "appt-flash-called"
    } else {
        "appt-flash-nobody"
    };
    Ok(redirect_with_flash(&ctx, &back(&f), flash))
}

async fn staff_ticket_finish(
    State(state): State<AppState>,
    Staff(ctx): Staff,
    Path(id): Path<String>,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let id: i64 = id
        .parse()
        .map_err(|_| WebError(Error::not_found("Diese Wartenummer gibt es nicht.")))?;
    appt::finish_ticket(&state.env, &ctx.actor(), id, f.get("to")).await?;
    Ok(redirect_with_flash(&ctx, &back(&f), "appt-flash-step"))
}
