//! Sign in through the OpenID Connect provider (see `platform::oidc` for the flow and how to
//! configure Keycloak).

use super::{cookie, safe_next};
use crate::AppState;
use crate::ctx::{Ctx, SESSION_COOKIE};
use crate::error::{WebError, WebResult};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use minijinja::context;
use platform::oidc::{self, Callback, OidcError};
use serde::Deserialize;

/// Binds a started login to the browser that started it (holds the login's state).
pub const STATE_COOKIE: &str = "stk_oidc_state";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", post(start))
        .route("/auth/oidc/callback", get(callback))
}

#[derive(Deserialize)]
struct StartForm {
    next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Form(f): Form<StartForm>,
) -> WebResult<Response> {
    let next = safe_next(f.next.as_deref());
    match oidc::start(&state.env, &next).await {
        Ok(started) => {
            let mut r = Redirect::to(&started.authorization_url).into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie(
                    &ctx,
                    STATE_COOKIE,
                    started.state,
                    Some(oidc::PENDING_MINUTES * 60),
                ),
            );
            Ok(r)
        }
        Err(e) => refused(&state, &ctx, e, &next),
    }
}

async fn callback(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    Query(cb): Query<Callback>,
) -> WebResult<Response> {
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let jar = CookieJar::from_headers(&headers);
    let bound = jar.get(STATE_COOKIE).map(|c| c.value().to_string());
    match oidc::finish(&state.env, &cb, bound.as_deref(), &ctx.address, user_agent).await {
        Ok(done) => {
            let mut r = Redirect::to(&safe_next(Some(&done.return_to))).into_response();
            let max_age = state.env.config.security.session_idle_hours * 3600;
            let h = r.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookie(
                    &ctx,
                    SESSION_COOKIE,
                    done.login.session_token,
                    Some(max_age),
                ),
            );
            h.append(
                header::SET_COOKIE,
                cookie(&ctx, STATE_COOKIE, String::new(), Some(0)),
            );
            Ok(r)
        }
        Err(e) => {
            // A callback that is not this browser's leaves the browser's own pending login alone.
            let foreign = matches!(e, OidcError::UnknownState) && bound.is_some();
            let mut r = refused(&state, &ctx, e, "/")?;
            if !foreign {
                r.headers_mut().append(
                    header::SET_COOKIE,
                    cookie(&ctx, STATE_COOKIE, String::new(), Some(0)),
                );
            }
            Ok(r)
        }
    }
}

/// The login page with the reason in its error summary.
fn refused(state: &AppState, ctx: &Ctx, e: OidcError, next: &str) -> WebResult<Response> {
    let key = e.message_key();
    let status = match e {
        OidcError::NotConfigured => {
            return Err(WebError(kern::Error::not_found(
                "Die Anmeldung über einen Identitätsanbieter ist nicht eingerichtet.",
            )));
        }
        OidcError::Internal(inner) => return Err(WebError(inner)),
        OidcError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        OidcError::UnknownState | OidcError::Expired => StatusCode::BAD_REQUEST,
        OidcError::Denied(_)
        | OidcError::Rejected(_)
        | OidcError::InvalidToken(_)
        | OidcError::AccountDisabled => StatusCode::UNAUTHORIZED,
    };
    let message = state.i18n.t_args(
        ctx.lang,
        key,
        &[("minutes", oidc::PENDING_MINUTES.to_string())],
    );
    let errors = vec![kern::error::Problem {
        field: None,
        message,
    }];
    let html = state.page(
        ctx,
        "login.html",
        context! { errors => errors, username => "", next => next },
    )?;
    Ok((status, html).into_response())
}
