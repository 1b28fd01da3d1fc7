//! HTML pages. Each handler: extract -> call the domain -> render.

mod account;
pub mod admin;
mod appointments;
mod auth;
pub(crate) mod cases;
mod cityops;
mod energy;
mod legal;
mod lighting;
mod oidc;
mod services;

use crate::ctx::Ctx;
use crate::error::WebResult;
use crate::{AppState, WebError};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kern::Role;
use minijinja::context;
use serde::Deserialize;

pub const FLASH_COOKIE: &str = "stk_flash";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/staff", get(staff))
        .route("/lang/{code}", get(switch_language))
        .route("/static/stadtkern.css", get(stylesheet))
        .merge(auth::router())
        .merge(account::router())
        .merge(oidc::router())
        .merge(admin::router())
        .merge(legal::router())
        .merge(cityops::router())
        .merge(lighting::router())
        .merge(energy::router())
        .merge(services::router())
        .merge(appointments::router())
}

/// Ids in paths: anything that is not a number names nothing (404, as a missing object).
pub(crate) fn parse_id(raw: &str) -> WebResult<i64> {
    raw.parse::<i64>()
        .map_err(|_| WebError(kern::Error::not_found("Nicht gefunden.")))
}

/// A cookie set by the server for the browser only.
pub fn cookie(
    ctx: &Ctx,
    name: &'static str,
    value: String,
    max_age_secs: Option<i64>,
) -> HeaderValue {
    let mut c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(ctx.tls);
    if let Some(s) = max_age_secs {
        c = c.max_age(cookie_duration(s));
    }
    HeaderValue::from_str(&c.build().to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie_duration(secs: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(secs)
}

/// Redirects (303, so the browser follows with GET) and leaves a one-time message whose text is
/// the translation of `flash_key`.
pub fn redirect_with_flash(ctx: &Ctx, to: &str, flash_key: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(ctx, FLASH_COOKIE, flash_key.to_string(), Some(60)),
    );
    r
}

/// Only same-site paths are followed after login or a language switch (no open redirects).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                // Browsers drop tabs and newlines from URLs ("/<TAB>/evil" becomes "//evil"),
                // and other control characters cannot go into a Location header at all.
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// The entry points of the front page; modules fill in their link when they exist.
#[derive(serde::Serialize)]
struct Module {
    key: &'static str,
    href: Option<&'static str>,
}

const MODULES: &[Module] = &[
    Module {
        key: "module-services",
        href: Some("/leistungen"),
    },
    Module {
        key: "module-reports",
        href: None,
    },
    Module {
        key: "module-participation",
        href: None,
    },
    Module {
        key: "module-opendata",
        href: None,
    },
    Module {
        key: "module-sensors",
        href: None,
    },
    Module {
        key: "module-cityops",
        href: Some("/baustellen"),
    },
    Module {
        key: "module-cockpit",
        href: None,
    },
];

async fn home(State(state): State<AppState>, ctx: Ctx) -> WebResult<Html<String>> {
    let districts = platform::city::districts(&state.env).await?;
    let districts: Vec<_> = districts
        .iter()
        .map(|d| context! { number => d.number, name => d.name })
        .collect();
    state.page(
        &ctx,
        "home.html",
        context! { modules => MODULES, districts => districts },
    )
}

async fn staff(State(state): State<AppState>, ctx: Ctx) -> WebResult<Response> {
    let Some(user) = ctx.principal.user() else {
        return Ok(Redirect::to(&format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect::<String>()
        ))
        .into_response());
    };
    if !user.roles.iter().any(|r| r.is_staff_side()) {
        return Err(WebError(kern::Error::forbidden(
            "Dieser Bereich ist für Mitarbeitende der Stadt.",
        )));
    }
    let mut units = Vec::new();
    for id in &user.org_units {
        if let Some(o) = platform::city::org_unit(&state.env, *id).await? {
            units.push(o);
        }
    }
    let roles: Vec<Role> = user.roles.clone();
    Ok(state
        .page(
            &ctx,
            "staff.html",
            context! { org_units => units, role_labels => state.role_labels(ctx.lang, &roles) },
        )?
        .into_response())
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn switch_language(
    ctx: Ctx,
    Path(code): Path<String>,
    Query(q): Query<NextQuery>,
) -> WebResult<Response> {
    let lang = kern::i18n::Lang::from_code(&code).ok_or_else(|| {
        WebError(kern::Error::not_found(format!(
            "Unbekannte Sprache '{code}'."
        )))
    })?;
    let mut r = Redirect::to(&safe_next(q.next.as_deref())).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie(
            &ctx,
            crate::ctx::LANG_COOKIE,
            lang.code().to_string(),
            Some(365 * 24 * 3600),
        ),
    );
    Ok(r)
}

const CSS: &str = include_str!("../../static/stadtkern.css");

async fn stylesheet() -> impl IntoResponse {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}
