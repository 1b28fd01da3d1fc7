//! The signed-in user's own account: `/konto` (profile, own applications, appointments and
//! drafts), `/konto/daten` (download of everything held about the account, as JSON) and
//! `/konto/loeschen` (a resident deletes their own account after confirming it).

use super::admin::{FormFields, problems_of};
use super::{cookie, redirect_with_flash};
use crate::AppState;
use crate::ctx::{Ctx, SESSION_COOKIE};
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kern::Error;
use kern::error::Problem;
use kern::i18n::Lang;
use minijinja::context;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/konto", get(overview))
        .route("/konto/daten", get(export))
        .route("/konto/loeschen", post(delete))
}

const KEYS: &[(&str, &str)] = &[
    ("confirm", "account-error-confirm"),
    ("password", "account-error-password"),
];

async fn overview(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    if ctx.principal.is_anonymous() {
        return Ok(Redirect::to("/login?next=%2Fkonto").into_response());
    }
    page(&state, &ctx, Vec::new(), StatusCode::OK).await
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    errors: Vec<Problem>,
    status: StatusCode,
) -> WebResult<Response> {
    let o = services::privacy::overview(&state.env, &ctx.actor()).await?;
    let html = state.page(ctx, "account.html", context! { o => o, errors => errors })?;
    Ok((status, html).into_response())
}

async fn export(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let data = services::privacy::export(&state.env, &ctx.actor()).await?;
    let body = serde_json::to_vec_pretty(&data).map_err(|e| WebError(Error::internal(e)))?;
    let day = state.env.now().format("%Y-%m-%d");
    let disposition = format!("attachment; filename=\"meine-daten-{day}.json\"");
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).map_err(|e| WebError(Error::internal(e)))?,
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

async fn delete(State(state): State<AppState>, ctx: Ctx, body: Bytes) -> WebResult<Response> {
    let f = FormFields::parse(&body);
    let confirmed = f.get("confirm") == "ja";
    match platform::accounts::delete_own(&state.env, &ctx.actor(), f.get("password"), confirmed)
        .await
    {
        Ok(()) => {
            let mut r = redirect_with_flash(&ctx, "/", "account-deleted");
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(&ctx, SESSION_COOKIE, String::new(), Some(0)),
            );
            Ok(r)
        }
        Err(e @ Error::Invalid(_)) => {
            let errors = problems_of(&state, ctx.lang, e, KEYS, None)?;
            page(&state, &ctx, errors, StatusCode::BAD_REQUEST).await
        }
        Err(Error::Conflict(m)) => {
            let message = if ctx.lang == Lang::De {
                m
            } else {
                state.i18n.t(ctx.lang, "account-error-staff")
            };
            let errors = vec![Problem {
                field: None,
                message,
            }];
            page(&state, &ctx, errors, StatusCode::CONFLICT).await
        }
        Err(e) => Err(WebError(e)),
    }
}
