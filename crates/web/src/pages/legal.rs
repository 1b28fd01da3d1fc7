//! The legal pages every public body's site carries: Impressum, Datenschutzerklärung and the
//! BITV NRW accessibility statement with its feedback form (the "Feedback-Mechanismus" of
//! § 10b BGG NRW). Reports go through `platform::feedback`, which validates and audits them.

use super::admin::{FormFields, problems_of};
use super::redirect_with_flash;
use crate::AppState;
use crate::ctx::Ctx;
use crate::error::WebResult;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use kern::error::Problem;
use kern::i18n::Lang;
use minijinja::{Value, context};
use platform::feedback::NewFeedback;

/// The day the accessibility statement was last reviewed (BITV NRW asks for the date).
/// Update it whenever the statement or the self-assessment changes.
const A11Y_STATEMENT_DATE: (i32, u32, u32) = (2026, 11, 22);

/// Translations of the platform's validation messages for pages not in German.
const FEEDBACK_KEYS: &[(&str, &str)] = &[
    ("message", "feedback-error-message"),
    ("contact", "feedback-email-invalid"),
    ("page", "feedback-error-page"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/impressum", get(imprint))
        .route("/datenschutz", get(privacy))
        .route("/barrierefreiheit", get(accessibility))
        .route("/barrierefreiheit/meldung", post(report_barrier))
}

async fn imprint(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    state.page(
        &ctx,
        "legal/impressum.html",
        context! { version => env!("CARGO_PKG_VERSION") },
    )
}

async fn privacy(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    state.page(
        &ctx,
        "legal/datenschutz.html",
        context! { session_hours => state.env.config.security.session_idle_hours },
    )
}

fn statement_date(lang: Lang) -> String {
    let (y, m, d) = A11Y_STATEMENT_DATE;
    match chrono::NaiveDate::from_ymd_opt(y, m, d) {
        Some(date) if lang == Lang::De => date.format("%d.%m.%Y").to_string(),
        Some(date) => date.format("%-d %B %Y").to_string(),
        None => String::new(),
    }
}

fn accessibility_page(
    state: &AppState,
    ctx: &Ctx,
    form: Value,
    errors: Vec<Problem>,
) -> WebResult<Html<String>> {
    state.page(
        ctx,
        "legal/barrierefreiheit.html",
        context! {
            statement_date => statement_date(ctx.lang),
            form => form,
            errors => errors,
        },
    )
}

async fn accessibility(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    let empty = context! { page => "", message => "", contact => "" };
    accessibility_page(&state, &ctx, empty, Vec::new())
}

async fn report_barrier(
    State(state): State<AppState>,
    ctx: Ctx,
    body: Bytes,
) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let report = NewFeedback {
        page: f.get("page").to_string(),
        message: f.get("message").to_string(),
        contact: f.get("contact").to_string(),
    };
    match platform::feedback::submit(&state.env, &ctx.actor(), report.clone()).await {
        Ok(_) => Ok(redirect_with_flash(
            &ctx,
            "/barrierefreiheit",
            "feedback-thanks",
        )),
        Err(e) => {
            let errors = problems_of(&state, ctx.lang, e, FEEDBACK_KEYS, None)?;
            let form = context! {
                page => report.page,
                message => report.message,
                contact => report.contact,
            };
            let html = accessibility_page(&state, &ctx, form, errors)?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
    }
}
