//! Sign in and sign out.

use super::{cookie, redirect_with_flash, safe_next};
use crate::AppState;
use crate::ctx::{Ctx, SESSION_COOKIE};
use crate::error::WebResult;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kern::Error;
use minijinja::context;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(q): Query<LoginQuery>,
) -> WebResult<Response> {
    if !ctx.principal.is_anonymous() {
        return Ok(Redirect::to(&safe_next(q.next.as_deref())).into_response());
    }
    let errors: Vec<kern::error::Problem> = Vec::new();
    Ok(state
        .page(
            &ctx,
            "login.html",
            context! { errors => errors, username => "", next => safe_next(q.next.as_deref()) },
        )?
        .into_response())
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> WebResult<Response> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let next = safe_next(f.next.as_deref());
    match platform::sessions::login(
        &state.env,
        &f.username,
        &f.password,
        &ctx.address,
        user_agent,
    )
    .await
    {
        Ok(ok) => {
            let mut r = Redirect::to(&next).into_response();
            let max_age = state.env.config.security.session_idle_hours * 3600;
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(&ctx, SESSION_COOKIE, ok.session_token, Some(max_age)),
            );
            Ok(r)
        }
        Err(e @ (Error::Unauthorized(_) | Error::TooManyRequests { .. })) => {
            let (status, message) = match &e {
                Error::TooManyRequests { .. } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    state.i18n.t_args(
                        ctx.lang,
                        "login-throttled",
                        &[(
                            "minutes",
                            state
                                .env
                                .config
                                .security
                                .throttle_window_minutes
                                .to_string(),
                        )],
                    ),
                ),
                _ => (
                    StatusCode::UNAUTHORIZED,
                    state.i18n.t(ctx.lang, "login-failed"),
                ),
            };
            let errors = vec![kern::error::Problem {
                field: Some("username".into()),
                message,
            }];
            let html = state.page(
                &ctx,
                "login.html",
                context! { errors => errors, username => f.username, next => next },
            )?;
            let mut r = (status, html).into_response();
            if let Error::TooManyRequests {
                retry_after_secs, ..
            } = e
                && let Ok(v) = retry_after_secs.to_string().parse()
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        Err(other) => Err(other.into()),
    }
}

async fn logout(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    if let Some(token) = &ctx.session_token {
        platform::sessions::logout(&state.env, token, &ctx.actor()).await?;
    }
    let mut r = redirect_with_flash(&ctx, "/", "logged-out");
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(&ctx, SESSION_COOKIE, String::new(), Some(0)),
    );
    Ok(r)
}
